/**
 * One iteration of multi-reference classification (core/classify.ts; the paper's MCO-A): the driver behind
 * `subtomo classify` and the classifying campaign's steps.
 *
 *   1. `classPairs`: every particle against every live class reference of its own half-set, FRM candidates;
 *      each pair scored at its candidates' FRM rotation and FTM shift (`scoringSettings`, Algorithm 3 over
 *      particle × class × candidate on MPI ranks, drivers/align.ts), the best candidate giving its CCC and pose;
 *   2. assignment (core/classify.ts: MCO-A or annealed MCO-AC, small classes dropped);
 *   3. each particle's pair with its class refined (`assignedPairs`, `withRefinedPoses`);
 *   4. `averageClasses`: each live class averaged per half-set with its particles' poses for that class
 *      (wedge- or CTF-weighted, the class's symmetry on each half), its gold-standard FSC resolution, its
 *      next references (each half's own average low-passed at one band; the halves never mix), and the
 *      merges of classes holding one structure.
 */
import { join } from 'node:path';
import { type ClassMaps, classSimilarity, classSizes } from '../core/classify.ts';
import { classMerges } from '../core/classMerge.ts';
import { softSphereMask } from '../core/filters.ts';
import { fscCurve, goldStandardResolution } from '../core/fsc.ts';
import type { Half } from '../core/halfmaps.ts';
import { type SphereMask, referenceFrom } from '../core/reference.ts';
import type { Pose } from '../core/rotate.ts';
import type { Volume } from '../core/volume.ts';
import type { TiltRange } from '../core/wedge.ts';
import { readMrc, writeMrc } from '../io/mrc.ts';
import { FRM_ONLY_REFINEMENT } from '../model/defaults.ts';
import type { AlignParticle, AverageJob, CtfImageRef, ParticleAlignment } from '../model/jobs.ts';
import type { Particle, ParticleCtf, ParticleList } from '../model/particles.ts';
import { type AlignSettings, type AlignTarget, type RefinementSettings, type VolumeReader, findCandidates } from './align.ts';
import { runAverage } from './average.ts';
import type { Execution } from './execution.ts';

/** A particle to classify: what alignment and averaging need. */
export interface ClassParticle {
  name: string;
  path: string;
  tilt: TiltRange;
  half: Half;
  ctf?: ParticleCtf;
  ctfImage?: CtfImageRef;
}

/** A class's references, one per half-set (map files). */
export interface ClassReferences {
  odd: string;
  even: string;
}

export interface ClassAlignment {
  /** scores[i][k]: CCC of particle i against class k; NaN for a dropped class. */
  scores: number[][];
  /** poses[i][k]: particle ≈ Λ_pose (class k's reference); null for a dropped class. */
  poses: (Pose | null)[][];
}

/**
 * The alignment targets of every particle × live class (`references[k]` null = dropped), particle-major and
 * class-minor, each against the class's reference of the particle's own half-set; `live` lists the classes.
 */
export function classTargets(particles: readonly ClassParticle[], references: readonly (ClassReferences | null)[]): { targets: AlignTarget[]; live: number[] } {
  const live = references.flatMap((r, k) => (r ? [k] : []));
  if (live.length === 0) throw new Error('no class left to align to');
  const targets = particles.flatMap((p) => live.map((k) => ({
    name: `${p.name} (class ${k + 1})`, path: p.path, tilt: p.tilt, ...(p.ctf && { ctf: p.ctf }), ...(p.ctfImage && { ctfImage: p.ctfImage }),
    reference: references[k]![p.half],
  })));
  return { targets, live };
}

/** Scores and poses per particle and class from the results of `classTargets`' pairs, in their order. */
export function classAlignmentOf(results: readonly ParticleAlignment[], particleCount: number, live: readonly number[], classes: number): ClassAlignment {
  if (results.length !== particleCount * live.length) {
    throw new Error(`${results.length} alignment results for ${particleCount} particles × ${live.length} classes`);
  }
  const scores = Array.from({ length: particleCount }, () => new Array<number>(classes).fill(NaN));
  const poses = Array.from({ length: particleCount }, () => new Array<Pose | null>(classes).fill(null));
  results.forEach((r, j) => {
    const i = Math.floor(j / live.length);
    const k = live[j % live.length];
    // a pair none of whose candidates refined has no score: the particle goes to any class it did align to
    scores[i][k] = r.failed ? -Infinity : r.ccc;
    poses[i][k] = r.pose;
  });
  return { scores, poses };
}

/** Every particle × live class pair with its FRM candidates, in classTargets order. */
export interface ClassPairs {
  pairs: AlignParticle[];
  live: number[];
}

/** The FRM candidates of every particle against every live class of its own half-set. */
export async function classPairs(
  particles: readonly ClassParticle[],
  references: readonly (ClassReferences | null)[],
  settings: AlignSettings,
  read: VolumeReader,
  onParticle?: (done: number, name: string) => void,
): Promise<ClassPairs> {
  const { targets, live } = classTargets(particles, references);
  return { pairs: await findCandidates(targets, settings, read, onParticle), live };
}

/**
 * How every pair is scored for the assignment: its best FRM candidate with FTM's shift, the CCC there
 * (model/defaults.ts FRM_ONLY_REFINEMENT). Refining every pair before comparing was measured to erode the
 * differences between classes — each class's refinement raises its own CCC, fitting noise as much as
 * structure (docs/classification.md) — so only each particle's pair with its assigned class is refined.
 */
export function scoringSettings<S extends RefinementSettings>(settings: S): S {
  return { ...settings, method: FRM_ONLY_REFINEMENT.method, sag: { ...FRM_ONLY_REFINEMENT.sag } };
}

/** Indices into ClassPairs.pairs of each assigned particle's pair with its class, in particle order. */
export function assignedPairs(live: readonly number[], assignment: readonly number[]): number[] {
  return assignment.flatMap((k, i) => {
    const column = live.indexOf(k);
    return column < 0 ? [] : [i * live.length + column];
  });
}

/**
 * The poses with each assigned particle's pose for its class replaced by its refinement (`refined` in
 * assignedPairs order); a pair whose refinement failed keeps its scored pose.
 */
export function withRefinedPoses(
  poses: readonly (readonly (Pose | null)[])[],
  live: readonly number[],
  assignment: readonly number[],
  refined: readonly ParticleAlignment[],
): (Pose | null)[][] {
  const pairs = assignedPairs(live, assignment);
  if (refined.length !== pairs.length) throw new Error(`${refined.length} refinements for ${pairs.length} assigned particles`);
  const out = poses.map((row) => [...row]);
  pairs.forEach((j, r) => {
    const i = Math.floor(j / live.length);
    if (!refined[r].failed) out[i][live[j % live.length]] = refined[r].pose;
  });
  return out;
}

export interface ClassAverage {
  /** The class number (0-based). */
  index: number;
  size: number;
  maps: AverageJob['out'];
  /** Gold-standard FSC 0.143 resolution of its half maps, Å. */
  resolution: number;
  /** Its next references: each half's own average, masked and low-passed (ClassAveraging.lowpass); absent once merged. */
  references?: ClassReferences;
  /** The class it was merged into (ClassAveraging.merge): it holds the same structure. */
  mergedInto?: number;
  /** Its similarity to that class (core/classify.ts classSimilarity). */
  similarity?: number;
}

export interface ClassAveraging {
  /** Symmetry imposed on every class average (each half on its own). */
  symmetry?: string;
  /**
   * Low-pass of the next references, Å: one band for every class, fixed over the iterations (PyTom's MCO-EXMX
   * fixes its bandpass too). CCCs against references of different bandwidths are not comparable, and the
   * assignment compares them; a band following the classes' resolutions (the coarsest of them) was measured to
   * collapse every reference to the worst class's blur once a small class appeared (docs/classification.md).
   */
  lowpass: number;
  /**
   * Merge classes whose maps are at least `threshold` similar (core/classify.ts classSimilarity: 1 = as alike as
   * one structure); the smaller of two joins the larger, its particles reassigned by the next alignment. Only
   * classes whose gold-standard resolution reaches `resolution` (Å; the reference band) are compared: a coarser
   * map cannot show the differences the band separates (at SNR 0.003, with every class at 45–60 Å, four
   * structures all looked like one and merged into a single class). Absent: no merging.
   */
  merge?: { threshold: number; resolution: number; maxShift: number; seed?: number };
  mask: SphereMask;
  floorFraction?: number;
  voxelSize?: number;
  /**
   * Starting classes: both half-sets' references of a class are its average over both halves. The halves are
   * classified independently after that, and a common start is what makes class k the same structure in
   * both (as RELION's gold-standard refinement starts both halves from one reference): from random subsets
   * of their own, each half's labels would settle in an order of their own, and class k's half maps would
   * hold different structures.
   */
  commonStart?: boolean;
}

/**
 * Averages each live class per half-set with its particles' poses for that class, into `dir/class_<k>/`,
 * measures its gold-standard resolution and writes its next references beside the maps.
 */
export async function averageClasses(
  particles: readonly ClassParticle[],
  assignment: readonly number[],
  poses: readonly (readonly (Pose | null)[])[],
  settings: ClassAveraging,
  dir: string,
  exec: Execution,
): Promise<ClassAverage[]> {
  const classes = [...new Set(assignment)].filter((k) => k >= 0).sort((a, b) => a - b);
  const out: ClassAverage[] = [];
  const maps: (ClassMaps & { odd: Volume; even: Volume })[] = [];
  let mask: Float32Array | undefined;
  for (const k of classes) {
    const members = particles.flatMap((p, i) => (assignment[i] === k ? [{ p, pose: poses[i][k]! }] : []));
    const classDir = join(dir, classDirName(k));
    const job: AverageJob = {
      particles: members.map(({ p, pose }) => ({
        name: p.name, path: p.path, tilt: p.tilt, pose, half: p.half, ...(p.ctf && { ctf: p.ctf }), ...(p.ctfImage && { ctfImage: p.ctfImage }),
      })),
      out: { odd: join(classDir, 'half_odd.mrc'), even: join(classDir, 'half_even.mrc'), combined: join(classDir, 'average.mrc') },
      ...(settings.floorFraction !== undefined && { floorFraction: settings.floorFraction }),
      ...(settings.voxelSize !== undefined && { voxelSize: settings.voxelSize }),
      ...(settings.symmetry && { symmetry: settings.symmetry }),
    };
    await runAverage(job, { ...exec, ...(exec.mpi && { jobFile: join(classDir, 'average-job.json') }) });
    const [odd, even, combined] = await Promise.all([readMrc(job.out.odd), readMrc(job.out.even), readMrc(job.out.combined)]);
    mask ??= softSphereMask(odd.n, settings.mask.radius, settings.mask.edge);
    const halfFsc = fscCurve(odd, even, mask);
    out.push({ index: k, size: members.length, maps: job.out, resolution: goldStandardResolution(halfFsc, odd.voxelSize, odd.n) });
    maps.push({ odd, even, combined, halfFsc });
  }
  const { lowpass } = settings;
  if (settings.merge && mask && out.length > 1) {
    const { threshold, resolution, maxShift, seed } = settings.merge;
    const resolved = out.flatMap((c, j) => (c.resolution <= resolution ? [j] : []));
    const similarities = new Map<string, number>();
    for (const [i, a] of resolved.entries()) {
      for (const b of resolved.slice(i + 1)) {
        similarities.set(`${out[a].index},${out[b].index}`, classSimilarity(maps[a], maps[b], { mask, lowpass, maxShift, ...(seed !== undefined && { seed }) }));
        await new Promise((resolve) => setImmediate(resolve)); // a registration takes about a second: let heartbeats through
      }
    }
    const similarity = (k: number, l: number) => similarities.get(`${k},${l}`)!;
    const sizes = classSizes(assignment, Math.max(...classes) + 1);
    for (const m of classMerges(resolved.map((j) => out[j].index), sizes, similarity, threshold)) {
      Object.assign(out.find((c) => c.index === m.class)!, { mergedInto: m.into, similarity: m.similarity });
    }
  }
  for (const [j, c] of out.entries()) {
    if (c.mergedInto !== undefined) continue;
    const classDir = join(dir, classDirName(c.index));
    c.references = { odd: join(classDir, 'reference_odd.mrc'), even: join(classDir, 'reference_even.mrc') };
    const source = settings.commonStart ? { odd: maps[j].combined, even: maps[j].combined } : maps[j];
    for (const half of ['odd', 'even'] as const) {
      await writeMrc(c.references[half], referenceFrom(source[half], lowpass, settings.mask), {
        labels: [`class ${c.index + 1} ${half} reference, low-pass ${lowpass.toFixed(1)} A`],
      });
    }
  }
  return out;
}

/** Column of a particle list holding each particle's true class, when it is known (simulated mixtures). */
export const TRUE_CLASS_COLUMN = 'subtomoTrueClass';

/** The true class of each of `particles` (rows of `list`), or null when the list has no TRUE_CLASS_COLUMN. */
export function trueClasses(list: ParticleList, particles: readonly Particle[]): string[] | null {
  const { tables, particleTable } = list.origin;
  const table = tables.find((t) => t.name === particleTable);
  const column = table?.columns.indexOf(TRUE_CLASS_COLUMN) ?? -1;
  if (!table || column < 0) return null;
  return particles.map((p) => (p.sourceRow === undefined ? '' : String(table.rows[p.sourceRow][column])));
}

/** Directory of class k (0-based) in an iteration's output: class_001, class_002, … */
export function classDirName(k: number): string {
  return `class_${String(k + 1).padStart(3, '0')}`;
}
