/**
 * Class assignment and its bookkeeping (core/classify.ts) against explicit definitions: the adjusted Rand
 * index by counting pairs of items one by one, annealing by the frequencies of its draws.
 */
import { describe, expect, it } from 'vitest';
import { adjustedRandIndex, annealedClasses, bestClasses, changedFraction, classSizes, confusionMatrix, dropSmallClasses } from '../core/classify.ts';
import { Rng } from '../core/random.ts';

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
