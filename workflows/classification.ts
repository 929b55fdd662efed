/**
 * The classification iterations of a campaign (config `classification:`; docs/classification.md), run after
 * its averaging iterations from their last poses: the starting classes (random subsets of each half-set),
 * then per iteration FRM candidates of every particle × class → their refinement on MPI ranks → assignment
 * (MCO-A, or annealed with a cooling temperature; small classes dropped) → each class averaged per half-set
 * with its own resolution and next references. Stops after `iterations`, when at most `stopChanged` of the
 * particles changed class, or on the stop signal. Deterministic like the campaign: only refs and numbers here.
 */
import type {
  AssignClassesInput,
  AssignResult,
  AverageClassesInput,
  ClassCandidatesInput,
  ClassesResult,
  ClassRefs,
  ClassSummary,
  InitialClassesInput,
  RefineClassesInput,
} from '../activities/classify.ts';
import type { MaskParams } from '../activities/references.ts';
import type { ArtifactRef } from '../io/artifacts.ts';
import type { CampaignConfig, ClassificationConfig } from '../model/campaign.ts';
import { CLASSIFY_DEFAULTS, FRM_ONLY_REFINEMENT } from '../model/defaults.ts';
import type { MpiRanks } from '../model/jobs.ts';

/** One classification iteration, as `status`, `watch`, `history` and the result report it. */
export interface ClassIterationSummary {
  /** The campaign's iteration number (it continues the averaging iterations). */
  iteration: number;
  /** 1 for the first classification iteration; 0 for the starting classes. */
  classIteration: number;
  /** Particles per class (0-based index = class number − 1); 0 for a dropped class. */
  sizes: number[];
  /** Each live class's gold-standard resolution (Å) and combined map. */
  classes: { index: number; size: number; resolution: number; combined: ArtifactRef }[];
  /** Fraction of particles whose class changed (absent for the start). */
  changed?: number;
  meanCcc?: number;
  /** Classes dropped in this iteration (0-based). */
  dropped?: number[];
  /** Adjusted Rand index against the true classes, when the particle list has them. */
  ari?: number;
}

/** What the workflow keeps of a classification between iterations. */
export interface ClassificationState {
  history: ClassIterationSummary[];
  references?: ClassRefs;
  assignment?: ArtifactRef;
  /** Final classes (maps, references, resolutions) once an iteration has run. */
  classes?: ClassSummary[];
}

/** What the classification needs from the campaign workflow. */
export interface ClassificationContext {
  config: Pick<CampaignConfig, 'alignment' | 'symmetry' | 'seed'> & { classification: ClassificationConfig };
  workdir: string;
  halves: ArtifactRef;
  /** The poses to split into classes: the last averaging iteration's alignment, or the start's. */
  poses: ArtifactRef;
  mask: MaskParams;
  mpi: MpiRanks;
  /** Iteration number of the first classification iteration. */
  firstIteration: number;
  state: ClassificationState;
  stopRequested(): boolean;
  /** Sets the campaign's current iteration (activity ids and status). */
  setIteration(iteration: number): void;
  run: ClassificationSteps;
}

/** The activities the classification calls through the campaign's `step` (its queues, retries and counts). */
export interface ClassificationSteps {
  initialClasses(arg: InitialClassesInput): Promise<ClassesResult>;
  classCandidates(arg: ClassCandidatesInput): Promise<{ candidates: ArtifactRef }>;
  refineClasses(arg: RefineClassesInput): Promise<{ pairs: ArtifactRef }>;
  assignClasses(arg: AssignClassesInput): Promise<AssignResult>;
  averageClassHalves(arg: AverageClassesInput): Promise<ClassesResult>;
}

/** Seed of one classification iteration's SAG slice order and annealing draws (u32). */
function classSeed(seed: number, iteration: number): number {
  return (seed * 7919 + 104729 * iteration) >>> 0;
}

export type ClassificationEnd = 'iterations' | 'settled' | 'stop-signal';

export async function runClassification(ctx: ClassificationContext): Promise<ClassificationEnd> {
  const { config, workdir, halves, mask, mpi, state, run } = ctx;
  const c = config.classification;
  const symmetry = config.symmetry ? { symmetry: config.symmetry } : {};
  const initialLowpass = c.initialLowpass ?? CLASSIFY_DEFAULTS.initialLowpass;
  if (!state.references) {
    ctx.setIteration(ctx.firstIteration - 1);
    const start = await run.initialClasses({
      workdir, halves, poses: ctx.poses, classes: c.classes, seed: config.seed, mask, initialLowpass, mpi, ...symmetry,
    });
    state.references = start.references;
    state.assignment = start.assignment;
    state.classes = start.classes;
    state.history.push({
      iteration: ctx.firstIteration - 1,
      classIteration: 0,
      sizes: sizesOf(start.classes, c.classes),
      classes: start.classes.map(({ index, size, resolution, maps }) => ({ index, size, resolution, combined: maps.combined })),
    });
  }
  let temperature = (c.temperature ?? CLASSIFY_DEFAULTS.temperature) * (c.cooling ?? CLASSIFY_DEFAULTS.cooling) ** (state.history.length - 1);
  for (let j = state.history.length; j <= c.iterations; j++) {
    const iteration = ctx.firstIteration + j - 1;
    ctx.setIteration(iteration);
    const references = state.references!;
    // The class references carry nothing beyond their low-pass: the finest of them sets the binned box.
    const finest = Math.min(...(state.classes ?? []).map((k) => k.resolution), initialLowpass);
    const seed = classSeed(config.seed, iteration);
    const { candidates } = await run.classCandidates({
      workdir, halves, references, bandwidth: config.alignment.bandwidth, candidates: config.alignment.candidates, ...symmetry,
    });
    const refinement = c.refine === false
      ? { method: FRM_ONLY_REFINEMENT.method, sag: { ...FRM_ONLY_REFINEMENT.sag } }
      : { method: config.alignment.method, ...(config.alignment.sag && { sag: config.alignment.sag }) };
    const { pairs } = await run.refineClasses({
      workdir, halves, references, candidates, ...refinement, maxShift: config.alignment.maxShift, mask,
      seed, referenceResolution: j === 1 ? initialLowpass : finest, mpi,
    });
    const assigned = await run.assignClasses({
      workdir, halves, candidates, pairs, previous: state.assignment!, classes: c.classes, temperature, seed,
      ...(c.minClassSize !== undefined && { minClassSize: c.minClassSize }),
    });
    const averaged = await run.averageClassHalves({
      workdir, halves, candidates, pairs, assignment: assigned.assignment, classes: c.classes, mask, mpi, ...symmetry,
    });
    state.references = averaged.references;
    state.assignment = assigned.assignment;
    state.classes = averaged.classes;
    state.history.push({
      iteration,
      classIteration: j,
      sizes: assigned.sizes,
      classes: averaged.classes.map(({ index, size, resolution, maps }) => ({ index, size, resolution, combined: maps.combined })),
      changed: assigned.changed,
      meanCcc: assigned.meanCcc,
      dropped: assigned.dropped,
      ...(assigned.ari !== undefined && { ari: assigned.ari }),
    });
    temperature *= c.cooling ?? CLASSIFY_DEFAULTS.cooling;
    if (ctx.stopRequested()) return 'stop-signal';
    if (j > 1 && assigned.changed <= (c.stopChanged ?? CLASSIFY_DEFAULTS.stopChanged)) return 'settled';
  }
  return 'iterations';
}

function sizesOf(classes: readonly ClassSummary[], count: number): number[] {
  const sizes = new Array<number>(count).fill(0);
  for (const k of classes) sizes[k.index] = k.size;
  return sizes;
}
