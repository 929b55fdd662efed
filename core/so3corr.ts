/**
 * Rotational correlation of functions on the sphere over all of SO(3) with one 3D FFT
 * (Kovacs & Wriggers 2002, the FRM of the Xu-lab toolbox and PyTom).
 *
 * For functions f (rotated) and g (fixed) on the sphere with coefficients f_lm, g_lm (core/sphharm.ts),
 *   C(R) = ∫ g(x)·(Λ_R f)(x) dΩ = Σ_l Σ_{m,n} conj(g_lm)·f_ln·D^l_{mn}(R),   (Λ_R f)(x) = f(R⁻¹x),
 * so C peaks at the R with g ≈ Λ_R f. With R = Rz(φ)·Ry(θ)·Rz(ψ) and Ry(θ) = Rz(π/2)·Ry(π/2)·Rz(θ)·
 * Ry(−π/2)·Rz(−π/2) (a rotation about y is one about z seen through two quarter turns),
 *   D^l_{mn}(φ, θ, ψ) = i^{n−m} Σ_h Δ^l_{mh}·Δ^l_{nh}·e^{−i(mφ + hθ + nψ)},   Δ^l = d^l(π/2),
 * hence C(φ, θ, ψ) = Σ_{m,h,n} T(m, h, n)·e^{−i(mφ + hθ + nψ)} with
 *   T(m, h, n) = Σ_l i^{n−m}·Δ^l_{mh}·Δ^l_{nh}·S^l_{mn},   S^l_{mn} = conj(g_lm)·f_ln (summed over shells).
 * That sum is the forward (e^{−i…}, unnormalised) 3D DFT of T in core/fft.ts, evaluated at φ, θ, ψ =
 * 2π·index/N, N = 2B: angular step 360°/(2B). |m|, |h|, |n| < B, so nothing aliases on the N-point grid.
 *
 * Grid layout: value at k + N·(j + N·p) is C(φ = j·s, θ = k·s, ψ = p·s), s = 2π/N (θ index fastest).
 * θ runs over the whole circle: (φ, θ, ψ) and (φ + π, 2π − θ, ψ + π) are the same rotation, so the grid
 * covers SO(3) twice. That makes the grid periodic in all three indices (peak neighbourhoods wrap
 * everywhere, also across θ = 0 and θ = π) and peaks are reported from the half θ ∈ [0, π] only.
 */
import { fft3InPlace } from './fft.ts';
import { type Euler, type Mat3, eulerToMatrix, matrixToEuler, rotationAngle } from './rotate.ts';
import { checkBandwidth, shIndex, wignerDHalfPi } from './sphharm.ts';
import { type SymmetryGroup, rotationErrorUnderSymmetry } from './symmetry.ts';

/**
 * Per-degree cross-power S^l_{mn} = Σ_shells weight·conj(g_lm)·f_ln, accumulated shell by shell, for the
 * rotated function f and the fixed function g. Blocks are (2l+1)² complex, row m (fixed), column n (rotated).
 */
export class CrossPower {
  readonly bandwidth: number;
  /** Interleaved complex blocks, degree l starting at complex offset l(2l−1)(2l+1)/3 … (Σ_{l'<l} (2l'+1)²). */
  readonly data: Float64Array;
  /** Degrees that received a nonzero product (the others are skipped when building T). */
  readonly active: Uint8Array;
  private readonly offsets: Int32Array;

  constructor(B: number) {
    checkBandwidth(B);
    this.bandwidth = B;
    this.offsets = new Int32Array(B);
    let total = 0;
    for (let l = 0; l < B; l++) {
      this.offsets[l] = total;
      total += (2 * l + 1) * (2 * l + 1);
    }
    this.data = new Float64Array(2 * total);
    this.active = new Uint8Array(B);
  }

  /** Complex offset of the block of degree l in `data`. */
  blockOffset(l: number): number {
    return this.offsets[l];
  }

  clear(): void {
    this.data.fill(0);
    this.active.fill(0);
  }

  /** S^l_{mn} += weight·conj(fixed_lm)·rotated_ln for every degree l < B. */
  accumulate(rotated: Float64Array, fixed: Float64Array, weight: number): void {
    const B = this.bandwidth;
    const len = 2 * B * B;
    if (rotated.length !== len || fixed.length !== len) {
      throw new RangeError(`coefficients up to bandwidth ${B} need ${len} values, got ${rotated.length} and ${fixed.length}`);
    }
    const S = this.data;
    for (let l = 0; l < B; l++) {
      const first = 2 * shIndex(l, -l);
      const end = 2 * shIndex(l, l) + 2;
      if (weight === 0 || isZero(rotated, first, end) || isZero(fixed, first, end)) continue;
      this.active[l] = 1;
      const w = 2 * l + 1;
      let o = 2 * this.offsets[l];
      for (let m = 0; m < w; m++) {
        const gr = weight * fixed[first + 2 * m];
        const gi = weight * fixed[first + 2 * m + 1];
        for (let n = 0; n < w; n++, o += 2) {
          const fr = rotated[first + 2 * n];
          const fi = rotated[first + 2 * n + 1];
          S[o] += gr * fr + gi * fi;
          S[o + 1] += gr * fi - gi * fr;
        }
      }
    }
  }
}

function isZero(a: Float64Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (a[i] !== 0) return false;
  return true;
}

const transformBuffers = new Map<number, Float64Array>();

function transformBuffer(N: number): Float64Array {
  let t = transformBuffers.get(N);
  if (!t) {
    t = new Float64Array(2 * N * N * N);
    transformBuffers.set(N, t);
  }
  return t;
}

/**
 * T(m, h, n) of the module doc for S = a + i·b (b optional) into the complex N³ buffer; by linearity the
 * DFT is then C_a + i·C_b, two real correlations for the price of one FFT.
 *
 * Each (m, n) row along h is finished before the next (sum over l innermost), so the 2N³ buffer is
 * streamed once instead of once per degree. Only h ≥ 0 is summed: Δ^l_{m,−h} = (−1)^{l+m}·Δ^l_{mh} makes
 * Δ_{m,−h}·Δ_{n,−h} = (−1)^{m+n}·Δ_{mh}·Δ_{nh} for every l, so T(m, −h, n) = (−1)^{m+n}·T(m, h, n).
 */
function buildT(T: Float64Array, N: number, a: CrossPower, b: CrossPower | null): void {
  T.fill(0);
  const B = a.bandwidth;
  const Sa = a.data;
  const Sb = b ? b.data : null;
  const degrees: number[] = [];
  for (let l = 0; l < B; l++) if (a.active[l] || (b && b.active[l])) degrees.push(l);
  const tables = degrees.map((l) => wignerDHalfPi(l));
  const blocks = degrees.map((l) => 2 * a.blockOffset(l));
  for (let m = -(B - 1); m < B; m++) {
    const mm = m < 0 ? m + N : m;
    for (let n = -(B - 1); n < B; n++) {
      const base = 2 * N * (mm + N * (n < 0 ? n + N : n));
      const lmin = Math.max(Math.abs(m), Math.abs(n));
      let top = -1; // highest h written in this row
      for (let i = 0; i < degrees.length; i++) {
        const l = degrees[i];
        if (l < lmin) continue;
        const w = 2 * l + 1;
        const s = blocks[i] + 2 * ((m + l) * w + n + l);
        let sr = Sa[s];
        let si = Sa[s + 1];
        if (Sb) {
          sr -= Sb[s + 1];
          si += Sb[s];
        }
        if (sr === 0 && si === 0) continue;
        const d = tables[i];
        const mRow = (m + l) * w + l; // d[mRow + h] = Δ_{mh}
        const nRow = (n + l) * w + l;
        for (let h = 0; h <= l; h++) {
          const p = d[mRow + h] * d[nRow + h];
          T[base + 2 * h] += sr * p;
          T[base + 2 * h + 1] += si * p;
        }
        if (l > top) top = l;
      }
      if (top < 0) continue;
      // × i^{n−m}, then mirror h → −h with (−1)^{m+n}.
      const q = (((n - m) % 4) + 4) % 4;
      const sign = ((m + n) & 1) === 0 ? 1 : -1;
      for (let h = 0; h <= top; h++) {
        const o = base + 2 * h;
        const re = T[o];
        const im = T[o + 1];
        let tr: number, ti: number;
        switch (q) {
          case 0: tr = re; ti = im; break;
          case 1: tr = -im; ti = re; break;
          case 2: tr = -re; ti = -im; break;
          default: tr = im; ti = -re; break;
        }
        T[o] = tr;
        T[o + 1] = ti;
        if (h > 0) {
          const neg = base + 2 * (N - h);
          T[neg] = sign * tr;
          T[neg + 1] = sign * ti;
        }
      }
    }
  }
}

function gridArray(N: number, out: Float64Array | undefined): Float64Array {
  const len = N * N * N;
  if (!out) return new Float64Array(len);
  if (out.length !== len) throw new RangeError(`SO(3) correlation grid of ${N}³ needs ${len} values, got ${out.length}`);
  return out;
}

/** C(φ, θ, ψ) on the (2B)³ Euler grid (layout in the module doc); the real part for complex functions. */
export function so3Correlation(power: CrossPower, out?: Float64Array): Float64Array {
  const N = 2 * power.bandwidth;
  const result = gridArray(N, out);
  const T = transformBuffer(N);
  buildT(T, N, power, null);
  fft3InPlace(T, N, false);
  for (let i = 0; i < result.length; i++) result[i] = T[2 * i];
  return result;
}

/** Two correlations (same bandwidth) through one complex FFT; exact when both are real (real functions). */
export function so3CorrelationPair(
  a: CrossPower,
  b: CrossPower,
  outA?: Float64Array,
  outB?: Float64Array,
): [Float64Array, Float64Array] {
  if (a.bandwidth !== b.bandwidth) throw new RangeError(`cannot pair bandwidths ${a.bandwidth} and ${b.bandwidth}`);
  const N = 2 * a.bandwidth;
  const ra = gridArray(N, outA);
  const rb = gridArray(N, outB);
  const T = transformBuffer(N);
  buildT(T, N, a, b);
  fft3InPlace(T, N, false);
  for (let i = 0; i < ra.length; i++) {
    ra[i] = T[2 * i];
    rb[i] = T[2 * i + 1];
  }
  return [ra, rb];
}

/**
 * The correlation's value if it does not depend on R — only degree 0 carries cross-power, as when one
 * function is constant (e.g. a full wedge mask M ≡ 1) — else null. Saves an FFT for a constant grid.
 */
export function rotationInvariantValue(power: CrossPower): number | null {
  for (let l = 1; l < power.bandwidth; l++) if (power.active[l]) return null;
  return power.data[0]; // C = S^0_00·(Δ^0_00)² = S^0_00, real for real functions
}

/** Angular step of the (2B)³ grid, radians. */
export function so3Step(B: number): number {
  return Math.PI / B;
}

/** Angle mapped to (−π, π]. */
function wrap(a: number): number {
  return a > Math.PI ? a - 2 * Math.PI : a;
}

/**
 * ZYZ Euler angles of grid point (j, k, p) (φ, θ, ψ indices), folded to θ ∈ [0, π] with the double cover,
 * φ and ψ in (−π, π].
 */
export function gridEuler(B: number, j: number, k: number, p: number): Euler {
  const N = 2 * B;
  const s = Math.PI / B;
  if (2 * k > N) {
    j = (j + B) % N;
    p = (p + B) % N;
    k = N - k;
  }
  return { phi: wrap(j * s), theta: k * s, psi: wrap(p * s) };
}

/** Index into the (2B)³ grid (layout in the module doc) of the grid point nearest to the rotation R. */
export function nearestGridIndex(R: Mat3, B: number): number {
  const N = 2 * B;
  const s = Math.PI / B;
  const { phi, theta, psi } = matrixToEuler(R);
  const cyclic = (a: number) => ((Math.round(a / s) % N) + N) % N;
  return cyclic(psi) * N * N + cyclic(phi) * N + Math.round(theta / s);
}

export interface RotationPeak {
  R: Mat3;
  euler: Euler;
  /** Grid value at the peak. */
  value: number;
  /** Index into the grid (layout in the module doc). */
  index: number;
}

export interface PeakOptions {
  /** Number of peaks to return (default 10). */
  topN?: number;
  /** Peaks closer than this rotation angle (radians) to a higher one are dropped (default 2 grid steps). */
  minSeparation?: number;
  /**
   * The structure's point group: angles are measured to the nearest symmetry mate R·S (core/symmetry.ts), so
   * the peaks of one pose's |G| equivalent copies count once.
   */
  symmetry?: SymmetryGroup;
  /** Only peaks within `angle` (radians, under the symmetry) of the rotation `R`: a local search. */
  near?: { R: Mat3; angle: number };
}

/**
 * Local maxima of a (2B)³ correlation grid (≥ all 26 periodic neighbours), from the half θ ∈ [0, π],
 * sorted by value, near-duplicates (within minSeparation of a higher peak — e.g. the equivalent grid
 * points along θ = 0, where only φ + ψ matters) removed, at most topN.
 */
export function findRotationPeaks(grid: Float64Array, B: number, options: PeakOptions = {}): RotationPeak[] {
  checkBandwidth(B);
  const N = 2 * B;
  if (grid.length !== N * N * N) throw new RangeError(`SO(3) grid for bandwidth ${B} needs ${N * N * N} values, got ${grid.length}`);
  const topN = options.topN ?? 10;
  const minSeparation = options.minSeparation ?? 2 * so3Step(B);
  const { symmetry, near } = options;
  const angleBetween = (a: Mat3, b: Mat3): number => (symmetry ? rotationErrorUnderSymmetry(a, b, symmetry) : rotationAngle(a, b));
  if (!Number.isInteger(topN) || topN < 1) throw new RangeError(`number of rotation peaks must be a positive integer, got ${topN}`);
  if (!(minSeparation >= 0)) throw new RangeError(`minimum peak separation must be ≥ 0 radians, got ${minSeparation}`);
  const candidates: number[] = [];
  const NN = N * N;
  const rows = new Int32Array(9); // starts of the 3×3 neighbouring θ-rows around (j, p), periodic
  for (let p = 0; p < N; p++) {
    for (let j = 0; j < N; j++) {
      let r = 0;
      for (let dp = -1; dp <= 1; dp++) {
        for (let dj = -1; dj <= 1; dj++) rows[r++] = ((p + dp + N) % N) * NN + ((j + dj + N) % N) * N;
      }
      const self = rows[4];
      for (let k = 0; 2 * k <= N; k++) {
        const v = grid[self + k];
        if (v !== v) continue;
        const km = k === 0 ? N - 1 : k - 1;
        const kp = k + 1 === N ? 0 : k + 1;
        let isMax = true;
        for (let i = 0; i < 9; i++) {
          const row = rows[i];
          if (grid[row + km] > v || grid[row + k] > v || grid[row + kp] > v) {
            isMax = false;
            break;
          }
        }
        if (isMax) candidates.push(self + k);
      }
    }
  }
  candidates.sort((a, b) => grid[b] - grid[a]);
  const peaks: RotationPeak[] = [];
  for (const index of candidates) {
    const k = index % N;
    const j = Math.floor(index / N) % N;
    const p = Math.floor(index / NN);
    const euler = gridEuler(B, j, k, p);
    const R = eulerToMatrix(euler);
    if (near && angleBetween(R, near.R) > near.angle) continue;
    if (peaks.some((q) => angleBetween(q.R, R) < minSeparation)) continue;
    peaks.push({ R, euler, value: grid[index], index });
    if (peaks.length === topN) break;
  }
  return peaks;
}
