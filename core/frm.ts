/**
 * Fast rotational matching of two volumes (design "The paper and what public peers do"; Kovacs &
 * Wriggers 2002 as in the Xu-lab toolbox): rotation candidates for a particle against a reference,
 * independent of their translation, with the missing wedges of both entering the score exactly.
 *
 * 1. |F| of each volume with the DC term zeroed: a shift only changes phases, so |F| is translation-
 *    invariant, and rotating a volume rotates |F| the same way.
 * 2. Shells r = 1 … maxShell of |F| and of the wedge masks are sampled on the sphere grid of
 *    core/sphharm.ts by trilinear interpolation. We interpolate on the periodic, unshifted FFT lattice
 *    (index mod n), which is the same as interpolating the fftshifted volume but needs no copy and keeps
 *    the sampled functions exactly even (|F(−k)| = |F(k)|), so odd degrees are skipped. Mask samples are
 *    rounded to 0/1: with a soft edge, M would enter the numerator and the two energies with different
 *    powers (the amplitude is already dimmed where interpolation reaches unobserved voxels) and the
 *    score would favour rotations that superpose the wedges — unrelated wedged noise volumes then "match"
 *    at the identity or a half-turn; with M² = M the score is a normalised correlation over the overlap.
 * 3. Per-degree shell products weighted r² (the volume element r²·dr·dΩ) are summed over shells and turned
 *    into correlations on the (2B)³ ZYZ grid (core/so3corr.ts):
 *      C12 = rot(|F1|·M1, |F2|·M2),  C11 = rot(|F1|²·M1, M2),  C22 = rot(M1, |F2|²·M2),
 *    where rot(a, b)(R) = Σ_r r² ∫ b·Λ_R a dΩ rotates the reference side. The score C12/√(C11·C22) is the
 *    correlation of the amplitudes over the overlap of the two wedges M2·Λ_R M1.
 * 4. Candidates: local maxima of the score, near-duplicates removed, best first.
 *
 * The returned R satisfies particle ≈ Λ_R reference (up to a shift), the pose convention of the design.
 */
import { FRM_DEFAULTS } from '../model/defaults.ts';
import { fft3 } from './fft.ts';
import { type Euler, type Mat3, matrixToEuler, rotationAngle } from './rotate.ts';
import {
  CrossPower,
  findRotationPeaks,
  nearestGridIndex,
  rotationInvariantValue,
  so3Correlation,
  so3CorrelationPair,
  so3Step,
} from './so3corr.ts';
import { forwardSHTReal, sphereGrid } from './sphharm.ts';
import { type SymmetryGroup, rotationErrorUnderSymmetry } from './symmetry.ts';
import type { Volume } from './volume.ts';
import { type TiltRange, wedgeMask } from './wedge.ts';

export interface FrmOptions {
  /** Spherical-harmonic bandwidth B; the Euler grid step is 180°/B (default FRM_DEFAULTS.bandwidth). */
  bandwidth?: number;
  /** Number of candidates returned (default FRM_DEFAULTS.topN). */
  topN?: number;
  /** Tilt range of the reference's missing wedge (none: fully sampled, e.g. an average). */
  wedgeRef?: TiltRange;
  /** Tilt range of the particle's missing wedge. */
  wedgeParticle?: TiltRange;
  /**
   * Largest Fourier shell used, in voxels (default n/2 − 1, the last shell inside Nyquist on every axis).
   * With noisy data stop at the shells that carry signal (e.g. the reference's FSC resolution shell): the
   * r² weighting otherwise lets noise-dominated outer shells decide.
   */
  maxShell?: number;
  /** Candidates closer than this rotation angle (radians) to a better one are dropped (default 2 grid steps). */
  minSeparation?: number;
  /** The structure's point group: a pose and its symmetry mates R·S are one candidate, not |G|. */
  symmetry?: SymmetryGroup;
  /**
   * Local search (RELION's --sigma_ang, Dynamo's cone): the prior rotation R first, then the best peaks
   * within `angle` radians of it (under the symmetry) more than one grid step from it.
   */
  near?: { R: Mat3; angle: number };
}

export interface FrmCandidate {
  /** Rotation with particle ≈ Λ_R reference. */
  R: Mat3;
  /** ZYZ Euler angles of R in radians (θ ∈ [0, π], φ, ψ ∈ (−π, π]). */
  euler: Euler;
  /** Constrained amplitude correlation C12/√(C11·C22) at this rotation. */
  score: number;
}

/** Score where the wedge overlap is below this fraction of its largest value: too little data to compare. */
const MIN_RELATIVE_OVERLAP = 1e-6;

/** |F| with the DC term zeroed into `amp` (unshifted layout); `what` names the volume in errors. */
function amplitudeSpectrum(v: Volume, spectrum: Float64Array, amp: Float32Array, what: string): void {
  fft3(v.data, v.n, spectrum);
  amp[0] = 0;
  let any = false;
  for (let i = 1; i < amp.length; i++) {
    const re = spectrum[2 * i];
    const im = spectrum[2 * i + 1];
    amp[i] = Math.sqrt(re * re + im * im);
    if (amp[i] > 0) any = true;
  }
  if (!any) throw new Error(`FRM: the ${what} volume is constant, so it has no structure to match rotations against`);
}

/**
 * Trilinear samples of an unshifted n³ spectrum-layout volume at frequencies r·u for the unit vectors u
 * of `directions`, indices taken mod n (r ≤ n/2, so one wrap suffices).
 */
function sampleShell(vol: Float32Array, n: number, r: number, directions: Float64Array, out: Float64Array): void {
  const nn = n * n;
  for (let i = 0, d = 0; i < out.length; i++, d += 3) {
    const x = r * directions[d];
    const y = r * directions[d + 1];
    const z = r * directions[d + 2];
    const xf = Math.floor(x), yf = Math.floor(y), zf = Math.floor(z);
    const fx = x - xf, fy = y - yf, fz = z - zf;
    const x0 = xf < 0 ? xf + n : xf;
    const y0 = yf < 0 ? yf + n : yf;
    const z0 = zf < 0 ? zf + n : zf;
    const x1 = x0 + 1 === n ? 0 : x0 + 1;
    const y1 = (y0 + 1 === n ? 0 : y0 + 1) * n;
    const z1 = (z0 + 1 === n ? 0 : z0 + 1) * nn;
    const y0n = y0 * n, z0n = z0 * nn;
    const c00 = vol[x0 + y0n + z0n] + fx * (vol[x1 + y0n + z0n] - vol[x0 + y0n + z0n]);
    const c10 = vol[x0 + y1 + z0n] + fx * (vol[x1 + y1 + z0n] - vol[x0 + y1 + z0n]);
    const c01 = vol[x0 + y0n + z1] + fx * (vol[x1 + y0n + z1] - vol[x0 + y0n + z1]);
    const c11 = vol[x0 + y1 + z1] + fx * (vol[x1 + y1 + z1] - vol[x0 + y1 + z1]);
    const c0 = c00 + fy * (c10 - c00);
    const c1 = c01 + fy * (c11 - c01);
    out[i] = c0 + fz * (c1 - c0);
  }
}

/** One side (reference or particle): its amplitude, wedge mask and per-shell spherical-harmonic coefficients. */
class Side {
  readonly amplitude: Float32Array;
  mask: Float32Array | null = null;
  private readonly ampSamples: Float64Array;
  private readonly maskSamples: Float64Array;
  private readonly work: Float64Array;
  /** Coefficients of |F|·M, |F|²·M and M on the current shell. */
  readonly weighted: Float64Array;
  readonly squared: Float64Array;
  readonly maskCoeffs: Float64Array;

  constructor(n: number, B: number) {
    this.amplitude = new Float32Array(n * n * n);
    const samples = 4 * B * B;
    this.ampSamples = new Float64Array(samples);
    this.maskSamples = new Float64Array(samples);
    this.work = new Float64Array(samples);
    this.weighted = new Float64Array(2 * B * B);
    this.squared = new Float64Array(2 * B * B);
    this.maskCoeffs = new Float64Array(2 * B * B);
  }

  load(v: Volume, tilt: TiltRange | undefined, spectrum: Float64Array, what: string): void {
    amplitudeSpectrum(v, spectrum, this.amplitude, what);
    this.mask = tilt ? wedgeMask(v.n, tilt) : null;
    if (!this.mask) {
      // M ≡ 1: its only coefficient is that of Y_00, √(4π).
      this.maskCoeffs.fill(0);
      this.maskCoeffs[0] = Math.sqrt(4 * Math.PI);
    }
  }

  transformShell(n: number, r: number, B: number): void {
    const dirs = sphereGrid(B).directions;
    const a = this.ampSamples;
    const w = this.work;
    sampleShell(this.amplitude, n, r, dirs, a);
    const opts = { evenDegreesOnly: true };
    if (this.mask) {
      const m = this.maskSamples;
      sampleShell(this.mask, n, r, dirs, m);
      for (let i = 0; i < m.length; i++) m[i] = m[i] >= 0.5 ? 1 : 0;
      forwardSHTReal(m, B, { ...opts, out: this.maskCoeffs });
      for (let i = 0; i < w.length; i++) w[i] = a[i] * m[i];
      forwardSHTReal(w, B, { ...opts, out: this.weighted });
      for (let i = 0; i < w.length; i++) w[i] = a[i] * a[i] * m[i];
    } else {
      forwardSHTReal(a, B, { ...opts, out: this.weighted });
      for (let i = 0; i < w.length; i++) w[i] = a[i] * a[i];
    }
    forwardSHTReal(w, B, { ...opts, out: this.squared });
  }
}

/** Buffers for one (n, B), reused across calls: FRM runs once per particle and iteration. */
interface Workspace {
  readonly spectrum: Float64Array;
  readonly reference: Side;
  readonly particle: Side;
  readonly p12: CrossPower;
  readonly p11: CrossPower;
  readonly p22: CrossPower;
  readonly score: Float64Array;
  readonly c11: Float64Array;
  readonly c22: Float64Array;
}

const workspaces = new Map<string, Workspace>();

function workspace(n: number, B: number): Workspace {
  const key = `${n}:${B}`;
  let ws = workspaces.get(key);
  if (!ws) {
    const N = 2 * B;
    ws = {
      spectrum: new Float64Array(2 * n * n * n),
      reference: new Side(n, B),
      particle: new Side(n, B),
      p12: new CrossPower(B),
      p11: new CrossPower(B),
      p22: new CrossPower(B),
      score: new Float64Array(N * N * N),
      c11: new Float64Array(N * N * N),
      c22: new Float64Array(N * N * N),
    };
    workspaces.set(key, ws);
  }
  return ws;
}

/**
 * Rotation candidates R (particle ≈ Λ_R reference) by fast rotational matching of Fourier amplitudes,
 * best constrained score first.
 */
export function frmCandidates(reference: Volume, particle: Volume, options: FrmOptions = {}): FrmCandidate[] {
  const n = reference.n;
  if (particle.n !== n) {
    throw new RangeError(`FRM needs volumes of the same size: reference is ${n}³, particle is ${particle.n}³`);
  }
  const B = options.bandwidth ?? FRM_DEFAULTS.bandwidth;
  const maxShell = options.maxShell ?? Math.floor(n / 2) - 1;
  if (!Number.isInteger(maxShell) || maxShell < 1 || maxShell > Math.floor(n / 2)) {
    throw new RangeError(
      `FRM maximum shell must be an integer between 1 and ${Math.floor(n / 2)} for ${n}³ volumes, got ${maxShell}`,
    );
  }
  sphereGrid(B); // validates B with a readable message before any work
  const ws = workspace(n, B);
  const { reference: ref, particle: part, p12, p11, p22, score, c11, c22 } = ws;
  ref.load(reference, options.wedgeRef, ws.spectrum, 'reference');
  part.load(particle, options.wedgeParticle, ws.spectrum, 'particle');

  p12.clear();
  p11.clear();
  p22.clear();
  for (let r = 1; r <= maxShell; r++) {
    ref.transformShell(n, r, B);
    part.transformShell(n, r, B);
    const w = r * r;
    p12.accumulate(ref.weighted, part.weighted, w);
    p11.accumulate(ref.squared, part.maskCoeffs, w);
    p22.accumulate(ref.maskCoeffs, part.squared, w);
  }
  so3Correlation(p12, score);
  // Without a wedge on one side its mask is M ≡ 1 and the other side's energy does not depend on R.
  const const11 = rotationInvariantValue(p11);
  const const22 = rotationInvariantValue(p22);
  if (const11 === null && const22 === null) so3CorrelationPair(p11, p22, c11, c22);
  else if (const11 === null) so3Correlation(p11, c11);
  else if (const22 === null) so3Correlation(p22, c22);
  if (const11 !== null) c11.fill(const11);
  if (const22 !== null) c22.fill(const22);
  let maxDen = 0;
  for (let i = 0; i < score.length; i++) {
    const den = c11[i] * c22[i];
    c11[i] = den;
    if (den > maxDen) maxDen = den;
  }
  const floor = MIN_RELATIVE_OVERLAP * maxDen;
  for (let i = 0; i < score.length; i++) score[i] = c11[i] > floor ? score[i] / Math.sqrt(c11[i]) : 0;

  const topN = options.topN ?? FRM_DEFAULTS.topN;
  const { symmetry, near } = options;
  const peaks = findRotationPeaks(score, B, { topN: near ? topN + 1 : topN, minSeparation: options.minSeparation, symmetry, near });
  const found = peaks.map((p) => ({ R: p.R, euler: p.euler, score: p.value }));
  if (!near) return found;
  // The prior leads: a local refinement must never end worse than where it started because FRM's grid
  // (180°/B) is coarser than the range. Its score is the grid value nearest to it. A peak within one grid
  // step of it is its own grid cell, no other start.
  const separation = so3Step(B);
  const prior = { R: near.R, euler: matrixToEuler(near.R), score: score[nearestGridIndex(near.R, B)] };
  const others = found.filter((c) => (symmetry ? rotationErrorUnderSymmetry(c.R, near.R, symmetry) : rotationAngle(c.R, near.R)) >= separation);
  return [prior, ...others].slice(0, topN);
}
