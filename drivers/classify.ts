/**
 * One iteration of multi-reference classification (core/classify.ts; the paper's MCO-A): the driver behind
 * `subtomo classify` and the classifying campaign's steps.
 *
 *   1. `alignToClasses`: every particle against every live class reference of its own half-set — FRM
 *      candidates in this process, then Algorithm 3 over particle × class × candidate on MPI ranks
 *      (drivers/align.ts); the best candidate per (particle, class) gives that pair's CCC and pose.
 *   2. assignment (core/classify.ts: MCO-A or annealed MCO-AC, small classes dropped);
 *   3. `averageClasses`: each live class averaged per half-set with its particles' poses for that class
 *      (wedge- or CTF-weighted, the class's symmetry on each half), its gold-standard FSC resolution, and its
 *      next references: each half's own average low-passed at that resolution (the halves never mix).
 */
import { join } from 'node:path';
import { softSphereMask } from '../core/filters.ts';
import { fscCurve, goldStandardResolution } from '../core/fsc.ts';
import type { Half } from '../core/halfmaps.ts';
import { type SphereMask, referenceFrom } from '../core/reference.ts';
import type { Pose } from '../core/rotate.ts';
import type { Volume } from '../core/volume.ts';
import type { TiltRange } from '../core/wedge.ts';
import { readMrc, writeMrc } from '../io/mrc.ts';
import type { AverageJob, CtfImageRef, ParticleAlignment } from '../model/jobs.ts';
import type { Particle, ParticleCtf, ParticleList } from '../model/particles.ts';
import { type AlignSettings, type AlignTarget, type VolumeReader, alignJob, findCandidates, runAlignment } from './align.ts';
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

/**
 * Aligns every particle to every live class of its own half: FRM candidates, then the refinement of every
 * particle × class × candidate, on MPI ranks when `exec.mpi` is set. All pairs' results go to `resultsPath`.
 */
export async function alignToClasses(
  particles: readonly ClassParticle[],
  references: readonly (ClassReferences | null)[],
  settings: AlignSettings,
  read: VolumeReader,
  exec: Execution,
  resultsPath: string,
  progress: { frm?(done: number, name: string): void; refineStart?(pairs: number): void } = {},
): Promise<ClassAlignment> {
  const { targets, live } = classTargets(particles, references);
  const withCandidates = await findCandidates(targets, settings, read, progress.frm);
  progress.refineStart?.(withCandidates.reduce((sum, t) => sum + t.candidates.length, 0));
  const { results } = await runAlignment(alignJob(withCandidates, settings, { results: resultsPath }), exec);
  return classAlignmentOf(results, particles.length, live, references.length);
}

export interface ClassAverage {
  /** The class number (0-based). */
  index: number;
  size: number;
  maps: AverageJob['out'];
  /** Gold-standard FSC 0.143 resolution of its half maps, Å. */
  resolution: number;
  /** Its next references: each half's own average, masked and low-passed at the coarsest class resolution. */
  references: ClassReferences;
}

export interface ClassAveraging {
  /** Symmetry imposed on every class average (each half on its own). */
  symmetry?: string;
  /** Low-pass of the next references, Å; default the coarsest gold-standard resolution among the classes. */
  lowpass?: number;
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
  const halves: { odd: Volume; even: Volume }[] = [];
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
    const [odd, even] = await Promise.all([readMrc(job.out.odd), readMrc(job.out.even)]);
    const resolution = goldStandardResolution(fscCurve(odd, even, softSphereMask(odd.n, settings.mask.radius, settings.mask.edge)), odd.voxelSize, odd.n);
    const references = { odd: join(classDir, 'reference_odd.mrc'), even: join(classDir, 'reference_even.mrc') };
    out.push({ index: k, size: members.length, maps: job.out, resolution, references });
    const combined = settings.commonStart ? await readMrc(job.out.combined) : null;
    halves.push(combined ? { odd: combined, even: combined } : { odd, even });
  }
  // One low-pass for every class: CCCs against references of different bandwidths are not comparable (the
  // narrower band correlates better with noisy particles whatever they are), and the assignment compares them.
  const lowpass = settings.lowpass ?? Math.max(...out.map((c) => c.resolution));
  for (const [j, c] of out.entries()) {
    for (const half of ['odd', 'even'] as const) {
      await writeMrc(c.references[half], referenceFrom(halves[j][half], lowpass, settings.mask), {
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
