/**
 * Multi-reference classification (design "Classification"; the paper's MCO-A, Förster et al. 2008, Xu et al.
 * 2012, PyTom's MCO-EXMX/MCO-AC): every particle is aligned to every class reference, then assigned to the
 * class whose reference it matches best. This module holds the assignment and its bookkeeping; the alignment
 * of particle × class pairs is drivers/align.ts's (Algorithm 3 over pairs), the class averages core/average.ts.
 *
 * - MCO-A (hard assignment): the class of highest constrained CCC.
 * - MCO-AC (annealing): with temperature T > 0 a particle draws its class with probability ∝ exp(CCC_k / T),
 *   so it can leave a local optimum; T cools geometrically per iteration and at T → 0 this is MCO-A.
 * - A class whose population falls below a minimum size is dropped and its particles go to their best
 *   remaining class (Förster et al. 2008: small classes have noisy references that only attract noise).
 * - Two classes that hold the same structure (MCO-A leaves such duplicates: each is a stable optimum) are
 *   merged (core/classMerge.ts): `classSimilarity` compares their maps' cross-FSC with the one their own
 *   half-map FSCs predict.
 */
import { shellOfResolution } from './filters.ts';
import { type FscCurve, fscCurve, goldStandardResolution } from './fsc.ts';
import type { Half } from './halfmaps.ts';
import { Rng } from './random.ts';
import { referenceShell } from './reference.ts';
import { registerMaps } from './register.ts';
import type { Volume } from './volume.ts';

/** CCC of every particle (rows) against every class (columns); NaN where a class is absent or its alignment failed. */
export type ClassScores = readonly (readonly number[])[];

/** The class (column) of highest score per particle, skipping NaN and `excluded` classes; −1 when none is valid. */
export function bestClasses(scores: ClassScores, excluded: ReadonlySet<number> = new Set()): number[] {
  return scores.map((row) => {
    let best = -1;
    for (let k = 0; k < row.length; k++) {
      if (excluded.has(k) || Number.isNaN(row[k])) continue;
      if (best < 0 || row[k] > row[best]) best = k;
    }
    return best;
  });
}

/**
 * Assignment by MCO-AC: each particle draws class k with probability ∝ exp((CCC_k − CCC_max) / T) (shifted by
 * the maximum for numerical range); T = 0 is MCO-A's argmax. Draws in particle order from `rng`, so a seed
 * reproduces an assignment.
 */
export function annealedClasses(scores: ClassScores, temperature: number, rng: Rng, excluded: ReadonlySet<number> = new Set()): number[] {
  if (!(temperature >= 0)) throw new RangeError(`annealing temperature must be ≥ 0, got ${temperature}`);
  const best = bestClasses(scores, excluded);
  if (temperature === 0) return best;
  return scores.map((row, i) => {
    if (best[i] < 0) return -1;
    const top = row[best[i]];
    const weights = row.map((s, k) => (excluded.has(k) || Number.isNaN(s) ? 0 : Math.exp((s - top) / temperature)));
    const total = weights.reduce((a, b) => a + b, 0);
    let u = rng.uniform() * total;
    for (let k = 0; k < weights.length; k++) {
      u -= weights[k];
      if (u < 0 && weights[k] > 0) return k;
    }
    return best[i];
  });
}

/**
 * The starting classes: K subsets of each half-set (`halves[i]` is particle i's), shuffled with the seed, so
 * every class gets particles of both halves and the class sizes differ by at most one per half.
 */
export function randomSubsets(halves: readonly Half[], classes: number, seed: number): number[] {
  const rng = new Rng(seed);
  const assignment = new Array<number>(halves.length).fill(-1);
  for (const half of ['odd', 'even'] as const) {
    const members = halves.flatMap((h, i) => (h === half ? [i] : []));
    for (let i = members.length - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [members[i], members[j]] = [members[j], members[i]];
    }
    members.forEach((i, r) => (assignment[i] = r % classes));
  }
  return assignment;
}

/** Particles per class, for `classes` classes. */
export function classSizes(assignment: readonly number[], classes: number): number[] {
  const sizes = new Array<number>(classes).fill(0);
  for (const k of assignment) if (k >= 0) sizes[k]++;
  return sizes;
}

export interface PrunedAssignment {
  assignment: number[];
  /** Classes dropped this time, because fewer than minSize particles chose them. */
  dropped: number[];
}

/**
 * Drops every class chosen by fewer than `minSize` particles, or by none of one half-set (gold-standard class
 * averages need both; `halves[i]` is particle i's), never the last one standing, and reassigns its particles to
 * their best remaining class. Dropping one class can push another below the minimum, so this repeats, smallest
 * class first (ties: the lower-numbered), until every remaining class is viable.
 */
export function dropSmallClasses(
  scores: ClassScores,
  assignment: readonly number[],
  minSize: number,
  alreadyDropped: ReadonlySet<number> = new Set(),
  halves?: readonly Half[],
): PrunedAssignment {
  const classes = scores[0]?.length ?? 0;
  const excluded = new Set(alreadyDropped);
  const dropped: number[] = [];
  let current = [...assignment];
  const inBothHalves = (k: number) => !halves || (['odd', 'even'] as const).every((h) => current.some((c, i) => c === k && halves[i] === h));
  for (;;) {
    const sizes = classSizes(current, classes);
    const alive = sizes.map((_, k) => k).filter((k) => !excluded.has(k));
    if (alive.length <= 1) break;
    const small = alive.filter((k) => sizes[k] < minSize || !inBothHalves(k)).sort((a, b) => sizes[a] - sizes[b] || a - b);
    if (small.length === 0) break;
    excluded.add(small[0]);
    dropped.push(small[0]);
    const best = bestClasses(scores, excluded);
    current = current.map((k, i) => (k === small[0] || k < 0 ? best[i] : k));
  }
  return { assignment: current, dropped };
}

/** Fraction of particles whose class differs between two assignments of the same particles. */
export function changedFraction(before: readonly number[], after: readonly number[]): number {
  if (before.length !== after.length) throw new RangeError(`assignments of ${before.length} and ${after.length} particles`);
  if (before.length === 0) return 0;
  let changed = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) changed++;
  return changed / before.length;
}

/** Contingency table: rows the truth labels (sorted), columns the assigned classes (sorted). */
export interface ConfusionMatrix {
  truth: string[];
  classes: number[];
  counts: number[][];
}

export function confusionMatrix(truth: readonly string[], assigned: readonly number[]): ConfusionMatrix {
  if (truth.length !== assigned.length) throw new RangeError(`${truth.length} truth labels for ${assigned.length} assignments`);
  const rows = [...new Set(truth)].sort();
  const cols = [...new Set(assigned)].sort((a, b) => a - b);
  const counts = rows.map(() => new Array<number>(cols.length).fill(0));
  truth.forEach((t, i) => counts[rows.indexOf(t)][cols.indexOf(assigned[i])]++);
  return { truth: rows, classes: cols, counts };
}

const pairs = (n: number) => (n * (n - 1)) / 2;

/**
 * Adjusted Rand index (Hubert & Arabie 1985) of two partitions of the same items: 1 for identical partitions
 * (up to labels), ~0 for chance agreement. From the contingency table n_ij with row sums a_i and column sums
 * b_j: ARI = (Σ C(n_ij,2) − E) / (½(Σ C(a_i,2) + Σ C(b_j,2)) − E), E = Σ C(a_i,2)·Σ C(b_j,2) / C(n,2).
 */
export function adjustedRandIndex(a: readonly (string | number)[], b: readonly (string | number)[]): number {
  if (a.length !== b.length) throw new RangeError(`partitions of ${a.length} and ${b.length} items`);
  const cells = new Map<string, number>();
  const rows = new Map<string, number>();
  const cols = new Map<string, number>();
  const bump = (m: Map<string, number>, key: string) => m.set(key, (m.get(key) ?? 0) + 1);
  a.forEach((x, i) => {
    bump(cells, JSON.stringify([x, b[i]]));
    bump(rows, JSON.stringify(x));
    bump(cols, JSON.stringify(b[i]));
  });
  const sum = (m: Map<string, number>) => [...m.values()].reduce((s, x) => s + pairs(x), 0);
  const index = sum(cells);
  const rowSum = sum(rows);
  const colSum = sum(cols);
  const expected = (rowSum * colSum) / pairs(a.length);
  const max = (rowSum + colSum) / 2;
  // Both partitions trivial (one cluster each, or all singletons): they agree completely.
  if (max === expected) return 1;
  return (index - expected) / (max - expected);
}

/** What classSimilarity needs of a class: its combined average, and the FSC of its half-set averages inside the comparison's mask. */
export interface ClassMaps {
  combined: Volume;
  halfFsc: FscCurve;
}

/**
 * How alike two class maps are, relative to how alike they would be if both held one structure: 1 for the
 * same structure, less for different ones. The second map is registered onto the first (FRM + SAG,
 * core/register.ts; classes settle in frames of their own), then their cross-FSC is compared, shell by shell
 * up to the coarser class's gold-standard resolution, with its expectation for one structure: a full map's
 * correlation with the structure is C_ref = √(2·FSC/(1 + FSC)) of its half maps (Rosenthal & Henderson 2003),
 * so two maps of it correlate as C_ref,a·C_ref,b. The ratio is Σ n_s·FSC_ab(s) / Σ n_s·C_ref,a(s)·C_ref,b(s),
 * n_s the shell's Fourier voxels. (Measured on the four-structure mixture of docs/results-extensions.md: two
 * GroEL14 classes 1.10–1.14, the GroEL7 ring against p97 0.81–0.86, other pairs 0.27–0.78.)
 */
export function classSimilarity(a: ClassMaps, b: ClassMaps, options: { mask: Float32Array; lowpass: number; maxShift: number; seed?: number }): number {
  const { n, voxelSize } = a.combined;
  const [ownA, ownB] = [a.halfFsc, b.halfFsc];
  const registered = registerMaps(a.combined, b.combined, {
    mask: options.mask,
    lowpassShell: referenceShell(n, voxelSize, options.lowpass),
    maxShift: options.maxShift,
    seed: options.seed ?? 0,
  }).registered;
  const cross = fscCurve(a.combined, registered, options.mask);
  const coarser = Math.max(goldStandardResolution(ownA, voxelSize, n), goldStandardResolution(ownB, voxelSize, n));
  return similarityRatio(cross, ownA, ownB, shellOfResolution(n, voxelSize, coarser));
}

/** Σ n_s·cross(s) / Σ n_s·C_ref,a(s)·C_ref,b(s) over shells 1 … lastShell (classSimilarity). */
export function similarityRatio(cross: FscCurve, ownA: FscCurve, ownB: FscCurve, lastShell: number): number {
  const cref = (f: number) => Math.sqrt(Math.max(0, (2 * f) / (1 + f)));
  let measured = 0;
  let expected = 0;
  cross.shell.forEach((s, i) => {
    if (s > lastShell) return;
    measured += cross.count[i] * cross.fsc[i];
    expected += cross.count[i] * cref(ownA.fsc[i]) * cref(ownB.fsc[i]);
  });
  return expected > 0 ? measured / expected : 0;
}
