/**
 * What each step node type runs: subtomo's activities, composed in workflow code, each on its queue (the MPI
 * steps on `mpi` workers: workflows/queues.ts) and each a cached artifact-store step (a node whose steps all
 * come from the store is `reused`). Used by the pipeline workflow for its nodes and sweep members, and by any
 * workflow through `subtomoStep` (a user's own workflow calling subtomo steps; docs/pipelines.md).
 *
 * Deterministic: no I/O here; values are artifact refs and numbers (workflows/pipelineValues.ts).
 */
import { ActivityCancellationType, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { DataResult } from '../activities/data.ts';
import type * as activities from '../activities/index.ts';
import { STEP_RETRY, campaignMask } from '../model/campaign.ts';
import { pathsAt } from '../model/pipeline.ts';
import { NODE_TYPES, NodeFieldError, type BuiltinNodeType, type DataType, type ParamsOf, type Raw } from '../model/pipelineNodes.ts';
import { type ClassificationState, runClassification } from './classification.ts';
import type { AlignmentValue, ClassesValue, HalfMapsValue, MapValue, NodeOutputs, NodeValue, ParticlesValue, ValueOf } from './pipelineValues.ts';
import { DEFAULT_QUEUES, roleOf, type Queues } from './queues.ts';

type Activities = typeof activities;
type ActivityName = keyof Activities;

/** The node types that run as subtomo activities (a campaign runs as a child workflow). */
export type StepType = Exclude<BuiltinNodeType, 'campaign'>;

/** The output values of a step type, typed by its declared outputs. */
export type StepOutputs<T extends StepType> = { [K in keyof (typeof NODE_TYPES)[T]['outputs']]: ValueOf<(typeof NODE_TYPES)[T]['outputs'][K] & DataType> };

export interface StepCounts {
  reused: number;
  computed: number;
}

export interface StepContext {
  workdir: string;
  /** Activity ids are `<node>.<step>` (what `subtomo pipeline history` reads); absent: the SDK's. */
  node?: string;
  queues: Queues;
  /** How soon a dead worker is noticed and its activity retried. */
  heartbeatTimeout: string;
  /** Activities of the node whose results came from the artifact store / were computed. */
  counts: StepCounts;
  /** Told the step about to run (the pipeline's status shows it). */
  onStep?(step: string): void;
}

/** Runs the subtomo activity `name` as step `step` of a node, on its queue, counting whether it was reused. */
export async function runActivity<K extends ActivityName>(
  ctx: StepContext,
  name: K,
  step: string,
  arg: Parameters<Activities[K]>[0],
): Promise<Awaited<ReturnType<Activities[K]>>> {
  ctx.onStep?.(step);
  const proxy = proxyActivities<Activities>({
    ...(ctx.node !== undefined && { activityId: `${ctx.node}.${step}` }),
    taskQueue: ctx.queues[roleOf(name)],
    // MPI steps may wait in a cluster queue (executor: slurm) before they run: days, not hours.
    startToCloseTimeout: roleOf(name) === 'mpi' ? '7 days' : '12 hours',
    heartbeatTimeout: ctx.heartbeatTimeout,
    retry: STEP_RETRY,
    // A cancelled pipeline closes only once its running activity has stopped (and killed its MPI ranks).
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
  const fn = proxy[name] as (a: typeof arg) => Promise<Awaited<ReturnType<Activities[K]>>>;
  const result = await fn(arg);
  if ((result as { reused?: boolean }).reused) ctx.counts.reused++;
  else ctx.counts.computed++;
  return result;
}

type StepRunner<T extends StepType> = (ctx: StepContext, params: ParamsOf<T>, inputs: NodeOutputs) => Promise<StepOutputs<T>>;

const input = <T extends DataType>(inputs: NodeOutputs, port: string, type: T): ValueOf<T> => {
  const v = inputs[port];
  if (v?.type !== type) throw ApplicationFailure.nonRetryable(`input '${port}' must be a ${type} value, got ${v ? v.type : 'nothing'}`, 'InvalidInput');
  return v as ValueOf<T>;
};

/** Loads (or simulates, or extracts) the particles and fixes their gold-standard half-sets. */
async function particlesStep(ctx: StepContext, data: ParamsOf<'simulate'>['data'] | ParamsOf<'load'>['data'], step: string): Promise<{ loaded: DataResult; particles: ParticlesValue }> {
  const loaded = await runActivity(ctx, 'simulateOrLoad', step, { workdir: ctx.workdir, data });
  const split = await runActivity(ctx, 'splitHalves', 'split', { workdir: ctx.workdir, particles: loaded.particles });
  const { list, count, boxSize, voxelSize } = loaded;
  return { loaded, particles: { type: 'particles', set: split.halves, list, count, boxSize, voxelSize } };
}

const simulate: StepRunner<'simulate'> = async (ctx, params) => {
  const { loaded, particles } = await particlesStep(ctx, params.data, 'simulate');
  return { particles, reference: { type: 'map', map: loaded.truth! } };
};

const load: StepRunner<'load'> = async (ctx, params) => ({ particles: (await particlesStep(ctx, params.data, 'load')).particles });

const extract: StepRunner<'extract'> = async (ctx, params) => ({ particles: (await particlesStep(ctx, params.data, 'extract')).particles });

const map: StepRunner<'map'> = async (ctx, params) => {
  const imported = await runActivity(ctx, 'importMap', 'import', { workdir: ctx.workdir, path: params.path });
  return { map: { type: 'map', map: imported.map } };
};

/**
 * Algorithm 3 against one reference: the reference on the particles' sampling, low-passed and masked (the
 * campaign's `reference` start), FRM candidates, then the refinement on MPI ranks.
 */
const align: StepRunner<'align'> = async (ctx, params, inputs) => {
  const particles = input(inputs, 'particles', 'particles');
  const reference = input(inputs, 'reference', 'map');
  const priors = inputs.priors ? input(inputs, 'priors', 'alignment') : undefined;
  const { alignment: a, symmetry, seed, lowpass } = params;
  const mask = campaignMask({ mask: params.mask }, particles.boxSize);
  const halves = particles.set;
  const start = await runActivity(ctx, 'initialReferences', 'reference', {
    workdir: ctx.workdir, halves, initialLowpass: lowpass, initialPoses: 'identity', seed, mask, reference: reference.map.path, ...(symmetry && { symmetry }),
  });
  const frm = await runActivity(ctx, 'frmCandidates', 'frm', {
    workdir: ctx.workdir, halves, references: start.references, bandwidth: a.bandwidth, candidates: a.candidates, ...(symmetry && { symmetry }),
    ...(priors && a.angularRange !== undefined && { local: { angularRange: (a.angularRange * Math.PI) / 180, priors: priors.alignment } }),
  });
  const refined = await runActivity(ctx, 'refine', 'refine', {
    workdir: ctx.workdir, halves, references: start.references, candidates: frm.candidates, method: a.method, maxShift: a.maxShift, mask,
    ...(a.sag && { sag: a.sag }), seed, referenceResolution: lowpass, mpi: params.mpi,
  });
  const out: AlignmentValue = { type: 'alignment', alignment: refined.alignment, star: refined.star, meanCcc: refined.meanCcc };
  return { alignment: out };
};

const average: StepRunner<'average'> = async (ctx, params, inputs) => {
  const particles = input(inputs, 'particles', 'particles');
  const alignment = input(inputs, 'alignment', 'alignment');
  const { averages } = await runActivity(ctx, 'averageHalves', 'average', {
    workdir: ctx.workdir, halves: particles.set, alignment: alignment.alignment, mpi: params.mpi, ...(params.symmetry && { symmetry: params.symmetry }),
  });
  const halfMaps: HalfMapsValue = { type: 'halfMaps', ...averages, boxSize: particles.boxSize };
  const map: MapValue = { type: 'map', map: averages.combined };
  return { halfMaps, map };
};

const fsc: StepRunner<'fsc'> = async (ctx, params, inputs) => {
  const halfMaps = input(inputs, 'halfMaps', 'halfMaps');
  const r = await runActivity(ctx, 'fsc', 'fsc', {
    workdir: ctx.workdir, odd: halfMaps.odd, even: halfMaps.even, mask: campaignMask({ mask: params.mask }, halfMaps.boxSize),
  });
  return { fsc: { type: 'fsc', curve: r.curve, resolution0143: r.resolution0143, resolution05: r.resolution05 } };
};

const postprocess: StepRunner<'postprocess'> = async (ctx, params, inputs) => {
  const halfMaps = input(inputs, 'halfMaps', 'halfMaps');
  const { reused: _reused, ...r } = await runActivity(ctx, 'postprocessHalves', 'postprocess', { workdir: ctx.workdir, odd: halfMaps.odd, even: halfMaps.even, ...params });
  return { postprocess: { type: 'postprocess', ...r }, map: { type: 'map', map: r.map } };
};

/** The classification iterations of workflows/classification.ts, from the alignment's poses; steps named per iteration. */
const classify: StepRunner<'classify'> = async (ctx, params, inputs) => {
  const particles = input(inputs, 'particles', 'particles');
  const alignment = input(inputs, 'alignment', 'alignment');
  const state: ClassificationState = { history: [] };
  let iteration = 0;
  const named = (step: string) => `${step}-${iteration}`;
  const stoppedBecause = await runClassification({
    config: params.config,
    workdir: ctx.workdir,
    halves: particles.set,
    poses: alignment.alignment,
    mask: campaignMask({ mask: params.mask }, particles.boxSize),
    mpi: params.mpi,
    firstIteration: 1,
    state,
    stopRequested: () => false,
    setIteration: (i) => (iteration = i),
    run: {
      initialClasses: (a) => runActivity(ctx, 'initialClasses', named('initial-classes'), a),
      classCandidates: (a) => runActivity(ctx, 'classCandidates', named('class-frm'), a),
      scoreClasses: (a) => runActivity(ctx, 'refineClasses', named('class-score'), a),
      refineClasses: (a) => runActivity(ctx, 'refineClasses', named('class-refine'), a),
      assignClasses: (a) => runActivity(ctx, 'assignClasses', named('assign'), a),
      averageClassHalves: (a) => runActivity(ctx, 'averageClassHalves', named('class-average'), a),
    },
  });
  const last = state.history[state.history.length - 1];
  const classes: ClassesValue = {
    type: 'classes',
    assignment: state.assignment!,
    classes: (state.classes ?? []).map(({ index, size, resolution, maps }) => ({ index, size, resolution, ...maps })),
    iterations: state.history.length - 1,
    stoppedBecause,
    ...(last?.ari !== undefined && { ari: last.ari }),
  };
  return { classes };
};

/** What each step node type runs; a new type adds its runner here and its ports in model/pipelineNodes.ts. */
export const STEP_RUNNERS: { [T in StepType]: StepRunner<T> } = { simulate, load, extract, map, align, average, fsc, postprocess, classify };

export function isStepType(type: string): type is StepType {
  return type !== 'campaign' && Object.prototype.hasOwnProperty.call(STEP_RUNNERS, type);
}

/** Runs a step type with already validated params. */
export function runStep(type: StepType, ctx: StepContext, params: unknown, inputs: NodeOutputs): Promise<NodeOutputs> {
  return (STEP_RUNNERS[type] as StepRunner<StepType>)(ctx, params as never, inputs) as Promise<NodeOutputs>;
}

export interface SubtomoStepOptions {
  /** The artifact store (absolute path): results are cached there and reused by equal steps. */
  workdir: string;
  /** The params of the node type, as in a pipeline file (docs/pipelines.md); defaults filled in. */
  params?: Raw;
  /** Values of the node type's input ports (outputs of earlier steps). */
  inputs?: NodeOutputs;
  /** Names the activities `<name>.<step>` (unique among the steps running at once); absent: the SDK's ids. */
  name?: string;
  queues?: Partial<Queues>;
  /** Default 2 minutes. */
  heartbeatTimeout?: string;
}

/**
 * Runs one subtomo step from any workflow — the same code and cache keys as a pipeline node of that type —
 * and returns its outputs. Bad params or inputs are a non-retryable InvalidInput failure naming the field.
 */
export async function subtomoStep<T extends StepType>(type: T, opts: SubtomoStepOptions): Promise<StepOutputs<T>> {
  const spec = NODE_TYPES[type];
  const inputs = opts.inputs ?? {};
  const ports = spec.inputs as Readonly<Record<string, { type: DataType; optional?: boolean }>>;
  const problem = (field: string, message: string) => ApplicationFailure.nonRetryable(`${type} step, field '${field}': ${message}`, 'InvalidInput');
  for (const [port, value] of Object.entries(inputs)) {
    const p = ports[port];
    if (!p) throw problem(`inputs.${port}`, `is not an input of ${type} (inputs: ${Object.keys(ports).join(', ') || 'none'})`);
    if ((value as NodeValue | undefined)?.type !== p.type) throw problem(`inputs.${port}`, `must be a ${p.type} value`);
  }
  for (const [port, p] of Object.entries(ports)) if (!p.optional && !inputs[port]) throw problem(`inputs.${port}`, `is required (a ${p.type} value)`);
  // Workers may run anywhere: a relative path would be read in the worker's directory.
  if (!opts.workdir.startsWith('/')) throw problem('workdir', `must be an absolute path, got '${opts.workdir}'`);
  for (const path of spec.paths) {
    for (const p of pathsAt(opts.params ?? {}, path)) if (!p.startsWith('/')) throw problem(`params.${path}`, `must be an absolute path, got '${p}'`);
  }
  let params: unknown;
  try {
    params = spec.params(opts.params ?? {}, new Set(Object.keys(inputs)));
  } catch (err) {
    if (err instanceof NodeFieldError) throw problem(err.field, err.message);
    throw err;
  }
  const ctx: StepContext = {
    workdir: opts.workdir,
    ...(opts.name !== undefined && { node: opts.name }),
    queues: { ...DEFAULT_QUEUES, ...opts.queues },
    heartbeatTimeout: opts.heartbeatTimeout ?? '2 minutes',
    counts: { reused: 0, computed: 0 },
  };
  return runStep(type, ctx, params, inputs) as Promise<StepOutputs<T>>;
}
