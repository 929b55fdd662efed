/**
 * The classification iterations of a campaign (config `classification:`; docs/classification.md), run after
 * its averaging iterations from their last poses: the starting classes (random subsets of each half-set),
 * then per iteration FRM candidates of every particle × class → each pair scored at its FRM rotation and FTM
 * shift on MPI ranks → assignment (MCO-A, or annealed with a cooling temperature; small classes dropped) →
 * each particle's pair with its class refined → each class averaged per half-set with its resolution and next
 * references, and classes holding one structure merged. Stops after `iterations`, when at most `stopChanged`
 * of the particles changed class (and none merged), or on the stop signal. Deterministic like the campaign: only refs and numbers here.
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
  /** Classes merged into another after this iteration's averages (0-based): their particles are reassigned next. */
  merged?: { class: number; into: number; similarity: number }[];
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
  /** refineClasses without `assignment`, with FRM_ONLY_REFINEMENT: every pair scored. */
  scoreClasses(arg: RefineClassesInput): Promise<{ pairs: ArtifactRef }>;
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
  const lowpass = c.lowpass ?? initialLowpass;
  const merge = c.merge === false ? undefined : (c.merge ?? CLASSIFY_DEFAULTS.merge);
  for (let j = state.history.length; j <= c.iterations; j++) {
    const iteration = ctx.firstIteration + j - 1;
    ctx.setIteration(iteration);
    const references = state.references!;
    const seed = classSeed(config.seed, iteration);
    const { candidates } = await run.classCandidates({
      workdir, halves, references, bandwidth: config.alignment.bandwidth, candidates: config.alignment.candidates, ...symmetry,
    });
    // The class references carry nothing beyond their low-pass: it sets the refinement's binned box.
    const pairs = { workdir, halves, references, candidates, maxShift: config.alignment.maxShift, mask, seed, referenceResolution: j === 1 ? initialLowpass : lowpass, mpi };
    // every pair scored at its FRM rotation and FTM shift (drivers/classify.ts scoringSettings), the assigned pair refined
    const scored = await run.scoreClasses({ ...pairs, method: FRM_ONLY_REFINEMENT.method, sag: { ...FRM_ONLY_REFINEMENT.sag } });
    const assigned = await run.assignClasses({
      workdir, halves, candidates, pairs: scored.pairs, previous: state.assignment!, classes: c.classes, temperature, seed,
      ...(c.minClassSize !== undefined && { minClassSize: c.minClassSize }),
    });
    const refined = c.refine === false
      ? null
      : await run.refineClasses({ ...pairs, assignment: assigned.assignment, method: config.alignment.method, ...(config.alignment.sag && { sag: config.alignment.sag }) });
    const averaged = await run.averageClassHalves({
      workdir, halves, candidates, pairs: scored.pairs, assignment: assigned.assignment, classes: c.classes, mask, mpi, lowpass, ...symmetry,
      ...(refined && { refined: refined.pairs }),
      // no merge in the last iteration: the merged class's particles are reassigned by the next alignment
      ...(merge !== undefined && j < c.iterations && { merge: { threshold: merge, resolution: lowpass, maxShift: config.alignment.maxShift, seed } }),
    });
    state.references = averaged.references;
    state.assignment = assigned.assignment;
    state.classes = averaged.classes;
    const merged = averaged.classes.flatMap((k) => (k.mergedInto === undefined ? [] : [{ class: k.index, into: k.mergedInto, similarity: k.similarity! }]));
    state.history.push({
      iteration,
      classIteration: j,
      sizes: assigned.sizes,
      classes: averaged.classes.map(({ index, size, resolution, maps }) => ({ index, size, resolution, combined: maps.combined })),
      changed: assigned.changed,
      meanCcc: assigned.meanCcc,
      dropped: assigned.dropped,
      ...(merged.length > 0 && { merged }),
      ...(assigned.ari !== undefined && { ari: assigned.ari }),
    });
    temperature *= c.cooling ?? CLASSIFY_DEFAULTS.cooling;
    if (ctx.stopRequested()) return 'stop-signal';
    if (j > 1 && merged.length === 0 && assigned.changed <= (c.stopChanged ?? CLASSIFY_DEFAULTS.stopChanged)) return 'settled';
  }
  return 'iterations';
}

function sizesOf(classes: readonly ClassSummary[], count: number): number[] {
  const sizes = new Array<number>(count).fill(0);
  for (const k of classes) sizes[k.index] = k.size;
  return sizes;
}
