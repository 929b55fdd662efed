/**
 * Classification steps of a campaign (docs/classification.md; drivers/classify.ts does the work, as for
 * `subtomo classify`): the starting classes, then per iteration FRM candidates of every particle × class,
 * their refinement on MPI ranks, the assignment (MCO-A or annealed), and the class averages with their
 * resolutions and next references. Each is a cached store step, so a resumed campaign recomputes nothing done.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { alignBoxFor } from '../core/align.ts';
import {
  adjustedRandIndex,
  annealedClasses,
  changedFraction,
  classSizes,
  confusionMatrix,
  type ConfusionMatrix,
  dropSmallClasses,
  randomSubsets,
} from '../core/classify.ts';
import { Rng } from '../core/random.ts';
import { referenceShell } from '../core/reference.ts';
import type { Pose } from '../core/rotate.ts';
import { alignJob, findCandidates, runAlignment } from '../drivers/align.ts';
import {
  type ClassParticle,
  type ClassReferences,
  type ClassAverage,
  assignedPairs,
  averageClasses,
  classAlignmentOf,
  classDirName,
  classTargets,
  withRefinedPoses,
} from '../drivers/classify.ts';
import type { ArtifactRef } from '../io/artifacts.ts';
import { CLASSIFY_DEFAULTS } from '../model/defaults.ts';
import type { AlignParticle, MpiRanks, ParticleAlignment, SagSettings } from '../model/jobs.ts';
import type { AlignMethod } from '../model/methods.ts';
import { checkedRef, invalidInput, readJsonArtifact, readVolumeArtifact, reportProgress, runCampaignStep, type Reuse } from './common.ts';
import { runMpiStep } from './mpiStep.ts';
import { type Particle, type PoseEntry, posesByName, readParticleSet } from './particles.ts';
import type { HalfAverages, HalfRefs, MaskParams } from './references.ts';

/** Each class's references per half-set; null for a dropped class. */
export type ClassRefs = (HalfRefs | null)[];

/** The assignment file of a classification step. */
export interface AssignmentFile {
  /** Class (0-based) of each particle of the set, in set order. */
  assignment: number[];
  /** Classes dropped so far. */
  dropped: number[];
}

function classParticles(particles: readonly Particle[]): ClassParticle[] {
  return particles.map((p) => ({
    name: p.name, path: p.path, tilt: p.tilt, half: p.half, ...(p.ctf && { ctf: p.ctf }), ...(p.ctfImage && { ctfImage: p.ctfImage }),
  }));
}

/** File paths of the refs (what the drivers read), after checking each is unchanged. */
async function referencePaths(references: ClassRefs): Promise<(ClassReferences | null)[]> {
  const out: (ClassReferences | null)[] = [];
  for (const [k, r] of references.entries()) {
    if (!r) {
      out.push(null);
      continue;
    }
    for (const half of ['odd', 'even'] as const) await checkedRef(r[half], `class ${k + 1} ${half} reference`);
    out.push({ odd: r.odd.path, even: r.even.path });
  }
  return out;
}

/** The outputs of `averageClasses` as store outputs (relative paths) and back as refs. */
const classOutputs = (k: number) => {
  const d = classDirName(k);
  return { odd: `${d}/half_odd.mrc`, even: `${d}/half_even.mrc`, combined: `${d}/average.mrc`, refOdd: `${d}/reference_odd.mrc`, refEven: `${d}/reference_even.mrc` };
};

export interface ClassSummary {
  /** 0-based class number. */
  index: number;
  size: number;
  /** Gold-standard resolution of the class's half maps, Å. */
  resolution: number;
  maps: HalfAverages;
  /** Its next references; absent when it was merged into another class. */
  references?: HalfRefs;
  /** The class (0-based) it was merged into: the two held one structure (drivers/classify.ts ClassAveraging.merge). */
  mergedInto?: number;
  similarity?: number;
}

export interface InitialClassesInput {
  workdir: string;
  halves: ArtifactRef;
  /** The poses to start from: PoseEntry[] JSON (the last averaging iteration's alignment). */
  poses: ArtifactRef;
  classes: number;
  seed: number;
  mask: MaskParams;
  initialLowpass: number;
  symmetry?: string;
  mpi: MpiRanks;
}

export interface ClassesResult extends Reuse {
  references: ClassRefs;
  assignment: ArtifactRef;
  classes: ClassSummary[];
}

/**
 * The starting classes: random subsets of each half-set, averaged with `poses`, low-passed to initialLowpass;
 * both halves of a class start from its average over both (drivers/classify.ts ClassAveraging.commonStart).
 */
export async function initialClasses(input: InitialClassesInput): Promise<ClassesResult> {
  const { set, particles } = await readParticleSet(input.halves);
  const byName = posesByName(await readJsonArtifact<PoseEntry[]>(input.poses, 'poses'), particles, input.poses.path);
  for (const p of particles) await checkedRef(p.ref, `particle ${p.name}`);
  const assignment = randomSubsets(particles.map((p) => p.half), input.classes, input.seed);
  const params = { classes: input.classes, seed: input.seed, mask: input.mask, initialLowpass: input.initialLowpass, symmetry: input.symmetry ?? null };
  const step = await runMpiStep({
    workdir: input.workdir,
    step: 'initial-classes',
    params,
    inputs: { halves: input.halves, poses: input.poses },
    mpi: input.mpi,
    boxSize: set.boxSize,
    total: particles.length,
    run: async (dir, exec) => {
      const poses = particles.map((p) => new Array<Pose | null>(input.classes).fill(byName.get(p.name)!));
      const settings = {
        mask: input.mask, lowpass: input.initialLowpass, voxelSize: set.voxelSize, commonStart: true, ...(input.symmetry && { symmetry: input.symmetry }),
      };
      const averages = await averageClasses(classParticles(particles), assignment, poses, settings, dir, exec);
      await writeFile(join(dir, 'assignment.json'), `${JSON.stringify({ assignment, dropped: [] } satisfies AssignmentFile)}\n`);
      return writeClassOutputs(dir, averages, { assignment: 'assignment.json' });
    },
  });
  return classesResult(step.outputs, input.classes, step.outputs.assignment, step.reused);
}

/** What classes.json holds per class of a step. */
type ClassLine = Pick<ClassSummary, 'index' | 'size' | 'resolution' | 'mergedInto' | 'similarity'>;

/** classes.json and the step's outputs: every class's maps, and the references of those not merged away. */
async function writeClassOutputs(dir: string, averages: readonly ClassAverage[], extra: Record<string, string>): Promise<Record<string, string>> {
  const lines: ClassLine[] = averages.map(({ index, size, resolution, mergedInto, similarity }) => ({
    index, size, resolution, ...(mergedInto !== undefined && { mergedInto, similarity }),
  }));
  await writeFile(join(dir, 'classes.json'), `${JSON.stringify(lines)}\n`);
  const out: Record<string, string> = { ...extra, classes: 'classes.json' };
  for (const a of averages) {
    for (const [name, path] of Object.entries(classOutputs(a.index))) {
      if (a.references || !name.startsWith('ref')) out[`class${a.index}.${name}`] = path;
    }
  }
  return out;
}

async function classesResult(outputs: Record<string, ArtifactRef>, classes: number, assignment: ArtifactRef, reused: boolean): Promise<ClassesResult> {
  const summary = await readJsonArtifact<ClassLine[]>(outputs.classes, 'class summary');
  const references: ClassRefs = new Array<HalfRefs | null>(classes).fill(null);
  const out: ClassSummary[] = summary.map(({ index, size, resolution, mergedInto, similarity }) => {
    const o = (name: string) => outputs[`class${index}.${name}`];
    const maps = { odd: o('odd'), even: o('even'), combined: o('combined') };
    if (mergedInto !== undefined) return { index, size, resolution, maps, mergedInto, similarity };
    references[index] = { odd: o('refOdd'), even: o('refEven') };
    return { index, size, resolution, maps, references: references[index]! };
  });
  return { references, assignment, classes: out, reused };
}

export interface ClassCandidatesInput {
  workdir: string;
  halves: ArtifactRef;
  references: ClassRefs;
  bandwidth: number;
  candidates: number;
  symmetry?: string;
}

/** The FRM candidates of every particle × live class pair (drivers/classify.ts classTargets order). */
export interface ClassCandidatesFile {
  live: number[];
  pairs: AlignParticle[];
}

export async function classCandidates(input: ClassCandidatesInput): Promise<{ candidates: ArtifactRef } & Reuse> {
  const { particles } = await readParticleSet(input.halves);
  const paths = await referencePaths(input.references);
  const inputs: Record<string, ArtifactRef> = { halves: input.halves };
  input.references.forEach((r, k) => {
    if (r) [inputs[`class${k}.odd`], inputs[`class${k}.even`]] = [r.odd, r.even];
  });
  const params = { bandwidth: input.bandwidth, topN: input.candidates, symmetry: input.symmetry ?? null, classes: input.references.length };
  const step = await runCampaignStep(input.workdir, 'class-frm', params, inputs, async (dir) => {
    const { targets, live } = classTargets(classParticles(particles), paths);
    const byPath = new Map(particles.map((p) => [p.path, p]));
    const pairs = await findCandidates(targets, input, {
      reference: (path) => readVolumeArtifact({ ...refOfPath(input.references, path) }, `class reference ${path}`),
      particle: (t) => readVolumeArtifact(byPath.get(t.path)!.ref, `particle ${t.name}`),
    }, (done, name) => reportProgress({ step: 'class-frm', done, total: targets.length, detail: name }));
    await writeFile(join(dir, 'candidates.json'), `${JSON.stringify({ live, pairs } satisfies ClassCandidatesFile)}\n`);
    return { candidates: 'candidates.json' };
  });
  return { candidates: step.outputs.candidates, reused: step.reused };
}

/** The ref of the class reference stored at `path`. */
function refOfPath(references: ClassRefs, path: string): ArtifactRef {
  for (const r of references) {
    if (r?.odd.path === path) return r.odd;
    if (r?.even.path === path) return r.even;
  }
  throw new Error(`${path} is not a class reference of this step`);
}

export interface RefineClassesInput {
  workdir: string;
  halves: ArtifactRef;
  references: ClassRefs;
  candidates: ArtifactRef;
  method: AlignMethod;
  maxShift: number;
  mask: MaskParams;
  sag?: SagSettings;
  seed: number;
  /** The resolution (Å) the class references were low-passed at: the refinement's binned box holds it. */
  referenceResolution: number;
  /** AssignmentFile JSON: refine only each particle's pair with its class (drivers/classify.ts assignedPairs); absent: every pair. */
  assignment?: ArtifactRef;
  mpi: MpiRanks;
}

/**
 * Alignment of particle × class pairs on MPI ranks (Algorithm 3 over pairs, every candidate): every pair when
 * scoring them (FRM_ONLY_REFINEMENT settings), or each particle's pair with its assigned class.
 */
export async function refineClasses(input: RefineClassesInput): Promise<{ pairs: ArtifactRef } & Reuse> {
  const { set, particles } = await readParticleSet(input.halves);
  const classPairs = await readJsonArtifact<ClassCandidatesFile>(input.candidates, 'class FRM candidates');
  const pairs = input.assignment
    ? assignedPairs(classPairs.live, (await readJsonArtifact<AssignmentFile>(input.assignment, 'assignment')).assignment).map((j) => classPairs.pairs[j])
    : classPairs.pairs;
  await referencePaths(input.references);
  for (const p of particles) await checkedRef(p.ref, `particle ${p.name}`);
  const alignBox = alignBoxFor(set.boxSize, referenceShell(set.boxSize, set.voxelSize, input.referenceResolution));
  const settings = { method: input.method, maxShift: input.maxShift, mask: input.mask, alignBox, seed: input.seed, ...(input.sag && { sag: input.sag }) };
  const inputs: Record<string, ArtifactRef> = { halves: input.halves, candidates: input.candidates, ...(input.assignment && { assignment: input.assignment }) };
  input.references.forEach((r, k) => {
    if (r) [inputs[`class${k}.odd`], inputs[`class${k}.even`]] = [r.odd, r.even];
  });
  const step = await runMpiStep({
    workdir: input.workdir,
    step: input.assignment ? 'class-refine' : 'class-score',
    params: settings,
    inputs,
    mpi: input.mpi,
    boxSize: set.boxSize,
    total: pairs.reduce((sum, p) => sum + p.candidates.length, 0),
    run: async (dir, exec) => {
      await runAlignment(alignJob(pairs, settings, { results: join(dir, 'pairs.json') }), { ...exec, jobFile: join(dir, 'align-job.json') });
      return { pairs: 'pairs.json' };
    },
  });
  return { pairs: step.outputs.pairs, reused: step.reused };
}

export interface AssignClassesInput {
  workdir: string;
  halves: ArtifactRef;
  candidates: ArtifactRef;
  pairs: ArtifactRef;
  /** The previous iteration's assignment (AssignmentFile JSON). */
  previous: ArtifactRef;
  classes: number;
  minClassSize?: number;
  temperature: number;
  seed: number;
}

export interface AssignResult extends Reuse {
  assignment: ArtifactRef;
  sizes: number[];
  /** Fraction of particles whose class changed. */
  changed: number;
  meanCcc: number;
  /** Classes dropped this iteration (0-based). */
  dropped: number[];
  /** Against the particles' true classes, when the list has them. */
  ari?: number;
  confusion?: ConfusionMatrix;
}

/** MCO-A (or annealed) assignment of every particle from its pairs' CCCs; small classes dropped. */
export async function assignClasses(input: AssignClassesInput): Promise<AssignResult> {
  const { particles } = await readParticleSet(input.halves);
  const { live } = await readJsonArtifact<ClassCandidatesFile>(input.candidates, 'class FRM candidates');
  const results = await readJsonArtifact<ParticleAlignment[]>(input.pairs, 'class alignments');
  const previous = await readJsonArtifact<AssignmentFile>(input.previous, 'previous assignment');
  if (previous.assignment.length !== particles.length) throw invalidInput(`${input.previous.path} assigns ${previous.assignment.length} particles, the set has ${particles.length}`);
  const { scores } = classAlignmentOf(results, particles.length, live, input.classes);
  const minSize = input.minClassSize ?? Math.max(2, Math.floor((CLASSIFY_DEFAULTS.minSizeFraction * particles.length) / input.classes));
  const params = { classes: input.classes, minSize, temperature: input.temperature, seed: input.seed };
  const step = await runCampaignStep(input.workdir, 'assign-classes', params, { pairs: input.pairs, previous: input.previous, candidates: input.candidates }, async (dir) => {
    const dropped = new Set(previous.dropped);
    const drawn = annealedClasses(scores, input.temperature, Rng.derive(input.seed, 0), dropped);
    const pruned = dropSmallClasses(scores, drawn, minSize, dropped, particles.map((p) => p.half));
    const file: AssignmentFile = { assignment: pruned.assignment, dropped: [...previous.dropped, ...pruned.dropped] };
    await writeFile(join(dir, 'assignment.json'), `${JSON.stringify(file)}\n`);
    return { assignment: 'assignment.json' };
  });
  const { assignment, dropped } = await readJsonArtifact<AssignmentFile>(step.outputs.assignment, 'assignment');
  const ccc = assignment.flatMap((k, i) => (k >= 0 ? [scores[i][k]] : []));
  const truth = particles.every((p) => p.trueClass !== undefined) ? particles.map((p) => p.trueClass!) : null;
  return {
    assignment: step.outputs.assignment,
    sizes: classSizes(assignment, input.classes),
    changed: changedFraction(previous.assignment, assignment),
    meanCcc: ccc.reduce((a, b) => a + b, 0) / ccc.length,
    dropped: dropped.filter((k) => !previous.dropped.includes(k)),
    ...(truth && { ari: adjustedRandIndex(truth, assignment), confusion: confusionMatrix(truth, assignment) }),
    reused: step.reused,
  };
}

export interface AverageClassesInput {
  workdir: string;
  halves: ArtifactRef;
  candidates: ArtifactRef;
  pairs: ArtifactRef;
  assignment: ArtifactRef;
  classes: number;
  mask: MaskParams;
  symmetry?: string;
  /** The band (Å) of the next references (drivers/classify.ts ClassAveraging.lowpass). */
  lowpass: number;
  /** The refinements of the assigned pairs (refineClasses with `assignment`); absent: the scored poses are averaged. */
  refined?: ArtifactRef;
  /** Merge classes this similar (drivers/classify.ts ClassAveraging.merge); absent: none. */
  merge?: { threshold: number; resolution: number; maxShift: number; seed: number };
  mpi: MpiRanks;
}

/** Each class averaged per half-set with its particles' poses for it; resolution and next references per class. */
export async function averageClassHalves(input: AverageClassesInput): Promise<ClassesResult> {
  const { set, particles } = await readParticleSet(input.halves);
  const { live } = await readJsonArtifact<ClassCandidatesFile>(input.candidates, 'class FRM candidates');
  const results = await readJsonArtifact<ParticleAlignment[]>(input.pairs, 'class alignments');
  const { assignment } = await readJsonArtifact<AssignmentFile>(input.assignment, 'assignment');
  const scored = classAlignmentOf(results, particles.length, live, input.classes).poses;
  const poses = input.refined
    ? withRefinedPoses(scored, live, assignment, await readJsonArtifact<ParticleAlignment[]>(input.refined, 'refined class alignments'))
    : scored;
  for (const p of particles) await checkedRef(p.ref, `particle ${p.name}`);
  const step = await runMpiStep({
    workdir: input.workdir,
    step: 'class-averages',
    params: { mask: input.mask, symmetry: input.symmetry ?? null, classes: input.classes, lowpass: input.lowpass, merge: input.merge ?? null },
    inputs: { halves: input.halves, pairs: input.pairs, assignment: input.assignment, candidates: input.candidates, ...(input.refined && { refined: input.refined }) },
    mpi: input.mpi,
    boxSize: set.boxSize,
    total: particles.length,
    run: async (dir, exec) => {
      const settings = {
        mask: input.mask, voxelSize: set.voxelSize, lowpass: input.lowpass, ...(input.symmetry && { symmetry: input.symmetry }), ...(input.merge && { merge: input.merge }),
      };
      const averages = await averageClasses(classParticles(particles), assignment, poses, settings, dir, exec);
      return writeClassOutputs(dir, averages, {});
    },
  });
  return classesResult(step.outputs, input.classes, input.assignment, step.reused);
}
