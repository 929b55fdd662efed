/**
 * Client side of pipelines, shared by `subtomo pipeline`, bench/paper.ts and the tests: reading a pipeline
 * file (every problem named before anything starts), starting and resuming the `pipeline` workflow, and
 * reading a pipeline's runs back from the Temporal history.
 */
import { randomUUID } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { parse as parseYaml } from 'yaml';
import { simulationConfigOf } from '../activities/data.ts';
import type { SimulatedData } from '../model/campaign.ts';
import { PipelineError, parsePipelineSpec, pathFieldsOf, planPipeline, type NodeSpec, type PipelinePlan, type PipelineSpec } from '../model/pipeline.ts';
import type { CampaignParams, Raw } from '../model/pipelineNodes.ts';
import { pipelineIndex, type PipelineInput, type pipeline } from '../workflows/pipeline.ts';
import { DEFAULT_QUEUES, type Queues } from '../workflows/queues.ts';
import { type WorkflowRun, alreadyStarted, fetchWorkflowRun, workflowRuns } from './campaignClient.ts';
import { startAttributes } from './searchAttributes.ts';

export const PIPELINE_WORKFLOW = 'pipeline';

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `value` (a path or a list of them) resolved against `base`. */
function resolvePathValue(value: unknown, base: string): unknown {
  const at = (p: unknown) => (typeof p === 'string' && p !== '' && !isAbsolute(p) ? resolve(base, p) : p);
  return Array.isArray(value) ? value.map(at) : at(value);
}

/** `params` with the value at dotted `path` resolved against `base` (in place). */
function resolveAt(params: Raw, path: string, base: string): void {
  const keys = path.split('.');
  let at: unknown = params;
  for (const k of keys.slice(0, -1)) at = isObject(at) ? at[k] : undefined;
  const last = keys[keys.length - 1];
  if (isObject(at) && at[last] !== undefined) at[last] = resolvePathValue(at[last], base);
}

/** A node's params and matrix values that are file paths, resolved against the pipeline file's directory. */
function resolveNodePaths(node: NodeSpec, base: string): NodeSpec {
  const fields = pathFieldsOf(node);
  if (fields.length === 0) return node;
  const params = JSON.parse(JSON.stringify(node.params ?? {})) as Raw;
  for (const f of fields) resolveAt(params, f, base);
  const matrix = node.matrix && Object.fromEntries(Object.entries(node.matrix).map(([axis, values]) => [axis, values.map((v) => {
    if (fields.includes(axis)) return resolvePathValue(v, base);
    if (!isObject(v)) return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fields.includes(k) ? resolvePathValue(x, base) : x]));
  })]));
  return { ...node, params, ...(matrix && { matrix }) };
}

/** Every file a planned node reads (its path params, as the plan holds them). */
function inputFiles(plan: PipelinePlan): { node: string; field: string; path: string }[] {
  const files: { node: string; field: string; path: string }[] = [];
  for (const n of plan.nodes) {
    const p = n.params as Record<string, unknown>;
    const add = (field: string, v: unknown) => {
      for (const path of Array.isArray(v) ? v : [v]) if (typeof path === 'string') files.push({ node: n.name, field, path });
    };
    if (n.type === 'simulate') add('params.pdb', (p.data as SimulatedData).pdb);
    if (n.type === 'load' || n.type === 'extract') {
      const data = p.data as { star: string; tomograms?: string[] };
      add('params.star', data.star);
      add('params.tomograms', data.tomograms);
    }
    if (n.type === 'align' || n.type === 'average') add('params.hostfile', (p.mpi as { hostfile?: string }).hostfile);
    if (n.type === 'postprocess') add('params.mask', p.mask);
    if (n.type === 'map') add('params.path', p.path);
    if (n.type === 'campaign') {
      const { config } = p as unknown as CampaignParams;
      add('params.data.star', config.data.kind === 'star' ? config.data.star : undefined);
      add('params.data.tomograms', config.data.kind === 'star' ? config.data.tomograms : undefined);
      add('params.data.pdb', config.data.kind === 'simulate' ? config.data.pdb : undefined);
      add('params.alignment.hostfile', config.alignment.hostfile);
      add('params.reference', config.reference);
    }
  }
  return files;
}

/**
 * Reads a pipeline file (YAML or JSON), resolves its paths (workdir and every file a node reads) against the
 * file's directory, and validates it all: the DAG, every node's params, that input files exist and that
 * simulations are possible. Every problem names the file, the node and the field.
 */
export async function loadPipelineSpec(path: string): Promise<PipelineSpec> {
  const file = resolve(path);
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`pipeline ${file}: ${(err as Error).message}`);
  }
  try {
    return await resolvePipeline(raw, dirname(file));
  } catch (err) {
    throw new Error(`pipeline ${file}: ${(err as Error).message}`);
  }
}

/** A parsed pipeline (a file's content) with its paths resolved against `base`, validated as loadPipelineSpec does. */
export async function resolvePipeline(raw: unknown, base: string): Promise<PipelineSpec> {
  const parsed = parsePipelineSpec(raw);
  const spec: PipelineSpec = {
    ...parsed,
    workdir: resolve(base, parsed.workdir),
    baseDir: resolve(base, parsed.baseDir ?? '.'),
    nodes: Object.fromEntries(Object.entries(parsed.nodes).map(([name, node]) => [name, resolveNodePaths(node, base)])),
  };
  const plan = planPipeline(spec);
  for (const n of plan.nodes) {
    const data = n.type === 'simulate' ? (n.params as { data: SimulatedData }).data
      : n.type === 'campaign' ? (n.params as CampaignParams).config.data : undefined;
    if (data?.kind !== 'simulate') continue;
    try {
      simulationConfigOf(data);
    } catch (err) {
      throw new PipelineError(n.name, 'params', (err as Error).message);
    }
  }
  for (const f of inputFiles(plan)) {
    await access(f.path).catch(() => {
      throw new PipelineError(f.node, f.field, `${f.path} does not exist`);
    });
  }
  return spec;
}

export interface StartPipelineOptions {
  workflowId?: string;
  /** Start even if a pipeline with this workflow id completed before (its steps come from the store, its children are adopted). */
  rerun?: boolean;
  queues?: Partial<Queues>;
  heartbeatTimeout?: string;
}

export function newPipelineId(spec: Pick<PipelineSpec, 'name'>): string {
  return `pipeline-${spec.name}-${randomUUID().slice(0, 8)}`;
}

/**
 * Starts a pipeline workflow on the cpu queue. A workflow id that a completed (or running) pipeline already has
 * is refused, unless `rerun` asks to run a completed one again; failed or cancelled ones are continued with
 * `resumePipeline`.
 */
export async function startPipeline(client: Client, spec: PipelineSpec, opts: StartPipelineOptions = {}): Promise<WorkflowHandleWithFirstExecutionRunId<typeof pipeline>> {
  const queues = { ...DEFAULT_QUEUES, ...opts.queues };
  const input: PipelineInput = { spec, queues, ...(opts.heartbeatTimeout && { heartbeatTimeout: opts.heartbeatTimeout }) };
  const workflowId = opts.workflowId ?? newPipelineId(spec);
  const typedSearchAttributes = await startAttributes(client, pipelineIndex(planPipeline(spec), [], 'running'));
  try {
    return await client.workflow.start<typeof pipeline>(PIPELINE_WORKFLOW, {
      taskQueue: queues.cpu,
      workflowId,
      workflowIdReusePolicy: opts.rerun ? 'ALLOW_DUPLICATE' : 'ALLOW_DUPLICATE_FAILED_ONLY',
      args: [input],
      ...(typedSearchAttributes && { typedSearchAttributes }),
    });
  } catch (err) {
    throw await alreadyStarted(client, err, 'pipeline', workflowId);
  }
}

export type PipelineRun = WorkflowRun<PipelineInput>;

const isPipelineInput = (input: PipelineInput | undefined) => Boolean(input?.spec);

/** Every run of a pipeline, oldest first: the latest and, through `resumedFrom`, the runs it resumed. */
export function pipelineRuns(client: Client, workflowId: string): Promise<PipelineRun[]> {
  return workflowRuns(client, workflowId, 'pipeline', isPipelineInput, (run) => run.input.resumedFrom);
}

const RESUMABLE = new Set(['FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']);

/**
 * Starts a failed, cancelled, terminated or timed-out pipeline again under the same workflow id from its
 * original input: steps in the artifact store are reused and completed children adopted, not recomputed.
 */
export async function resumePipeline(client: Client, workflowId: string): Promise<{ handle: WorkflowHandleWithFirstExecutionRunId<typeof pipeline>; resumedFrom: string }> {
  const latest = await client.workflow.getHandle(workflowId).describe();
  if (!RESUMABLE.has(latest.status.name)) {
    throw new Error(`pipeline ${workflowId} is ${latest.status.name}; only a failed, cancelled, terminated or timed-out pipeline can be resumed`);
  }
  const { input } = await fetchWorkflowRun(client, workflowId, latest.runId, 'pipeline', isPipelineInput);
  const typedSearchAttributes = await startAttributes(client, pipelineIndex(planPipeline(input.spec), [], 'running'));
  const handle = await client.workflow.start<typeof pipeline>(PIPELINE_WORKFLOW, {
    taskQueue: latest.taskQueue,
    workflowId,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    args: [{ ...input, resumedFrom: latest.runId }],
    ...(typedSearchAttributes && { typedSearchAttributes }),
  });
  return { handle, resumedFrom: latest.runId };
}
