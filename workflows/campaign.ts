/**
 * Reference-free subtomogram averaging campaign as a durable workflow.
 *
 * Iteration 0: simulate or load the particles → odd/even split → the first reference of both halves (all
 * particles averaged with random poses, low-passed to initialLowpass) and the FSC of the two half averages
 * of that start, recorded as the starting point of the resolution history.
 * Iterations 1…maxIterations: FRM candidates → MPI SAG refinement → half averages → gold-standard FSC →
 * each half's new reference (its own average low-passed at the 0.143 resolution) → report.
 * Stops after maxIterations, when the resolution has not improved for `patience` iterations, or after the
 * current iteration once the `stop` signal arrived. Continues as new when the server suggests it (or every
 * `continueAsNewEvery` iterations) carrying only small state: artifact refs and numbers.
 *
 * Deterministic: no clock, randomness or I/O here; all work and data live in activities and the artifact
 * store, and only ArtifactRefs and small numbers cross the workflow boundary.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  ContinueAsNew,
  continueAsNew,
  defineQuery,
  defineSignal,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ClassSummary } from '../activities/classify.ts';
import type * as activities from '../activities/index.ts';
import type { FscResult, HalfAverages, HalfRefs, MaskParams } from '../activities/references.ts';
import type { ArtifactRef } from '../io/artifacts.ts';
import {
  ConfigError,
  STEP_RETRY,
  assertAbsolutePaths,
  campaignMask,
  mpiRanksOf,
  validateConfig,
  type CampaignConfig,
  type ClassificationConfig,
} from '../model/campaign.ts';
import { STATE_OF_STOP, indexCampaign } from './campaignIndex.ts';
import { type ClassIterationSummary, type ClassificationEnd, type ClassificationState, runClassification } from './classification.ts';
import { DEFAULT_QUEUES, roleOf, type Queues } from './queues.ts';

export type CampaignStep =
  | 'load'
  | 'split'
  | 'initial-references'
  | 'frm'
  | 'refine'
  | 'average'
  | 'register'
  | 'fsc'
  | 'lowpass'
  | 'report'
  | 'initial-classes'
  | 'class-frm'
  | 'class-score'
  | 'class-refine'
  | 'assign'
  | 'class-average'
  | 'done'
  | 'failed'
  | 'cancelled';

/** Steps of one iteration of a campaign, in order (what `watch` counts and `history` expects). */
export const ITERATION_STEPS: readonly CampaignStep[] = ['frm', 'refine', 'average', 'register', 'fsc', 'lowpass', 'report'];
/** Steps of one classification iteration (workflows/classification.ts), after 'initial-classes' once. */
export const CLASS_ITERATION_STEPS: readonly CampaignStep[] = ['class-frm', 'class-score', 'assign', 'class-refine', 'class-average'];

/** Steps before the first iteration; a user's reference leaves no start to measure, so no FSC. */
export function setupSteps(config: Pick<CampaignConfig, 'reference'>): readonly CampaignStep[] {
  return ['load', 'split', 'initial-references', ...(config.reference ? [] : (['fsc'] as const))];
}
/** Steps before the first iteration of a reference-free campaign. */
export const SETUP_STEPS: readonly CampaignStep[] = setupSteps({});

export interface IterationSummary {
  /** 0 = the reference-free start (half averages with the initial poses). */
  iteration: number;
  resolution0143: number;
  resolution05: number;
  /** Mean CCC of the refined poses (absent for iteration 0). */
  meanCcc?: number;
  /**
   * Rotation (radians, under the symmetry) that registers the even half map onto the odd one, from the maps
   * alone (absent for iteration 0). Above HALVES_DIVERGED the halves settled in different orientations.
   */
  halvesAngle?: number;
  fsc: ArtifactRef;
  combined: ArtifactRef;
  /** Steps of this iteration whose result came from the artifact store / were computed. */
  reusedSteps: number;
  computedSteps: number;
}

export interface StepCounts {
  reused: number;
  computed: number;
}

export interface CampaignArtifacts {
  particles?: ArtifactRef;
  halves?: ArtifactRef;
  /** The poses the campaign started from (PoseEntry[] JSON). */
  startPoses?: ArtifactRef;
  references?: HalfRefs;
  averages?: HalfAverages;
  alignment?: ArtifactRef;
  report?: ArtifactRef;
  /** index.html of the published report (a path, not an artifact: it is replaced every iteration). */
  reportPath?: string;
}

/** What continue-as-new carries to the next run. */
export interface CarriedState {
  run: number;
  /** Last completed iteration. */
  iteration: number;
  history: IterationSummary[];
  /** Best gold-standard resolution of the aligned iterations (≥ 1), Å. */
  bestResolution: number | null;
  sinceImprovement: number;
  /** Low-pass (Å) of the current references. */
  referenceResolution: number | null;
  /** Box size (voxels) of the particles, once loaded. */
  boxSize?: number;
  stopRequested: boolean;
  steps: StepCounts;
  artifacts: CampaignArtifacts;
}

export interface CampaignInput {
  config: CampaignConfig;
  /** Task queues of cpu and mpi activities (default 'cpu' and 'mpi'). */
  queues?: Partial<Queues>;
  /** Activity heartbeat timeout: how soon a dead worker is noticed and its activity retried (default 2 minutes). */
  heartbeatTimeout?: string;
  /** Continue as new after this many iterations in one run even if the server does not suggest it yet. */
  continueAsNewEvery?: number;
  /** Run id of the failed or cancelled run this one resumes (for `subtomo campaign history`). */
  resumedFrom?: string;
  carried?: CarriedState;
}

export interface CampaignStatus {
  name: string;
  /** 0 for the first run, +1 per continue-as-new. */
  run: number;
  /** Iteration in progress (0 = setup); after the end, the last one. */
  iteration: number;
  maxIterations: number;
  /** Steps before the first iteration (`setupSteps`) and of each iteration (ITERATION_STEPS). */
  setupSteps: readonly CampaignStep[];
  iterationSteps: readonly CampaignStep[];
  step: CampaignStep;
  stopRequested: boolean;
  history: IterationSummary[];
  bestResolution: number | null;
  sinceImprovement: number;
  /** Low-pass (Å) of the current references. */
  referenceResolution: number | null;
  /** Box size (voxels) of the particles, once loaded. */
  boxSize?: number;
  steps: StepCounts;
  artifacts: CampaignArtifacts;
  /** Classification iterations after the averaging ones (config `classification`), once they started. */
  classification?: ClassificationState;
  /** How many classification iterations the config asks for (the steps `watch` counts). */
  classificationIterations?: number;
}

type ClassifiedConfig = CampaignConfig & { classification: ClassificationConfig };

export type StopReason = 'max-iterations' | 'converged' | 'stop-signal';

export interface CampaignResult {
  name: string;
  stoppedBecause: StopReason;
  /** Iteration 0 (the start) and every aligned iteration. */
  iterations: IterationSummary[];
  finalResolution: number;
  bestResolution: number;
  steps: StepCounts;
  artifacts: CampaignArtifacts;
  /** The classification after the averaging iterations (config `classification`): why it ended, its history and classes. */
  classification?: {
    stoppedBecause: ClassificationEnd;
    iterations: ClassIterationSummary[];
    classes: ClassSummary[];
    /** The final assignment (activities/classify.ts AssignmentFile JSON: a class per particle of the set). */
    assignment: ArtifactRef;
  };
}

export const statusQuery = defineQuery<CampaignStatus>('status');
/** Finish the current iteration cleanly, then return. */
export const stopSignal = defineSignal('stop');

type Activities = typeof activities;
type ActivityName = keyof Activities;

/** Seed of SAG's slice order for one iteration (u32, different every iteration). */
function iterationSeed(seed: number, iteration: number): number {
  return (seed * 1009 + iteration) >>> 0;
}

export async function campaign(input: CampaignInput): Promise<CampaignResult> {
  let config: CampaignConfig;
  try {
    config = validateConfig(input.config);
    assertAbsolutePaths(config);
  } catch (err) {
    if (err instanceof ConfigError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidInput');
    throw err;
  }
  const queues: Queues = { ...DEFAULT_QUEUES, ...input.queues };
  const heartbeatTimeout = input.heartbeatTimeout ?? '2 minutes';
  const carried = input.carried;
  const status: CampaignStatus = {
    name: config.name,
    run: carried?.run ?? 0,
    iteration: carried?.iteration ?? 0,
    maxIterations: config.maxIterations,
    setupSteps: setupSteps(config),
    iterationSteps: ITERATION_STEPS,
    ...(config.classification && { classificationIterations: config.classification.iterations }),
    step: carried ? 'frm' : 'load',
    stopRequested: carried?.stopRequested ?? false,
    history: carried?.history ?? [],
    bestResolution: carried?.bestResolution ?? null,
    sinceImprovement: carried?.sinceImprovement ?? 0,
    referenceResolution: carried?.referenceResolution ?? null,
    ...(carried?.boxSize !== undefined && { boxSize: carried.boxSize }),
    steps: carried?.steps ?? { reused: 0, computed: 0 },
    artifacts: carried?.artifacts ?? {},
  };
  setHandler(statusQuery, () => status);
  setHandler(stopSignal, () => {
    status.stopRequested = true;
  });
  // Search attributes and memo (workflows/campaignIndex.ts): what `campaign list --query` and the Web UI find.
  indexCampaign(config, status, 'running');

  let iterationCounts: StepCounts = { reused: 0, computed: 0 };
  /** Runs one activity on its queue, with an activity id `<iteration>.<step>` that the history command reads. */
  async function step<K extends ActivityName>(
    name: K,
    stepName: CampaignStep,
    arg: Parameters<Activities[K]>[0],
  ): Promise<Awaited<ReturnType<Activities[K]>>> {
    status.step = stepName;
    // MPI steps may wait in a cluster queue (executor: slurm) before they run: days, not hours.
    const long = roleOf(name) === 'mpi';
    const proxy = proxyActivities<Activities>({
      activityId: `${status.iteration}.${stepName}`,
      taskQueue: queues[roleOf(name)],
      startToCloseTimeout: long ? '7 days' : '12 hours',
      heartbeatTimeout,
      retry: STEP_RETRY,
      // A cancelled campaign closes only once its running activity has stopped (and killed its MPI ranks).
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    });
    const fn = proxy[name] as (a: typeof arg) => Promise<Awaited<ReturnType<Activities[K]>>>;
    const result = await fn(arg);
    const counts = (result as { reused: boolean }).reused ? 'reused' : 'computed';
    status.steps[counts]++;
    iterationCounts[counts]++;
    return result;
  }

  const workdir = config.workdir;
  const mask = (): MaskParams => {
    if (status.boxSize === undefined && config.mask.radius === undefined) {
      throw ApplicationFailure.nonRetryable('the mask radius depends on the particles, which are not loaded yet', 'InvalidInput');
    }
    return campaignMask(config, status.boxSize ?? 0);
  };
  const record = (iteration: number, gold: FscResult, combined: ArtifactRef, aligned?: { meanCcc: number; halvesAngle: number }): void => {
    status.history.push({
      iteration,
      resolution0143: gold.resolution0143,
      resolution05: gold.resolution05,
      ...aligned,
      fsc: gold.curve,
      combined,
      reusedSteps: iterationCounts.reused,
      computedSteps: iterationCounts.computed,
    });
  };
  /** The classification iterations after the averaging ones (workflows/classification.ts), from their last poses. */
  const classify = (classified: ClassifiedConfig): Promise<ClassificationEnd> => {
    status.classification ??= { history: [] };
    const last = status.history[status.history.length - 1];
    return runClassification({
      config: classified,
      workdir,
      halves: status.artifacts.halves!,
      poses: status.artifacts.alignment ?? status.artifacts.startPoses!,
      mask: mask(),
      mpi: mpiRanksOf(config.alignment),
      firstIteration: Math.max(status.iteration, last?.iteration ?? 0) + 2,
      state: status.classification,
      stopRequested: () => status.stopRequested,
      setIteration: (i) => {
        status.iteration = i;
        iterationCounts = { reused: 0, computed: 0 };
      },
      run: {
        initialClasses: (a) => step('initialClasses', 'initial-classes', a),
        classCandidates: (a) => step('classCandidates', 'class-frm', a),
        scoreClasses: (a) => step('refineClasses', 'class-score', a),
        refineClasses: (a) => step('refineClasses', 'class-refine', a),
        assignClasses: (a) => step('assignClasses', 'assign', a),
        averageClassHalves: (a) => step('averageClassHalves', 'class-average', a),
      },
    });
  };
  try {
    if (!carried) {
      const data = await step('simulateOrLoad', 'load', { workdir, data: config.data, ...(config.ctf === false && { ctf: false as const }) });
      status.artifacts.particles = data.particles;
      status.boxSize = data.boxSize;
      const split = await step('splitHalves', 'split', { workdir, particles: data.particles });
      status.artifacts.halves = split.halves;
      const initial = await step('initialReferences', 'initial-references', {
        workdir,
        halves: split.halves,
        initialLowpass: config.initialLowpass,
        initialPoses: config.initialPoses,
        seed: config.seed,
        mask: mask(),
        ...(config.reference && { reference: config.reference }),
        ...(config.symmetry && { symmetry: config.symmetry }),
      });
      status.artifacts.references = initial.references;
      status.artifacts.startPoses = initial.poses;
      status.referenceResolution = config.initialLowpass;
      // A user's reference has no half averages of the start to measure: the history begins at iteration 1.
      if (initial.averages) {
        status.artifacts.averages = initial.averages;
        const gold = await step('fsc', 'fsc', { workdir, odd: initial.averages.odd, even: initial.averages.even, mask: mask() });
        record(0, gold, initial.averages.combined);
      }
    }
    let iterationsThisRun = 0;
    let stoppedBecause: StopReason = 'max-iterations';
    for (let iteration = status.iteration + 1; iteration <= config.maxIterations; iteration++) {
      status.iteration = iteration;
      iterationCounts = { reused: 0, computed: 0 };
      const halves = status.artifacts.halves!;
      const references = status.artifacts.references!;
      const { alignment } = config;
      const priors = status.artifacts.alignment ?? status.artifacts.startPoses!;
      const frm = await step('frmCandidates', 'frm', {
        workdir,
        halves,
        references,
        bandwidth: alignment.bandwidth,
        candidates: alignment.candidates,
        ...(config.symmetry && { symmetry: config.symmetry }),
        ...(alignment.angularRange !== undefined && { local: { angularRange: (alignment.angularRange * Math.PI) / 180, priors } }),
      });
      const refined = await step('refine', 'refine', {
        workdir,
        halves,
        references,
        candidates: frm.candidates,
        method: alignment.method,
        maxShift: alignment.maxShift,
        mask: mask(),
        ...(alignment.sag && { sag: alignment.sag }),
        seed: iterationSeed(config.seed, iteration),
        referenceResolution: status.referenceResolution!,
        mpi: mpiRanksOf(config.alignment),
      });
      status.artifacts.alignment = refined.alignment;
      let { averages } = await step('averageHalves', 'average', {
        workdir, halves, alignment: refined.alignment, mpi: mpiRanksOf(config.alignment), ...(config.symmetry && { symmetry: config.symmetry }),
      });
      // The halves' relative orientation, measured every iteration: a large angle means the FSC compares
      // two differently oriented maps and its resolution means little (see halvesAngle).
      const registered = await step('registerHalves', 'register', {
        workdir, odd: averages.odd, even: averages.even, resolution: status.referenceResolution!, mask: mask(),
        maxShift: alignment.maxShift, seed: iterationSeed(config.seed, iteration), ...(config.symmetry && { symmetry: config.symmetry }),
      });
      if (config.registerHalves) averages = { ...averages, even: registered.even, combined: registered.combined };
      status.artifacts.averages = averages;
      const gold = await step('fsc', 'fsc', { workdir, odd: averages.odd, even: averages.even, mask: mask() });
      const next = await step('lowpassReference', 'lowpass', {
        workdir, odd: averages.odd, even: averages.even, resolution: gold.resolution0143, mask: mask(),
      });
      status.artifacts.references = next.references;
      status.referenceResolution = gold.resolution0143;
      const reportInput = status.history.map(({ iteration: i, combined, fsc, resolution0143, resolution05, meanCcc, halvesAngle }) => ({
        iteration: i, combined, fsc, resolution0143, resolution05, meanCcc, halvesAngle,
      }));
      reportInput.push({
        iteration, combined: averages.combined, fsc: gold.curve, resolution0143: gold.resolution0143,
        resolution05: gold.resolution05, meanCcc: refined.meanCcc, halvesAngle: registered.angle,
      });
      const rep = await step('report', 'report', { workdir, name: config.name, iterations: reportInput });
      status.artifacts.report = rep.index;
      status.artifacts.reportPath = rep.published;
      record(iteration, gold, averages.combined, { meanCcc: refined.meanCcc, halvesAngle: registered.angle });

      // Convergence counts aligned iterations only: the random-pose start is no resolution to beat.
      if (status.bestResolution === null || gold.resolution0143 < status.bestResolution) {
        status.bestResolution = gold.resolution0143;
        status.sinceImprovement = 0;
      } else {
        status.sinceImprovement++;
      }
      indexCampaign(config, status, 'running');
      iterationsThisRun++;
      if (status.sinceImprovement >= config.patience) {
        stoppedBecause = 'converged';
        break;
      }
      if (status.stopRequested) {
        stoppedBecause = 'stop-signal';
        break;
      }
      const every = input.continueAsNewEvery ?? 0;
      if (iteration < config.maxIterations && (workflowInfo().continueAsNewSuggested || (every > 0 && iterationsThisRun >= every))) {
        const { name: _name, maxIterations: _max, setupSteps: _setup, iterationSteps: _steps, step: _step, ...state } = status;
        await continueAsNew<typeof campaign>({ ...input, config, carried: { ...state, run: status.run + 1 } });
      }
    }
    const classified = config.classification && stoppedBecause !== 'stop-signal' ? await classify(config as ClassifiedConfig) : undefined;
    status.step = 'done';
    indexCampaign(config, status, STATE_OF_STOP[classified === 'stop-signal' ? 'stop-signal' : stoppedBecause]);
    const last = status.history[status.history.length - 1];
    return {
      name: config.name,
      stoppedBecause: classified === 'stop-signal' ? 'stop-signal' : stoppedBecause,
      ...(classified && {
        classification: {
          stoppedBecause: classified,
          iterations: status.classification!.history,
          classes: status.classification!.classes ?? [],
          assignment: status.classification!.assignment!,
        },
      }),
      iterations: status.history,
      finalResolution: last.resolution0143,
      bestResolution: status.bestResolution!,
      steps: status.steps,
      artifacts: status.artifacts,
    };
  } catch (err) {
    if (!(err instanceof ContinueAsNew)) {
      status.step = isCancellation(err) ? 'cancelled' : 'failed';
      indexCampaign(config, status, status.step);
    }
    throw err;
  }
}
