/**
 * Class assignment and its bookkeeping (core/classify.ts) against explicit definitions: the adjusted Rand
 * index by counting pairs of items one by one, annealing by the frequencies of its draws, class similarity by
 * its definition and on noisy maps of one and of two structures.
 */
import { describe, expect, it } from 'vitest';
import {
  type ClassMaps,
  adjustedRandIndex,
  annealedClasses,
  bestClasses,
  changedFraction,
  classSimilarity,
  classSizes,
  confusionMatrix,
  dropSmallClasses,
  similarityRatio,
} from '../core/classify.ts';
import { classMerges } from '../core/classMerge.ts';
import { softSphereMask } from '../core/filters.ts';
import { type FscCurve, fscCurve } from '../core/fsc.ts';
import { Rng } from '../core/random.ts';
import { eulerToMatrix, poseFromMatrix, transformVolume } from '../core/rotate.ts';
import { Volume } from '../core/volume.ts';

/** ARI from its definition over all pairs of items: agreements counted pair by pair (Hubert & Arabie 1985). */
function pairCountingAri(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  let both = 0;
  let inA = 0;
  let inB = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const sa = a[i] === a[j];
      const sb = b[i] === b[j];
      if (sa && sb) both++;
      if (sa) inA++;
      if (sb) inB++;
    }
  }
  const total = (n * (n - 1)) / 2;
  const expected = (inA * inB) / total;
  return (both - expected) / ((inA + inB) / 2 - expected);
}

describe('adjusted Rand index', () => {
  it('is 1 for the same partition under other labels and equals the pair-counting definition', () => {
    expect(adjustedRandIndex([0, 0, 1, 1, 2], ['b', 'b', 'a', 'a', 'c'])).toBeCloseTo(1, 15);
    const rng = new Rng(3);
    for (let t = 0; t < 20; t++) {
      const a = Array.from({ length: 40 }, () => Math.floor(rng.uniform() * 4));
      const b = a.map((x) => (rng.uniform() < 0.3 ? Math.floor(rng.uniform() * 5) : x + 10));
      expect(adjustedRandIndex(a, b)).toBeCloseTo(pairCountingAri(a, b), 12);
    }
  });

  it('is near 0 for unrelated partitions (mean over random pairs)', () => {
    const rng = new Rng(8);
    let sum = 0;
    for (let t = 0; t < 200; t++) {
      const a = Array.from({ length: 60 }, () => Math.floor(rng.uniform() * 4));
      const b = Array.from({ length: 60 }, () => Math.floor(rng.uniform() * 4));
      sum += adjustedRandIndex(a, b);
    }
    expect(Math.abs(sum / 200)).toBeLessThan(0.01);
  });
});

describe('assignment', () => {
  const scores = [
    [0.3, 0.5, NaN],
    [0.6, 0.2, 0.1],
    [NaN, NaN, NaN],
    [0.1, 0.1, 0.4],
  ];

  it('MCO-A takes the highest valid score; a particle without any is unassigned (−1)', () => {
    expect(bestClasses(scores)).toEqual([1, 0, -1, 2]);
    expect(bestClasses(scores, new Set([1]))).toEqual([0, 0, -1, 2]);
  });

  it('annealing draws classes with probability ∝ exp(CCC / T), and is MCO-A at T = 0', () => {
    expect(annealedClasses(scores, 0, new Rng(1))).toEqual(bestClasses(scores));
    const row = [[0.5, 0.45, 0.3]];
    const T = 0.05;
    const counts = [0, 0, 0];
    const rng = new Rng(12);
    const draws = 20000;
    for (let t = 0; t < draws; t++) counts[annealedClasses(row, T, rng)[0]]++;
    const weights = row[0].map((s) => Math.exp(s / T));
    const total = weights.reduce((a, b) => a + b, 0);
    weights.forEach((w, k) => {
      const p = w / total;
      // Within 4 binomial standard deviations.
      expect(Math.abs(counts[k] / draws - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / draws));
    });
    expect(() => annealedClasses(row, -1, rng)).toThrow(/temperature must be ≥ 0/);
  });

  it('drops classes below the minimum size, smallest first, reassigning their particles to their best remaining class', () => {
    // Class 2 has one particle, class 1 two; minimum 3: class 2 goes first, its particle to class 1 (its second
    // best), which makes class 1 three strong — so class 1 stays.
    const s = [
      [0.9, 0.1, 0.0], [0.8, 0.1, 0.0], [0.7, 0.2, 0.0], [0.1, 0.9, 0.0], [0.1, 0.8, 0.0], [0.0, 0.5, 0.9],
    ];
    const assignment = bestClasses(s);
    expect(classSizes(assignment, 3)).toEqual([3, 2, 1]);
    const pruned = dropSmallClasses(s, assignment, 3);
    expect(pruned.dropped).toEqual([2]);
    expect(pruned.assignment).toEqual([0, 0, 0, 1, 1, 1]);
    // A minimum of 4: then both remaining classes have 3; the tie drops the lower-numbered one, never the last.
    expect(dropSmallClasses(s, assignment, 4)).toEqual({ assignment: [1, 1, 1, 1, 1, 1], dropped: [2, 0] });
  });

  it('drops a class that has particles of only one half-set: its gold-standard average cannot be made', () => {
    const s = [[0.9, 0.1], [0.8, 0.1], [0.1, 0.9], [0.2, 0.8]];
    const pruned = dropSmallClasses(s, bestClasses(s), 1, new Set(), ['odd', 'even', 'odd', 'odd']);
    expect(pruned).toEqual({ assignment: [0, 0, 0, 0], dropped: [1] });
  });

  it('counts changed classes and tabulates truth against classes', () => {
    expect(changedFraction([0, 1, 1, 2], [0, 1, 2, 2])).toBe(0.25);
    expect(confusionMatrix(['b', 'a', 'a', 'b'], [3, 1, 1, 1])).toEqual({ truth: ['a', 'b'], classes: [1, 3], counts: [[2, 0], [1, 1]] });
  });
});

describe('merging classes that hold one structure', () => {
  const curve = (fsc: number[]): FscCurve => ({ shell: fsc.map((_, i) => i + 1), spatialFrequency: fsc.map((_, i) => (i + 1) / 64), fsc, count: fsc.map((_, i) => 4 * (i + 1) ** 2) });

  it('similarityRatio is the count-weighted cross-FSC over its one-structure expectation, C_ref,a·C_ref,b, up to the last shell', () => {
    const ownA = curve([0.9, 0.6, 0.3, 0.1]);
    const ownB = curve([0.8, 0.5, 0.2, 0.0]);
    const cref = (f: number) => Math.sqrt((2 * f) / (1 + f));
    const expected = ownA.fsc.map((f, i) => cref(f) * cref(ownB.fsc[i]));
    expect(similarityRatio(curve(expected), ownA, ownB, 4)).toBeCloseTo(1, 12);
    const half = curve(expected.map((e) => e / 2));
    expect(similarityRatio(half, ownA, ownB, 4)).toBeCloseTo(0.5, 12);
    // shells beyond the last one do not count: a cross-FSC of 0 there changes nothing
    const cut = curve([...expected.slice(0, 2), 0, 0]);
    expect(similarityRatio(cut, ownA, ownB, 2)).toBeCloseTo(1, 12);
    const weights = [4, 16];
    const byHand = (weights[0] * expected[0] + weights[1] * expected[1]) / (weights[0] * expected[0] + weights[1] * expected[1] + 36 * expected[2]);
    expect(similarityRatio(cut, ownA, ownB, 3)).toBeCloseTo(byHand, 12);
  });

  it('classMerges joins the smaller class into the larger, most similar pair first, each class merged away at most once', () => {
    const table: Record<string, number> = { '0,1': 0.99, '0,2': 0.97, '1,2': 0.96, '0,3': 0.2, '1,3': 0.3, '2,3': 0.5 };
    const similarity = (k: number, l: number) => table[`${Math.min(k, l)},${Math.max(k, l)}`];
    const sizes = [10, 12, 5, 20];
    // 0 joins 1 (smaller); 0 is gone, so 0–2 is skipped; 2 joins 1
    expect(classMerges([0, 1, 2, 3], sizes, similarity, 0.95)).toEqual([
      { class: 0, into: 1, similarity: 0.99 },
      { class: 2, into: 1, similarity: 0.96 },
    ]);
    expect(classMerges([0, 1, 2, 3], sizes, similarity, 0.995)).toEqual([]);
    // equal sizes: the higher-numbered class joins
    expect(classMerges([0, 1], [7, 7], similarity, 0.9)).toEqual([{ class: 1, into: 0, similarity: 0.99 }]);
  });

  /** Gaussian blobs (σ 2.5 voxels) at `centres` (offsets from the box centre, voxels), n³. */
  function blobs(n: number, centres: readonly [number, number, number][]): Volume {
    const v = new Volume(n, 6);
    const c = n / 2;
    for (let z = 0; z < n; z++) {
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++) {
          let value = 0;
          for (const [a, b, d] of centres) value += Math.exp(-((x - c - a) ** 2 + (y - c - b) ** 2 + (z - c - d) ** 2) / (2 * 2.5 ** 2));
          v.set(x, y, z, value);
        }
      }
    }
    return v;
  }

  /** A class's maps: two half maps of `structure` with independent noise (σ `noise`), in a frame rotated by `euler`. */
  function noisyClass(structure: Volume, euler: { phi: number; theta: number; psi: number }, noise: number, rng: Rng, mask: Float32Array): ClassMaps {
    const rotated = transformVolume(structure, poseFromMatrix(eulerToMatrix(euler), [0, 0, 0]));
    const half = () => rotated.withData(rotated.data.map((x) => x + noise * rng.gaussian()));
    const odd = half();
    const even = half();
    return { halfFsc: fscCurve(odd, even, mask), combined: odd.withData(odd.data.map((x, i) => (x + even.data[i]) / 2)) };
  }

  it('classSimilarity is about 1 for two noisy maps of one structure in different frames, and clearly less for two structures', () => {
    const n = 32;
    const arms: [number, number, number][] = [[0, 0, 0], [6, 0, 0], [0, 7, 0], [0, 0, 8], [-5, -4, 3]];
    const one = blobs(n, arms);
    const other = blobs(n, [...arms.slice(0, 4), [5, 5, -5]]); // one arm elsewhere
    const rng = new Rng(3);
    const mask = softSphereMask(n, 14, 2);
    const a = noisyClass(one, { phi: 0.2, theta: 0.3, psi: 0.1 }, 0.35, rng, mask);
    const b = noisyClass(one, { phi: 0.7, theta: 0.4, psi: -0.3 }, 0.35, rng, mask);
    const c = noisyClass(other, { phi: -0.5, theta: 0.9, psi: 0.2 }, 0.35, rng, mask);
    const options = { mask, lowpass: 18, maxShift: 3, seed: 1 };
    const same = classSimilarity(a, b, options);
    const different = classSimilarity(a, c, options);
    // measured 0.954 and 0.430 (half maps at 34 Å): the same structure falls short of 1 by what the two
    // resamplings (into its frame, then registered back) lose at the finest shells
    expect(same).toBeGreaterThan(0.93);
    expect(same).toBeLessThan(1.05);
    expect(different).toBeLessThan(0.5);
  });
});
