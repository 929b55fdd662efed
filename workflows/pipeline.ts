/**
 * The `pipeline` workflow: runs a DAG of subtomo steps declared in a pipeline file (model/pipeline.ts,
 * docs/pipelines.md). Every node starts as soon as the nodes it waits for are done, so independent branches
 * run in parallel; each step is a cached artifact-store step, so a resumed or re-run pipeline recomputes only
 * what changed. Campaign nodes and sweep members run as child workflows (visible in the Web UI); a child that
 * completed in an earlier run under the same id is adopted, not run again. When a node fails, the nodes that
 * need it are skipped, independent branches finish, and the pipeline fails naming the node.
 *
 * Deterministic: no I/O, clock or randomness; only artifact refs and numbers cross the workflow boundary.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ReportNode } from '../activities/pipelineReport.ts';
import type { SweepRow } from '../activities/sweepTable.ts';
import { STEP_RETRY, type CampaignConfig } from '../model/campaign.ts';
import { PipelineError, planPipeline, type NodeKind, type PipelinePlan, type PipelineSpec, type PlannedNode, type SweepMember } from '../model/pipeline.ts';
import type { NodeState } from '../model/pipelineDag.ts';
import type { CampaignParams } from '../model/pipelineNodes.ts';
import type { DataSource, RunState, SubtomoIndex } from '../model/searchAttributes.ts';
import { campaign, type CampaignResult } from './campaign.ts';
import { campaignDataSource, campaignStartIndex } from './campaignIndex.ts';
import { isStepType, runActivity, runStep, type StepContext, type StepCounts } from './pipelineSteps.ts';
import { filesOf, headline, type ActivityNodeInput, type ActivityNodeResult, type CampaignValue, type MapValue, type NodeOutputs } from './pipelineValues.ts';
import { DEFAULT_QUEUES, type Queues } from './queues.ts';
import { isIndexed, searchAttributePairs, updateIndex } from './searchAttributes.ts';

export interface PipelineInput {
  /** The pipeline file as loaded by app/pipelineClient.ts: validated, paths absolute. */
  spec: PipelineSpec;
  /** Task queues of cpu and mpi activities (default 'cpu' and 'mpi'); children use the same. */
  queues?: Partial<Queues>;
  /** Activity heartbeat timeout: how soon a dead worker is noticed and its activity retried (default 2 minutes). */
  heartbeatTimeout?: string;
  /** Run id of the failed or cancelled run this one resumes (for `subtomo pipeline history`). */
  resumedFrom?: string;
}

export interface NodeStatus {
  name: string;
  type: NodeKind;
  state: NodeState;
  /** The nodes it waits for. */
  deps: string[];
  /** The step running now, and its activity id (whose heartbeat carries its progress). */
  step?: string;
  activityId?: string;
  /** Steps whose results came from the artifact store / were computed. */
  steps: StepCounts;
  /** What it produced (not kept for sweep members: their child workflow has it). */
  outputs?: NodeOutputs;
  /** Headline numbers of its main output (a sweep's table rows are made of them). */
  headline?: Record<string, string | number>;
  /** The child workflow it ran as (campaigns, sweep members), and whether a completed one was adopted. */
  workflowId?: string;
  adopted?: boolean;
  error?: string;
  member?: SweepMember;
}

export interface PipelineStatus {
  name: string;
  workdir: string;
  state: 'running' | 'completed' | 'failed' | 'cancelled';
  nodes: NodeStatus[];
  steps: StepCounts;
  /** The published report (index.html), once written. */
  report?: string;
}

export type PipelineResult = PipelineStatus;

export const pipelineStatusQuery = defineQuery<PipelineStatus>('pipelineStatus');

export interface PipelineNodeInput {
  workdir: string;
  baseDir?: string;
  node: PlannedNode;
  inputs: NodeOutputs;
  queues?: Partial<Queues>;
  heartbeatTimeout?: string;
}

export interface PipelineNodeResult {
  outputs: NodeOutputs;
  steps: StepCounts;
}

export const pipelineNodeStatusQuery = defineQuery<{ step?: string; steps: StepCounts }>('pipelineNodeStatus');

const invalid = (message: string) => ApplicationFailure.nonRetryable(message, 'InvalidInput');

/** Why a node failed: the first application failure in the chain (the step's own message, not "Activity task failed"). */
function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && !(e instanceof ApplicationFailure) && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message || e.name : String(e);
}

/** Runs a user's activity (`type: activity`) and checks it returned every declared output with its type. */
async function runUserActivity(node: PlannedNode, ctx: StepContext, inputs: NodeOutputs, baseDir: string | undefined): Promise<NodeOutputs> {
  const { name, queue } = node.activity!;
  ctx.onStep?.('run');
  const proxy = proxyActivities<Record<string, (input: ActivityNodeInput) => Promise<ActivityNodeResult>>>({
    activityId: `${node.name}.run`,
    taskQueue: ctx.queues[queue],
    startToCloseTimeout: '7 days',
    heartbeatTimeout: ctx.heartbeatTimeout,
    retry: STEP_RETRY,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
  const result = await proxy[name]({ workdir: ctx.workdir, ...(baseDir && { baseDir }), node: node.name, params: node.params as Record<string, unknown>, inputs });
  for (const [output, type] of Object.entries(node.outputs)) {
    const value = result?.outputs?.[output];
    if (value?.type !== type) {
      throw invalid(`activity ${name} returned ${value ? `a ${value.type} value` : 'nothing'} for output '${output}', which the pipeline declares as ${type}`);
    }
  }
  if (result.reused) ctx.counts.reused++;
  else ctx.counts.computed++;
  return result.outputs;
}

/** A step or activity node's work (inline in the pipeline, or in a sweep member's `pipelineNode` workflow). */
function runNodeWork(node: PlannedNode, ctx: StepContext, inputs: NodeOutputs, baseDir: string | undefined): Promise<NodeOutputs> {
  if (node.type === 'activity') return runUserActivity(node, ctx, inputs, baseDir);
  if (isStepType(node.type)) return runStep(node.type, ctx, node.params, inputs);
  throw new Error(`runNodeWork: a ${node.type} node is not a step`);
}

/** A sweep member of a step or activity type, as its own child workflow. */
export async function pipelineNode(input: PipelineNodeInput): Promise<PipelineNodeResult> {
  const state: { step?: string; steps: StepCounts } = { steps: { reused: 0, computed: 0 } };
  setHandler(pipelineNodeStatusQuery, () => state);
  const ctx: StepContext = {
    workdir: input.workdir,
    node: input.node.name,
    queues: { ...DEFAULT_QUEUES, ...input.queues },
    heartbeatTimeout: input.heartbeatTimeout ?? '2 minutes',
    counts: state.steps,
    onStep: (step) => {
      state.step = step;
    },
  };
  const outputs = await runNodeWork(input.node, ctx, input.inputs, input.baseDir);
  return { outputs, steps: state.steps };
}

/** Final class sizes and the last iteration's adjusted Rand index of a classifying campaign. */
function classificationHeadline(c: NonNullable<CampaignResult['classification']>): NonNullable<CampaignValue['classification']> {
  const last = c.iterations[c.iterations.length - 1];
  return { sizes: c.classes.map((k) => k.size), ...(last?.ari !== undefined && { ari: last.ari }) };
}

/** The outputs of a campaign node from its result (`boxSize`: of its particles). */
function campaignOutputs(result: CampaignResult, workflowId: string, boxSize: number): NodeOutputs {
  const last = result.iterations[result.iterations.length - 1];
  const averages = result.artifacts.averages!;
  const value: CampaignValue = {
    type: 'campaign', workflowId, name: result.name, stoppedBecause: result.stoppedBecause,
    iterations: result.iterations.filter((i) => i.iteration > 0).length, bestResolution: result.bestResolution,
    finalResolution: result.finalResolution, steps: result.steps, ...(result.artifacts.reportPath && { reportPath: result.artifacts.reportPath }),
    ...(result.classification && { classification: classificationHeadline(result.classification) }),
  };
  return {
    campaign: value,
    halfMaps: { type: 'halfMaps', odd: averages.odd, even: averages.even, combined: averages.combined, boxSize },
    map: { type: 'map', map: averages.combined },
    fsc: { type: 'fsc', curve: last.fsc, resolution0143: last.resolution0143, resolution05: last.resolution05 },
  };
}

/** Resolutions (Å) a node's outputs report: FSC, post-processing, a campaign's best. */
function resolutionsOf(outputs: NodeOutputs): number[] {
  return Object.values(outputs).flatMap((v) => {
    if (v.type === 'fsc') return [v.resolution0143];
    if (v.type === 'postprocess') return [v.resolution];
    if (v.type === 'campaign') return [v.bestResolution];
    return [];
  });
}

/** The index of a pipeline: one method / data source when all its nodes agree, the best of `resolutions` (Å). */
export function pipelineIndex(plan: PipelinePlan, resolutions: readonly number[], state: RunState): SubtomoIndex {
  const methods = new Set<string>();
  const sources = new Set<DataSource>();
  for (const n of plan.nodes) {
    if (n.type === 'align') methods.add((n.params as { alignment: { method: string } }).alignment.method);
    if (n.type === 'campaign') {
      const { config } = n.params as CampaignParams;
      methods.add(config.alignment.method);
      sources.add(campaignDataSource(config));
    }
    if (n.type === 'simulate') sources.add('simulated');
    if (n.type === 'load') sources.add('list');
    if (n.type === 'extract') sources.add('tomograms');
  }
  return {
    name: plan.name,
    ...(methods.size === 1 && { method: [...methods][0] }),
    ...(sources.size > 0 && { dataSource: sources.size === 1 ? [...sources][0] : 'mixed' }),
    ...(resolutions.length > 0 && { bestResolution: Math.min(...resolutions) }),
    state,
  };
}

/** One line of what a node did, for the DAG drawings. */
function detailOf(n: NodeStatus): string | undefined {
  if (n.state === 'failed') return n.error;
  if (n.state === 'running') return n.step;
  const h = Object.entries(n.headline ?? {}).slice(0, 3).map(([k, v]) => `${k} ${typeof v === 'number' ? Number(v.toFixed(3)) : v}`);
  return h.length > 0 ? h.join(', ') : undefined;
}

export async function pipeline(input: PipelineInput): Promise<PipelineResult> {
  let plan: PipelinePlan;
  try {
    plan = planPipeline(input.spec);
  } catch (err) {
    if (err instanceof PipelineError) throw invalid(err.message);
    throw err;
  }
  const info = workflowInfo();
  const queues: Queues = { ...DEFAULT_QUEUES, ...input.queues };
  const heartbeatTimeout = input.heartbeatTimeout ?? '2 minutes';
  const status: PipelineStatus = {
    name: plan.name,
    workdir: plan.workdir,
    state: 'running',
    nodes: plan.nodes.map((n) => ({
      name: n.name, type: n.type, state: 'waiting', deps: n.deps, steps: { reused: 0, computed: 0 }, ...(n.member && { member: n.member }),
    })),
    steps: { reused: 0, computed: 0 },
  };
  setHandler(pipelineStatusQuery, () => status);
  const statusOf = new Map(status.nodes.map((n) => [n.name, n]));
  const planned = new Map(plan.nodes.map((n) => [n.name, n]));
  const resolutions: number[] = [];
  const index = (state: RunState) => updateIndex(pipelineIndex(plan, resolutions, state), {
    kind: 'pipeline', name: plan.name, state,
    nodes: Object.fromEntries((['done', 'reused', 'running', 'failed'] as const).map((s) => [s, status.nodes.filter((n) => n.state === s).length])),
    ...(status.report && { report: status.report }),
  });
  index('running');

  /** A child workflow's id: the pipeline's, then the node's name. */
  const childId = (node: PlannedNode) => `${info.workflowId}/${node.name}`;
  const adopt = async <T>(st: NodeStatus, workflowId: string): Promise<T> => {
    st.step = 'adopt';
    st.adopted = true;
    // While the child still runs the activity fails (StillRunning) and is retried later, holding no worker slot.
    const proxy = proxyActivities<{ workflowResult(input: { workflowId: string }): Promise<unknown> }>({
      activityId: `${st.name}.adopt`, taskQueue: queues.cpu, startToCloseTimeout: '1 minute',
      retry: { initialInterval: '5 seconds', backoffCoefficient: 1.5, maximumInterval: '1 minute', nonRetryableErrorTypes: ['InvalidInput'] },
    });
    return (await proxy.workflowResult({ workflowId })) as T;
  };

  async function runCampaignNode(node: PlannedNode, st: NodeStatus, inputs: NodeOutputs): Promise<NodeOutputs> {
    const params = node.params as CampaignParams;
    const reference = inputs.reference as MapValue | undefined;
    const config: CampaignConfig = { ...params.config, name: node.campaignName!, workdir: plan.workdir, ...(reference && { reference: reference.map.path }) };
    const workflowId = childId(node);
    st.workflowId = workflowId;
    st.step = 'campaign';
    let result: CampaignResult;
    try {
      result = await executeChild(campaign, {
        workflowId,
        taskQueue: queues.cpu,
        args: [{ config, queues, heartbeatTimeout }],
        // A completed campaign under this id (an earlier run of this pipeline) is adopted below instead.
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        ...(isIndexed() && { typedSearchAttributes: searchAttributePairs(campaignStartIndex(config)) }),
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      result = await adopt<CampaignResult>(st, workflowId);
    }
    // An adopted campaign computed nothing now: all its steps count as reused.
    st.steps.reused += result.steps.reused + (st.adopted ? result.steps.computed : 0);
    st.steps.computed += st.adopted ? 0 : result.steps.computed;
    const { data } = config;
    let boxSize = data.kind === 'simulate' ? data.size : data.extract?.box;
    if (boxSize === undefined) {
      const sampling = await runActivity({ workdir: plan.workdir, node: node.name, queues, heartbeatTimeout, counts: { reused: 0, computed: 0 } }, 'volumeSampling', 'box', {
        ref: result.artifacts.averages!.combined,
      });
      boxSize = sampling.boxSize;
    }
    return campaignOutputs(result, workflowId, boxSize);
  }

  /** A sweep member of a step or activity type as its `pipelineNode` child. */
  async function runMemberNode(node: PlannedNode, st: NodeStatus, inputs: NodeOutputs): Promise<NodeOutputs> {
    const workflowId = childId(node);
    st.workflowId = workflowId;
    st.step = 'child';
    let result: PipelineNodeResult;
    try {
      result = await executeChild(pipelineNode, {
        workflowId,
        taskQueue: queues.cpu,
        args: [{ workdir: plan.workdir, ...(plan.baseDir && { baseDir: plan.baseDir }), node, inputs, queues, heartbeatTimeout }],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      result = await adopt<PipelineNodeResult>(st, workflowId);
    }
    st.steps.reused += result.steps.reused + (st.adopted ? result.steps.computed : 0);
    st.steps.computed += st.adopted ? 0 : result.steps.computed;
    return result.outputs;
  }

  /** The fan-in of a sweep: a comparison table of its members' headline results. */
  async function runSweepTable(node: PlannedNode, ctx: StepContext): Promise<NodeOutputs> {
    const rows: SweepRow[] = node.sweep!.members.map((m) => {
      const st = statusOf.get(m)!;
      return { member: m, values: st.member!.values, results: st.headline ?? {}, workflowId: st.workflowId! };
    });
    const t = await runActivity(ctx, 'sweepTable', 'table', { workdir: plan.workdir, sweep: node.name, axes: node.sweep!.axes, rows });
    return { table: { type: 'table', json: t.json, markdown: t.markdown, csv: t.csv, rows: t.rows } };
  }

  // How many members of each sweep run now (its `parallel` bounds it).
  const runningMembers = new Map<string, number>();
  const outputs = new Map<string, Promise<NodeOutputs>>();

  async function runNode(node: PlannedNode): Promise<NodeOutputs> {
    const st = statusOf.get(node.name)!;
    try {
      await Promise.all(node.deps.map((d) => outputs.get(d)!));
    } catch (err) {
      st.state = isCancellation(err) ? 'cancelled' : 'skipped';
      throw err;
    }
    const inputs: NodeOutputs = {};
    for (const [port, ref] of Object.entries(node.inputs)) inputs[port] = (await outputs.get(ref.node)!)[ref.output];
    const sweep = node.member && planned.get(node.member.sweep)!.sweep!;
    if (node.member && sweep) {
      const name = node.member.sweep;
      // Checked again once woken, with the count taken in the same step: members woken together must not all pass.
      while ((runningMembers.get(name) ?? 0) >= sweep.parallel) await condition(() => (runningMembers.get(name) ?? 0) < sweep.parallel);
      runningMembers.set(name, (runningMembers.get(name) ?? 0) + 1);
    }
    st.state = 'running';
    const ctx: StepContext = {
      workdir: plan.workdir, node: node.name, queues, heartbeatTimeout, counts: st.steps,
      onStep: (step) => {
        st.step = step;
        st.activityId = `${node.name}.${step}`;
      },
    };
    try {
      let produced: NodeOutputs;
      if (node.type === 'campaign') produced = await runCampaignNode(node, st, inputs);
      else if (node.member) produced = await runMemberNode(node, st, inputs);
      else if (node.type === 'sweep') produced = await runSweepTable(node, ctx);
      else produced = await runNodeWork(node, ctx, inputs, plan.baseDir);
      const first = Object.keys(node.outputs)[0];
      st.headline = first && produced[first] ? headline(produced[first]) : {};
      if (!node.member) st.outputs = produced;
      resolutions.push(...resolutionsOf(produced));
      st.state = st.steps.computed > 0 ? 'done' : 'reused';
      status.steps.reused += st.steps.reused;
      status.steps.computed += st.steps.computed;
      index('running');
      return produced;
    } catch (err) {
      st.state = isCancellation(err) ? 'cancelled' : 'failed';
      st.error = failureMessage(err);
      throw err;
    } finally {
      delete st.step;
      delete st.activityId;
      if (node.member) runningMembers.set(node.member.sweep, runningMembers.get(node.member.sweep)! - 1);
    }
  }

  for (const node of plan.nodes) outputs.set(node.name, runNode(node));
  const settled = await Promise.allSettled(outputs.values());
  const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  const cancelled = errors.find((e) => isCancellation(e));
  const failed = status.nodes.filter((n) => n.state === 'failed');
  status.state = cancelled ? 'cancelled' : failed.length > 0 ? 'failed' : 'completed';

  // The report and the final index are written however the pipeline ended, cancellation included.
  await CancellationScope.nonCancellable(async () => {
    const reportNodes: ReportNode[] = status.nodes.map((n) => {
      const files = Object.fromEntries(Object.values(n.outputs ?? {}).flatMap((v) => Object.entries(filesOf(v))).map(([k, ref]) => [k, ref.path]));
      const campaignValue = n.outputs?.campaign;
      const table = n.outputs?.table;
      return {
        name: n.name, type: n.type, state: n.state, deps: n.deps, files,
        ...(detailOf(n) && { detail: detailOf(n) }),
        ...(n.member && { sweep: n.member.sweep }),
        ...(n.workflowId && { workflowId: n.workflowId }),
        ...(campaignValue?.type === 'campaign' && campaignValue.reportPath && { campaignReport: campaignValue.reportPath }),
        ...(table?.type === 'table' && { table: table.json }),
      };
    });
    const ctx: StepContext = { workdir: plan.workdir, node: '_pipeline', queues, heartbeatTimeout, counts: { reused: 0, computed: 0 } };
    try {
      const report = await runActivity(ctx, 'pipelineReport', 'report', { workdir: plan.workdir, name: plan.name, workflowId: info.workflowId, state: status.state, nodes: reportNodes });
      status.report = report.published;
    } catch (err) {
      // A report that cannot be written must not hide why the pipeline ended.
      if (status.state === 'completed') throw err;
    }
    index(status.state);
  });

  if (cancelled) throw cancelled;
  if (failed.length > 0) {
    const skipped = status.nodes.filter((n) => n.state === 'skipped').map((n) => n.name);
    throw ApplicationFailure.create({
      type: 'PipelineFailed',
      nonRetryable: true,
      message: failed.map((n) => `node '${n.name}' failed: ${n.error}`).join('; ') + (skipped.length > 0 ? ` (skipped: ${skipped.join(', ')})` : ''),
    });
  }
  return status;
}
