/**
 * Descriptive statistics and the paired tests used to compare alignment methods (per-particle errors of
 * two methods on the same particles). Special functions are implemented here (no dependency):
 * lgamma (Lanczos), regularized incomplete beta (continued fraction) and gamma (series / continued
 * fraction), erfc through Q(½, x²). All p-values are two-sided.
 */

type Sample = ArrayLike<number>;

function checkSample(name: string, x: Sample, minLength: number): void {
  if (x.length < minLength) throw new RangeError(`${name} needs at least ${minLength} value(s), got ${x.length}`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new RangeError(`${name}: value #${i + 1} is not a finite number (${x[i]})`);
  }
}

export function mean(x: Sample): number {
  checkSample('mean', x, 1);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}

/** Sample variance with divisor n − 1 (ddof = 1, as R's var); ddof = 0 gives the population variance. */
export function variance(x: Sample, ddof = 1): number {
  checkSample('variance', x, ddof + 1);
  const m = mean(x);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] - m) * (x[i] - m);
  return s / (x.length - ddof);
}

/** Sample standard deviation (divisor n − 1 unless ddof says otherwise). */
export function std(x: Sample, ddof = 1): number {
  return Math.sqrt(variance(x, ddof));
}

export function median(x: Sample): number {
  checkSample('median', x, 1);
  const s = Float64Array.from(x).sort();
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h] : 0.5 * (s[h - 1] + s[h]);
}

// ---------------------------------------------------------------- special functions

const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** ln Γ(x) for x > 0 (Lanczos g = 7, relative error ~1e-15). */
export function lgamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`lgamma is defined here for x > 0, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lgamma(1 - x); // reflection keeps accuracy near 0
  const z = x - 1;
  let a = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) a += LANCZOS[i] / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return HALF_LOG_2PI + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

const EPS = 1e-15;
const TINY = 1e-300;
const MAX_ITERATIONS = 1000;

/** Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes §6.4). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= MAX_ITERATIONS; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  throw new Error(`incomplete beta: continued fraction did not converge (a=${a}, b=${b}, x=${x})`);
}

/** Regularized incomplete beta I_x(a, b), a, b > 0, 0 ≤ x ≤ 1. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError(`incomplete beta needs a, b > 0, got a=${a}, b=${b}`);
  if (!(x >= 0 && x <= 1)) throw new RangeError(`incomplete beta needs 0 ≤ x ≤ 1, got ${x}`);
  if (x === 0 || x === 1) return x;
  const front = Math.exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  // the continued fraction converges fast only below the mean; use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a)
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(a, b, x)) / a;
  return 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** Regularized lower incomplete gamma P(a, x) by its series (converges fast for x < a + 1). */
function gammaSeries(a: number, x: number): number {
  let ap = a;
  let del = 1 / a;
  let sum = del;
  for (let i = 0; i < MAX_ITERATIONS; i++) {
    ap += 1;
    del *= x / ap;
    sum += del;
    if (Math.abs(del) < Math.abs(sum) * EPS) return sum * Math.exp(-x + a * Math.log(x) - lgamma(a));
  }
  throw new Error(`incomplete gamma: series did not converge (a=${a}, x=${x})`);
}

/** Regularized upper incomplete gamma Q(a, x) by its continued fraction (for x ≥ a + 1). */
function gammaContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i <= MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return Math.exp(-x + a * Math.log(x) - lgamma(a)) * h;
  }
  throw new Error(`incomplete gamma: continued fraction did not converge (a=${a}, x=${x})`);
}

/** Regularized upper incomplete gamma Q(a, x) = Γ(a, x)/Γ(a). */
export function incompleteGammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`incomplete gamma needs a > 0 and x ≥ 0, got a=${a}, x=${x}`);
  if (x === 0) return 1;
  return x < a + 1 ? 1 - gammaSeries(a, x) : gammaContinuedFraction(a, x);
}

/** Complementary error function erfc(x) = Q(½, x²) for x ≥ 0; accurate in the far tail. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  return incompleteGammaQ(0.5, x * x);
}

/** Standard normal CDF Φ(z). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** Student t CDF with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`Student t needs df > 0, got ${df}`);
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/** Two-sided p-value P(|T| ≥ |t|) for Student t with `df` degrees of freedom. */
export function studentTTwoSidedP(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`Student t needs df > 0, got ${df}`);
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

// ---------------------------------------------------------------- paired tests

function differences(test: string, x: Sample, y: Sample | undefined): Float64Array {
  checkSample(`${test}: first sample`, x, 1);
  if (!y) return Float64Array.from(x);
  checkSample(`${test}: second sample`, y, 1);
  if (x.length !== y.length) {
    throw new RangeError(`${test} needs paired samples of equal length, got ${x.length} and ${y.length}`);
  }
  const d = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) d[i] = x[i] - y[i];
  return d;
}

export interface TTestResult {
  t: number;
  df: number;
  /** Two-sided. */
  p: number;
  /** mean(x − y). */
  meanDifference: number;
}

/** Paired Student t-test of mean(x − y) = 0 (or one-sample test of mean(x) = 0 when y is omitted). */
export function pairedTTest(x: Sample, y?: Sample): TTestResult {
  const d = differences('paired t-test', x, y);
  if (d.length < 2) throw new RangeError(`paired t-test needs at least 2 pairs, got ${d.length}`);
  const m = mean(d);
  const sd = std(d);
  if (sd === 0) throw new RangeError('paired t-test: all differences are identical, so t is undefined');
  const df = d.length - 1;
  const t = m / (sd / Math.sqrt(d.length));
  return { t, df, p: studentTTwoSidedP(t, df), meanDifference: m };
}

export interface WilcoxonResult {
  /** Sum of the ranks of positive differences (R's V). */
  wPlus: number;
  /** Sum of the ranks of negative differences. */
  wMinus: number;
  /** Non-zero differences used. */
  n: number;
  /** Zero differences discarded (Wilcoxon's method). */
  zeros: number;
  /** Whether some |differences| were tied (average ranks were used). */
  ties: boolean;
  method: 'exact' | 'normal';
  /** Normal-approximation z (continuity-corrected if requested); NaN for the exact test. */
  z: number;
  /** Two-sided. */
  p: number;
}

export interface WilcoxonOptions {
  /** 'auto' (default): exact for n ≤ 25 without ties, normal approximation otherwise. */
  method?: 'auto' | 'exact' | 'normal';
  /** Continuity correction of the normal approximation (default true). */
  continuityCorrection?: boolean;
}

/** Largest n for which 'auto' uses the exact null distribution. */
export const WILCOXON_EXACT_MAX_N = 25;

/**
 * Wilcoxon signed-rank test of x − y symmetric about 0 (one-sample test of x when y is omitted).
 * Zero differences are dropped (Wilcoxon 1945, scipy's zero_method='wilcox'); tied |differences| get
 * average ranks. Exact: two-sided p = min(1, 2·P(W ≤ min(W+, W−))) from the null distribution of W+ over
 * the 2ⁿ sign patterns. Normal: mean n(n+1)/4, variance n(n+1)(2n+1)/24 − Σ(t³ − t)/48 over tie groups,
 * |W+ − mean| reduced by 0.5 (not below 0) when continuity-corrected. scipy's method='auto' differs: it
 * leaves the exact test when zeros are present and uses a permutation test for small samples with ties.
 */
export function wilcoxonSignedRank(x: Sample, y?: Sample, options: WilcoxonOptions = {}): WilcoxonResult {
  const method = options.method ?? 'auto';
  const continuity = options.continuityCorrection ?? true;
  const all = differences('Wilcoxon signed-rank test', x, y);
  const d = all.filter((v) => v !== 0);
  const zeros = all.length - d.length;
  const n = d.length;
  if (n === 0) throw new RangeError('Wilcoxon signed-rank test: all differences are zero, nothing to rank');

  const order = Array.from(d.keys()).sort((i, j) => Math.abs(d[i]) - Math.abs(d[j]));
  let wPlus = 0;
  let tieCorrection = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    const size = Math.abs(d[order[start]]);
    while (end < n && Math.abs(d[order[end]]) === size) end++;
    const rank = (start + 1 + end) / 2; // average of ranks start+1 … end
    for (let k = start; k < end; k++) if (d[order[k]] > 0) wPlus += rank;
    const t = end - start;
    tieCorrection += t * t * t - t;
    start = end;
  }
  const total = (n * (n + 1)) / 2;
  const wMinus = total - wPlus;
  const ties = tieCorrection > 0;

  const useExact = method === 'exact' || (method === 'auto' && n <= WILCOXON_EXACT_MAX_N && !ties);
  if (useExact) {
    if (ties) throw new RangeError('Wilcoxon signed-rank test: the exact distribution does not apply to tied |differences|; use the normal approximation');
    const p = Math.min(1, 2 * signedRankCdf(n, Math.min(wPlus, wMinus)));
    return { wPlus, wMinus, n, zeros, ties, method: 'exact', z: NaN, p };
  }
  const mu = total / 2;
  const sigma = Math.sqrt((n * (n + 1) * (2 * n + 1)) / 24 - tieCorrection / 48);
  if (!(sigma > 0)) throw new RangeError('Wilcoxon signed-rank test: zero variance of the statistic (too few differences)');
  const deviation = Math.max(0, Math.abs(wPlus - mu) - (continuity ? 0.5 : 0));
  const z = (Math.sign(wPlus - mu) * deviation) / sigma;
  return { wPlus, wMinus, n, zeros, ties, method: 'normal', z, p: Math.min(1, erfc(Math.abs(z) / Math.SQRT2)) };
}

/** P(W+ ≤ w) under H0 for n untied non-zero differences: count sign patterns by dynamic programming. */
function signedRankCdf(n: number, w: number): number {
  const total = (n * (n + 1)) / 2;
  const ways = new Float64Array(total + 1);
  ways[0] = 1;
  for (let rank = 1; rank <= n; rank++) {
    for (let s = total; s >= rank; s--) ways[s] += ways[s - rank];
  }
  let below = 0;
  for (let s = 0; s <= Math.floor(w); s++) below += ways[s];
  return below / 2 ** n;
}
