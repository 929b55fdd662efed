/**
 * Spherical harmonics for fast rotational matching (Kovacs & Wriggers 2002): sampling grid, forward
 * transform and the Wigner d-matrices at β = π/2.
 *
 * Conventions (those of quantum mechanics, so that rotations follow the standard Wigner D-matrices):
 * - Y_lm(θ, φ) = P̄_l^m(cos θ)·e^{imφ}, orthonormal on the unit sphere, Condon–Shortley phase included
 *   (Y_11 = −√(3/8π)·sin θ·e^{iφ}); Y_{l,−m} = (−1)^m·conj(Y_lm). A direction is
 *   (sin θ cos φ, sin θ sin φ, cos θ) = (x, y, z) in the volume axes.
 * - Coefficients f_lm = ∫ f·conj(Y_lm) dΩ for l < B (the bandwidth), stored as interleaved complex numbers
 *   at `shIndex(l, m) = l² + l + m`, B² entries in all.
 * - Grid (Driscoll & Healy 1994 / Healy et al. 2003 variant without the poles): θ_j = π(2j+1)/(4B),
 *   φ_k = πk/B, j, k = 0 … 2B−1, sample k + 2B·j (φ fastest). The θ nodes are Chebyshev nodes in cos θ, so
 *   Fejér's first rule integrates every polynomial in cos θ of degree < 2B exactly; that covers every
 *   product Y_lm·conj(Y_l'm) with l, l' < B, so the transform of a band-limited function is exact.
 *   We prefer this to Gauss–Legendre (B nodes in θ instead of 2B) because the equiangular grid is the one
 *   FRM and SOFT use, its nodes are closed-form, and the θ ↔ π − θ pairing below already halves the
 *   Legendre work; the sampling cost difference does not matter next to the SO(3) FFT.
 * - d^l_{m'm}(β) = <l m'| e^{−iβJy} |l m>, so that for R = Rz(α)·Ry(β)·Rz(γ) (active) and
 *   (Λ_R f)(x) = f(R⁻¹x):  Λ_R Y_lm = Σ_m' Y_lm'·D^l_{m'm}(R),  D^l_{m'm} = e^{−im'α}·d^l_{m'm}(β)·e^{−imγ}.
 */
import { plan1d } from './fft.ts';

/** Largest supported bandwidth: the SO(3) grid of core/so3corr.ts is (2B)³, far beyond memory above this. */
export const MAX_BANDWIDTH = 256;

export interface SphereGrid {
  /** Bandwidth B: harmonics of degree l < B are resolved. */
  readonly bandwidth: number;
  /** 2B samples along θ and along φ. */
  readonly size: number;
  /** θ_j = π(2j+1)/(4B). */
  readonly theta: Float64Array;
  /** φ_k = πk/B. */
  readonly phi: Float64Array;
  /** Fejér weights w_j: Σ_j w_j p(cos θ_j) = ∫_{−1}^{1} p(x) dx for polynomials of degree < 2B. */
  readonly weights: Float64Array;
  /** Unit vector (x, y, z) of sample k + 2B·j at 3·(k + 2B·j). */
  readonly directions: Float64Array;
}

/** Throws a readable error unless B is a supported bandwidth (integer, 2 … MAX_BANDWIDTH). */
export function checkBandwidth(B: number): void {
  if (!Number.isInteger(B) || B < 2 || B > MAX_BANDWIDTH) {
    throw new RangeError(`spherical-harmonic bandwidth must be an integer between 2 and ${MAX_BANDWIDTH}, got ${B}`);
  }
}

/** Index of the coefficient (l, m) in a coefficient array (complex entries). */
export function shIndex(l: number, m: number): number {
  return l * l + l + m;
}

const grids = new Map<number, SphereGrid>();

/** The 2B×2B sampling grid (cached per B). */
export function sphereGrid(B: number): SphereGrid {
  let grid = grids.get(B);
  if (grid) return grid;
  checkBandwidth(B);
  const size = 2 * B;
  const theta = new Float64Array(size);
  const phi = new Float64Array(size);
  const weights = new Float64Array(size);
  for (let j = 0; j < size; j++) {
    theta[j] = (Math.PI * (2 * j + 1)) / (4 * B);
    phi[j] = (Math.PI * j) / B;
    // Fejér's first rule on N = 2B Chebyshev nodes (Waldvogel 2006).
    let s = 0;
    for (let k = 1; k <= B; k++) s += Math.cos(2 * k * theta[j]) / (4 * k * k - 1);
    weights[j] = (2 / size) * (1 - 2 * s);
  }
  const directions = new Float64Array(3 * size * size);
  for (let j = 0; j < size; j++) {
    const st = Math.sin(theta[j]);
    const ct = Math.cos(theta[j]);
    for (let k = 0; k < size; k++) {
      const o = 3 * (k + size * j);
      directions[o] = st * Math.cos(phi[k]);
      directions[o + 1] = st * Math.sin(phi[k]);
      directions[o + 2] = ct;
    }
  }
  grid = { bandwidth: B, size, theta, phi, weights, directions };
  grids.set(B, grid);
  return grid;
}

/**
 * Quadrature-weighted Legendre table for the forward transform: for m ≥ 0 and l = m … B−1,
 * Q[m][(l−m)·B + j] = (π/B)·w_j·P̄_l^m(cos θ_j) for the northern nodes j < B only (the southern node
 * 2B−1−j carries the same value times (−1)^{l+m}).
 */
interface LegendreTable {
  readonly perOrder: Float64Array[];
}

const legendreTables = new Map<number, LegendreTable>();

function legendreTable(B: number): LegendreTable {
  let table = legendreTables.get(B);
  if (table) return table;
  const grid = sphereGrid(B);
  const perOrder: Float64Array[] = [];
  for (let m = 0; m < B; m++) perOrder.push(new Float64Array((B - m) * B));
  const phiWeight = Math.PI / B;
  for (let j = 0; j < B; j++) {
    const x = Math.cos(grid.theta[j]);
    const s = Math.sin(grid.theta[j]);
    const w = phiWeight * grid.weights[j];
    // Stable three-term recursion in l for fully normalised P̄_l^m (e.g. Holmes & Featherstone 2002).
    let pmm = 1 / Math.sqrt(4 * Math.PI);
    for (let m = 0; m < B; m++) {
      if (m > 0) pmm *= -Math.sqrt((2 * m + 1) / (2 * m)) * s;
      const row = perOrder[m];
      row[j] = w * pmm;
      if (m + 1 >= B) continue;
      let prev2 = pmm;
      let prev1 = Math.sqrt(2 * m + 3) * x * pmm;
      row[B + j] = w * prev1;
      let aPrev = Math.sqrt(2 * m + 3); // a_{m+1,m}
      for (let l = m + 2; l < B; l++) {
        const a = Math.sqrt((4 * l * l - 1) / (l * l - m * m));
        const p = a * (x * prev1 - prev2 / aPrev);
        row[(l - m) * B + j] = w * p;
        prev2 = prev1;
        prev1 = p;
        aPrev = a;
      }
    }
  }
  table = { perOrder };
  legendreTables.set(B, table);
  return table;
}

interface Workspace {
  /** Ring pairs folded by parity: even[2·(mi·B + j)] = F_j(m) + F_{2B−1−j}(m), odd the difference. */
  readonly even: Float64Array;
  readonly odd: Float64Array;
  readonly line: Float64Array;
  readonly lineOut: Float64Array;
  readonly lineOut2: Float64Array;
}

const workspaces = new Map<number, Workspace>();

function workspace(B: number): Workspace {
  let ws = workspaces.get(B);
  if (!ws) {
    const size = 2 * B;
    ws = {
      even: new Float64Array(2 * size * B),
      odd: new Float64Array(2 * size * B),
      line: new Float64Array(2 * size),
      lineOut: new Float64Array(2 * size),
      lineOut2: new Float64Array(2 * size),
    };
    workspaces.set(B, ws);
  }
  return ws;
}

function coefficientArray(B: number, out: Float64Array | undefined): Float64Array {
  const len = 2 * B * B;
  if (!out) return new Float64Array(len);
  if (out.length !== len) throw new RangeError(`coefficients up to bandwidth ${B} need ${len} values, got ${out.length}`);
  return out;
}

/**
 * Sum over the northern nodes of Q_lm(j)·(even or odd fold)_j(m) for one order (mi = FFT index of m),
 * written to out at shIndex(l, m) for l = |m| … B−1. `sign` is (−1)^m for negative m (P̄_l^{−m} = (−1)^m P̄_l^m).
 */
function legendreSums(
  B: number,
  m: number,
  mi: number,
  sign: number,
  evenDegreesOnly: boolean,
  ws: Workspace,
  out: Float64Array,
): void {
  const ma = Math.abs(m);
  const q = legendreTable(B).perOrder[ma];
  const base = 2 * mi * B;
  for (let l = ma; l < B; l++) {
    const o = 2 * shIndex(l, m);
    if (evenDegreesOnly && (l & 1) === 1) {
      out[o] = 0;
      out[o + 1] = 0;
      continue;
    }
    const src = ((l + ma) & 1) === 0 ? ws.even : ws.odd;
    const qo = (l - ma) * B;
    let re = 0;
    let im = 0;
    for (let j = 0; j < B; j++) {
      const w = q[qo + j];
      re += w * src[base + 2 * j];
      im += w * src[base + 2 * j + 1];
    }
    out[o] = sign * re;
    out[o + 1] = sign * im;
  }
}

/**
 * Forward transform of complex samples (interleaved, 2·(2B)² values, sample k + 2B·j) → f_lm, l < B.
 * Exact (to rounding) for functions band-limited to l < B.
 */
export function forwardSHT(samples: Float64Array, B: number, out?: Float64Array): Float64Array {
  checkBandwidth(B);
  const size = 2 * B;
  if (samples.length !== 2 * size * size) {
    throw new RangeError(`complex samples on the ${size}×${size} sphere grid need ${2 * size * size} values, got ${samples.length}`);
  }
  const coeffs = coefficientArray(B, out);
  const ws = workspace(B);
  const plan = plan1d(size);
  const { line, lineOut, lineOut2, even, odd } = ws;
  for (let j = 0; j < B; j++) {
    line.set(samples.subarray(2 * size * j, 2 * size * (j + 1)));
    plan.transform(lineOut, line, false);
    const js = size - 1 - j;
    line.set(samples.subarray(2 * size * js, 2 * size * (js + 1)));
    plan.transform(lineOut2, line, false);
    for (let mi = 0; mi < size; mi++) {
      const o = 2 * (mi * B + j);
      const ar = lineOut[2 * mi], ai = lineOut[2 * mi + 1];
      const br = lineOut2[2 * mi], bi = lineOut2[2 * mi + 1];
      even[o] = ar + br;
      even[o + 1] = ai + bi;
      odd[o] = ar - br;
      odd[o + 1] = ai - bi;
    }
  }
  for (let m = -(B - 1); m < B; m++) {
    const sign = m < 0 && (m & 1) !== 0 ? -1 : 1;
    legendreSums(B, m, m < 0 ? m + size : m, sign, false, ws, coeffs);
  }
  return coeffs;
}

export interface RealSHTOptions {
  /**
   * Skip odd degrees and set them to exactly zero: right for even functions f(−x) = f(x), such as
   * shells of a Fourier amplitude, whose odd-degree coefficients vanish.
   */
  evenDegreesOnly?: boolean;
  out?: Float64Array;
}

/**
 * Forward transform of real samples ((2B)² values, sample k + 2B·j) → complex f_lm for all |m| ≤ l < B,
 * the negative orders filled from f_{l,−m} = (−1)^m·conj(f_lm). One complex FFT per ring pair
 * (θ_j, π − θ_j): the two real rings go in the real and imaginary parts.
 */
export function forwardSHTReal(
  samples: Float64Array | Float32Array,
  B: number,
  options: RealSHTOptions = {},
): Float64Array {
  checkBandwidth(B);
  const size = 2 * B;
  if (samples.length !== size * size) {
    throw new RangeError(`real samples on the ${size}×${size} sphere grid need ${size * size} values, got ${samples.length}`);
  }
  const coeffs = coefficientArray(B, options.out);
  const evenDegreesOnly = options.evenDegreesOnly ?? false;
  const ws = workspace(B);
  const plan = plan1d(size);
  const { line, lineOut, even, odd } = ws;
  for (let j = 0; j < B; j++) {
    const north = size * j;
    const south = size * (size - 1 - j);
    for (let k = 0; k < size; k++) {
      line[2 * k] = samples[north + k];
      line[2 * k + 1] = samples[south + k];
    }
    plan.transform(lineOut, line, false);
    // Z = A + iB with A, B the spectra of the real rings: A(m) = (Z(m) + conj Z(−m))/2,
    // B(m) = (Z(m) − conj Z(−m))/(2i); we need A ± B.
    for (let m = 0; m < B; m++) {
      const mn = m === 0 ? 0 : size - m;
      const zr = lineOut[2 * m], zi = lineOut[2 * m + 1];
      const wr = lineOut[2 * mn], wi = lineOut[2 * mn + 1];
      const o = 2 * (m * B + j);
      even[o] = 0.5 * (zr + wr + zi + wi);
      even[o + 1] = 0.5 * (zi - wi + wr - zr);
      odd[o] = 0.5 * (zr + wr - zi - wi);
      odd[o + 1] = 0.5 * (zi - wi - wr + zr);
    }
  }
  for (let m = 0; m < B; m++) {
    legendreSums(B, m, m, 1, evenDegreesOnly, ws, coeffs);
    if (m === 0) continue;
    const sign = (m & 1) === 0 ? 1 : -1;
    for (let l = m; l < B; l++) {
      const p = 2 * shIndex(l, m);
      const q = 2 * shIndex(l, -m);
      coeffs[q] = sign * coeffs[p];
      coeffs[q + 1] = -sign * coeffs[p + 1];
    }
  }
  return coeffs;
}

const wignerCache: Float64Array[] = [];

/**
 * d^l(π/2) as a (2l+1)×(2l+1) row-major matrix: entry (m'+l)·(2l+1) + (m+l) is d^l_{m'm}(π/2).
 * Cached per degree (so every bandwidth shares the tables); treat as read-only.
 *
 * Recursion in the column index (Trapani & Navaza 2006 style): from U†·Jz·U = −Jx for U = e^{−iπ/2·Jy},
 *   m'·d_{m'm} = −½·[c₊(m)·d_{m',m+1} + c₋(m)·d_{m',m−1}],  c±(m) = √((l∓m)(l±m+1)),
 * started from the closed-form last column d_{m'l}(π/2) = 2^{−l}·√C(2l, l+m') and run from m = l down to
 * m = 0 only: that direction leaves the classically forbidden corner (m² + m'² > l², where d decays
 * towards the edge) in the direction of growth, so it is stable; continuing to m < 0 would re-enter a
 * decaying region, so the other half comes from d_{m',−m}(π/2) = (−1)^{l+m'}·d_{m'm}(π/2).
 */
export function wignerDHalfPi(l: number): Float64Array {
  if (!Number.isInteger(l) || l < 0 || l >= MAX_BANDWIDTH) {
    throw new RangeError(`Wigner d degree must be an integer between 0 and ${MAX_BANDWIDTH - 1}, got ${l}`);
  }
  let d = wignerCache[l];
  if (d) return d;
  const w = 2 * l + 1;
  d = new Float64Array(w * w);
  const at = (mp: number, m: number): number => (mp + l) * w + (m + l);
  let v = Math.pow(2, -l);
  for (let mp = l; mp >= -l; mp--) {
    d[at(mp, l)] = v;
    // C(2l, l+m'−1)/C(2l, l+m') = (l+m')/(l−m'+1)
    v *= Math.sqrt((l + mp) / (l - mp + 1));
  }
  for (let mp = -l; mp <= l; mp++) {
    const row = (mp + l) * w + l; // entry of column m = 0 in this row
    for (let m = l; m >= 1; m--) {
      const cPlus = Math.sqrt((l - m) * (l + m + 1));
      const cMinus = Math.sqrt((l + m) * (l - m + 1));
      const next = m < l ? d[row + m + 1] : 0;
      d[row + m - 1] = -(2 * mp * d[row + m] + cPlus * next) / cMinus;
    }
    const sign = ((l + mp) & 1) === 0 ? 1 : -1;
    for (let m = 1; m <= l; m++) d[row - m] = sign * d[row + m];
  }
  wignerCache[l] = d;
  return d;
}
