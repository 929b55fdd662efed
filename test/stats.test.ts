import { describe, expect, it } from 'vitest';
import { Rng } from '../core/random.ts';
import {
  erfc,
  incompleteBeta,
  lgamma,
  mean,
  median,
  normalCdf,
  pairedTTest,
  std,
  studentTCdf,
  studentTTwoSidedP,
  variance,
  wilcoxonSignedRank,
} from '../core/stats.ts';

// Reference values marked "scipy" were computed with scipy 1.17.1 / numpy 2.4.6 (installed on the dev
// machine), e.g. `scipy.special.betainc(2.5, 0.5, 0.3)`, `scipy.stats.ttest_rel(x, y)`,
// `scipy.stats.wilcoxon(x, y, method='asymptotic', correction=True)`.

/** Relative difference, for values spanning many decades. */
function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

// Cushny & Peebles (1905) hours of extra sleep for 10 patients under two drugs, as analysed by Student
// (1908, Biometrika 6:1–25) and shipped as R's `datasets::sleep`; `t.test(extra ~ group, data = sleep,
// paired = TRUE)` prints t = -4.0621, df = 9, p-value = 0.002833.
const sleepDrug1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
const sleepDrug2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

// Hollander & Wolfe (1973), Nonparametric Statistical Methods, p. 29: Hamilton depression scale factor at
// the first (x) and second (y) visit of 9 patients; R's `?wilcox.test` example. R prints for
// `wilcox.test(x, y, paired = TRUE, alternative = "greater")`: V = 40, p-value = 0.01953 (exact), and for
// the H&W large-sample approximation `wilcox.test(y - x, alternative = "less", exact = FALSE,
// correct = FALSE)`: V = 5, p-value = 0.01908. Both are one-sided; the statistic is symmetric under H0, so
// the two-sided p-values are twice those (scipy: 0.0390625 and 0.038151710173415135).
const depressionX = [1.83, 0.5, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.3];
const depressionY = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];

describe('descriptive statistics', () => {
  it('mean, sample std/variance and median of the sleep data', () => {
    expect(mean(sleepDrug1)).toBeCloseTo(0.75, 12);
    expect(std(sleepDrug1)).toBeCloseTo(1.7890096577591623, 12); // scipy: np.std(x, ddof=1)
    expect(variance(sleepDrug1, 0)).toBeCloseTo((1.7890096577591623 ** 2 * 9) / 10, 12);
    expect(median(sleepDrug1)).toBeCloseTo(0.35, 12); // even n: mean of 0.0 and 0.7
    expect(median([3, 1, 2])).toBe(2);
    expect(median([5])).toBe(5);
  });

  it('rejects empty samples and non-finite values with a message', () => {
    expect(() => mean([])).toThrow(/at least 1/);
    expect(() => std([1])).toThrow(/at least 2/);
    expect(() => median([1, NaN])).toThrow(/value #2 is not a finite number/);
  });
});

describe('special functions (against scipy.special / scipy.stats)', () => {
  it('lgamma', () => {
    expect(lgamma(1)).toBeCloseTo(0, 14);
    expect(lgamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 14);
    expect(rel(lgamma(0.1), 2.252712651734206)).toBeLessThan(1e-13);
    expect(rel(lgamma(4.5), 2.4537365708424423)).toBeLessThan(1e-13);
    expect(rel(lgamma(171.3), 708.1149470389971)).toBeLessThan(1e-13);
    expect(rel(lgamma(11), Math.log(3628800))).toBeLessThan(1e-14); // 10!
  });

  it('regularized incomplete beta', () => {
    expect(rel(incompleteBeta(0.3, 2.5, 0.5), 0.018927124071945658)).toBeLessThan(1e-12);
    expect(rel(incompleteBeta(0.9, 0.5, 0.5), 0.7951672353008665)).toBeLessThan(1e-12); // (2/π)·asin(√0.9)
    expect(rel(incompleteBeta(0.45, 30, 40), 0.6447480085585666)).toBeLessThan(1e-12);
    expect(incompleteBeta(0, 2, 3)).toBe(0);
    expect(incompleteBeta(1, 2, 3)).toBe(1);
    expect(() => incompleteBeta(1.5, 2, 3)).toThrow(/0 ≤ x ≤ 1/);
  });

  it('erfc and the normal CDF, including the far tail', () => {
    expect(rel(erfc(0.5), 0.4795001221869535)).toBeLessThan(1e-13);
    expect(rel(erfc(3), 2.2090496998585445e-5)).toBeLessThan(1e-12);
    expect(rel(erfc(10), 2.0884875837625446e-45)).toBeLessThan(1e-11);
    expect(rel(erfc(-1.2), 1.9103139782296354)).toBeLessThan(1e-14);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 14);
    expect(rel(normalCdf(-8), 6.22096057427174e-16)).toBeLessThan(1e-11);
    expect(rel(normalCdf(0.3), 0.6179114221889526)).toBeLessThan(1e-13);
  });

  it('Student t: the tabulated t(0.975, 9) = 2.262 gives p = 0.05; CDF values match scipy', () => {
    expect(studentTTwoSidedP(2.262157, 9)).toBeCloseTo(0.05000001330443163, 12); // scipy: 2*t.sf(2.262157, 9)
    expect(studentTTwoSidedP(-2.262157, 9)).toBeCloseTo(0.05000001330443163, 12);
    expect(rel(studentTCdf(-3.5, 3), 0.019740518809641387)).toBeLessThan(1e-12);
    expect(rel(studentTCdf(0.7, 2.5), 0.728297528405226)).toBeLessThan(1e-12);
    // df → ∞ tends to the normal distribution
    expect(studentTTwoSidedP(1.959964, 1e6)).toBeCloseTo(0.05000027548810374, 9);
    expect(studentTCdf(0, 4)).toBe(0.5);
  });
});

describe('paired t-test', () => {
  it("reproduces Student's sleep data: t = −4.0621, df = 9, p = 0.002833", () => {
    const r = pairedTTest(sleepDrug1, sleepDrug2);
    expect(r.t).toBeCloseTo(-4.0621, 4);
    expect(r.df).toBe(9);
    expect(r.p).toBeCloseTo(0.002833, 6);
    expect(rel(r.p, 0.002832890197384273)).toBeLessThan(1e-10); // scipy.stats.ttest_rel
    expect(r.meanDifference).toBeCloseTo(-1.58, 12);
  });

  it('matches scipy on 40 pairs and is antisymmetric in the order of the samples', () => {
    const r = pairedTTest(n40a, n40b);
    expect(rel(r.t, -0.24931576962050978)).toBeLessThan(1e-10);
    expect(rel(r.p, 0.8044249759997416)).toBeLessThan(1e-10);
    const swapped = pairedTTest(n40b, n40a);
    expect(swapped.t).toBeCloseTo(-r.t, 12);
    expect(swapped.p).toBeCloseTo(r.p, 12);
  });

  it('rejects unequal lengths and constant differences', () => {
    expect(() => pairedTTest([1, 2, 3], [1, 2])).toThrow(/equal length, got 3 and 2/);
    expect(() => pairedTTest([1, 2, 3], [0, 1, 2])).toThrow(/all differences are identical/);
  });
});

// 40 pairs rounded to 0.1 (ties and zero differences), drawn with numpy.random.default_rng(0):
// a = round(normal(0.3, 1, 40), 1), b = round(normal(0, 1, 40), 1).
const n40a = [0.4, 0.2, 0.9, 0.4, -0.2, 0.7, 1.6, 1.2, -0.4, -1.0, -0.3, 0.3, -2.0, 0.1, -0.9, -0.4, -0.2, -0.0, 0.7, 1.3, 0.2, 1.7, -0.4, 0.7, 1.2, 0.4, -0.4, -0.6, -0.2, 0.5, -0.7, 0.1, 0.1, 0.8, 0.5, 0.7, -0.4, 0.2, 1.1, 1.8];
const n40b = [-1.3, 1.5, 1.3, 0.8, 0.3, -0.3, 1.5, 2.0, 1.8, 1.3, 0.4, -1.2, -0.0, 0.7, -1.3, 0.4, 0.4, 0.7, -1.2, -0.7, -0.4, -1.2, 1.7, -0.5, 0.3, -0.3, 1.6, 1.3, 0.6, -2.2, 0.1, 0.7, 1.0, -0.6, 1.8, -1.3, -0.7, 0.9, 0.0, 2.0];

/** Two-sided p by enumerating all 2ⁿ sign patterns of the ranks 1…n (the definition of the exact test). */
function bruteForceExactP(wPlus: number, n: number): number {
  const mu = (n * (n + 1)) / 4;
  let extreme = 0;
  for (let mask = 0; mask < 2 ** n; mask++) {
    let w = 0;
    for (let r = 1; r <= n; r++) if (mask & (1 << (r - 1))) w += r;
    if (Math.abs(w - mu) >= Math.abs(wPlus - mu) - 1e-9) extreme++;
  }
  return extreme / 2 ** n;
}

describe('Wilcoxon signed-rank test', () => {
  it('Hollander & Wolfe depression data, exact: V = 40, two-sided p = 2 × 0.01953', () => {
    const r = wilcoxonSignedRank(depressionX, depressionY);
    expect(r.method).toBe('exact');
    expect(r.wPlus).toBe(40);
    expect(r.wMinus).toBe(5);
    expect(r.p / 2).toBeCloseTo(0.01953, 5);
    expect(r.p).toBe(0.0390625); // = 20/512, scipy method='exact'
  });

  it('Hollander & Wolfe large-sample approximation without correction: p = 2 × 0.01908', () => {
    const r = wilcoxonSignedRank(depressionY.map((y, i) => y - depressionX[i]), undefined, {
      method: 'normal',
      continuityCorrection: false,
    });
    expect(r.wPlus).toBe(5);
    expect(r.p / 2).toBeCloseTo(0.01908, 5);
    expect(rel(r.p, 0.038151710173415135)).toBeLessThan(1e-10); // scipy
    const corrected = wilcoxonSignedRank(depressionX, depressionY, { method: 'normal' });
    expect(rel(corrected.p, 0.04401098401295143)).toBeLessThan(1e-10); // scipy, correction=True
  });

  it("Wikipedia's worked example (one zero, one tie): W = Σ signed ranks = 9 over N = 9; p as scipy", () => {
    // en.wikipedia.org/wiki/Wilcoxon_signed-rank_test, "Example" (x₂ vs x₁ for 10 pairs); it reports
    // W = 9 after dropping the zero difference and compares with a critical value instead of a p-value.
    const x2 = [125, 115, 130, 140, 140, 115, 140, 125, 140, 135];
    const x1 = [110, 122, 125, 120, 140, 124, 123, 137, 135, 145];
    const r = wilcoxonSignedRank(x2, x1);
    expect(r.zeros).toBe(1);
    expect(r.n).toBe(9);
    expect(r.ties).toBe(true);
    expect(r.method).toBe('normal');
    expect(r.wPlus - r.wMinus).toBe(9);
    expect(Math.min(r.wPlus, r.wMinus)).toBe(18); // scipy's statistic
    expect(rel(r.p, 0.6352893188352069)).toBeLessThan(1e-10); // scipy asymptotic, correction=True
  });

  it('matches scipy on 40 pairs with ties and zeros (normal approximation with tie correction)', () => {
    const r = wilcoxonSignedRank(n40a, n40b);
    expect(r.method).toBe('normal');
    expect(r.ties).toBe(true);
    expect(Math.min(r.wPlus, r.wMinus)).toBe(382.5);
    expect(rel(r.p, 0.7165703480218841)).toBeLessThan(1e-10);
  });

  it('exact p equals brute-force enumeration of sign patterns; auto switches to normal above n = 25', () => {
    const rng = new Rng(42);
    for (const n of [5, 12, 16]) {
      const d = Array.from({ length: n }, () => rng.gaussian() + 0.4);
      const r = wilcoxonSignedRank(d);
      expect(r.method).toBe('exact');
      expect(r.p).toBeCloseTo(bruteForceExactP(r.wPlus, n), 12);
    }
    const at25 = wilcoxonSignedRank(Array.from({ length: 25 }, () => rng.gaussian()));
    const at26 = wilcoxonSignedRank(Array.from({ length: 26 }, () => rng.gaussian()));
    expect(at25.method).toBe('exact');
    expect(at26.method).toBe('normal');
  });

  it('the normal approximation approaches the exact p for n = 25', () => {
    const rng = new Rng(7);
    const d = Array.from({ length: 25 }, () => rng.gaussian() + 0.5);
    const exact = wilcoxonSignedRank(d).p;
    const normal = wilcoxonSignedRank(d, undefined, { method: 'normal' }).p;
    expect(Math.abs(exact - normal)).toBeLessThan(0.1 * exact + 1e-3);
  });

  it('rejects all-zero differences and an exact test with ties', () => {
    expect(() => wilcoxonSignedRank([1, 2], [1, 2])).toThrow(/all differences are zero/);
    expect(() => wilcoxonSignedRank([1, -1, 2], undefined, { method: 'exact' })).toThrow(/tied/);
  });
});
