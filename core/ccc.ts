/**
 * Constrained correlation (paper Eq. 4–8, Förster et al. 2008; design "Missing wedge and constrained
 * correlation").
 *
 *   f_Ω = ((F⁻¹(F(f)·Ω) − mean_M) · M) / ‖·‖,   CCC = Σ f_Ω·g_Ω,   d = 2 − 2·CCC
 *
 * Ω is the Fourier overlap of the two wedges (unshifted FFT layout, see core/fft.ts), M the real-space
 * mask; mean_M = Σ M·h / Σ M is the mask-weighted mean, so Σ f_Ω = 0 and ‖f_Ω‖ = 1 for binary and soft
 * masks alike. The inverse transform keeps the real part, which equals filtering with the centrosymmetric
 * Ω_s(k) = (Ω(k) + Ω(−k))/2. Wedge masks are centrosymmetric except where the grid breaks the symmetry
 * (for even n the Nyquist planes −n/2 have no +n/2 partner), so Ω_s differs from Ω only there.
 *
 * Alignment evaluates the CCC thousands of times: `CccWorkspace` owns the complex work buffer for one box
 * size, and `ccc()` filters f and g with a single complex FFT pair (f in the real part, g in the
 * imaginary part, which is exact because Ω_s is centrosymmetric).
 */
import { fft3InPlace } from './fft.ts';
import type { Volume } from './volume.ts';
import { assertOverlapNotEmpty } from './wedge.ts';

/**
 * A constrained volume counts as constant when its centred, masked energy is below this fraction of the
 * input's energy Σ f²: FFT round-off leaves ~1e-30 of it behind when Ω removes everything but a constant.
 */
export const CONSTANT_RELATIVE_ENERGY = 1e-20;

export class CccWorkspace {
  readonly n: number;
  private readonly len: number;
  private readonly spec: Float64Array;
  private readonly overlapBuffer: Float32Array;
  private ones: Float32Array | null = null;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 2) throw new RangeError(`box size must be an integer ≥ 2, got ${n}`);
    this.n = n;
    this.len = n * n * n;
    this.spec = new Float64Array(2 * this.len);
    this.overlapBuffer = new Float32Array(this.len);
  }

  /**
   * The constrained, unit-norm volume f_Ω of `data` (n³, x fastest) for overlap `omega` and real mask
   * `realMask` (undefined = the whole box); written to `out` if given.
   */
  constrain(data: Float32Array, omega: Float32Array, realMask?: Float32Array, out?: Float32Array): Float32Array {
    const { len, spec } = this;
    this.checkLength('volume', data);
    this.checkLength('Fourier overlap mask', omega);
    const mask = this.maskOrOnes(realMask);
    const result = out ?? new Float32Array(len);
    this.checkLength('output buffer', result);
    assertOverlapNotEmpty(omega);

    let energy = 0;
    for (let i = 0; i < len; i++) {
      spec[2 * i] = data[i];
      spec[2 * i + 1] = 0;
      energy += data[i] * data[i];
    }
    fft3InPlace(spec, this.n, false);
    for (let i = 0; i < len; i++) {
      const w = omega[i];
      spec[2 * i] *= w;
      spec[2 * i + 1] *= w;
    }
    fft3InPlace(spec, this.n, true);

    let maskSum = 0;
    let weighted = 0;
    for (let i = 0; i < len; i++) {
      maskSum += mask[i];
      weighted += mask[i] * spec[2 * i];
    }
    checkMaskSum(maskSum);
    const mean = weighted / maskSum;
    let norm2 = 0;
    for (let i = 0; i < len; i++) {
      const v = (spec[2 * i] - mean) * mask[i];
      norm2 += v * v;
    }
    checkVariance(norm2, energy, '');
    const inv = 1 / Math.sqrt(norm2);
    for (let i = 0; i < len; i++) result[i] = (spec[2 * i] - mean) * mask[i] * inv;
    return result;
  }

  /**
   * CCC = Σ f_Ω·g_Ω of two volumes under one overlap `omega` and real mask (undefined = whole box).
   * g must already be transformed by the pose being scored and `omega` must include its rotated wedge.
   */
  ccc(f: Float32Array, g: Float32Array, omega: Float32Array, realMask?: Float32Array): number {
    const { n, len, spec } = this;
    this.checkLength('volume f', f);
    this.checkLength('volume g', g);
    this.checkLength('Fourier overlap mask', omega);
    const mask = this.maskOrOnes(realMask);
    assertOverlapNotEmpty(omega);

    let energyF = 0;
    let energyG = 0;
    for (let i = 0; i < len; i++) {
      spec[2 * i] = f[i];
      spec[2 * i + 1] = g[i];
      energyF += f[i] * f[i];
      energyG += g[i] * g[i];
    }
    fft3InPlace(spec, n, false);
    for (let z = 0, i = 0; z < n; z++) {
      const zNeg = z === 0 ? 0 : n - z;
      for (let y = 0; y < n; y++) {
        const yNeg = y === 0 ? 0 : n - y;
        const rowNeg = n * (yNeg + n * zNeg);
        for (let x = 0; x < n; x++, i++) {
          const ws = 0.5 * (omega[i] + omega[rowNeg + (x === 0 ? 0 : n - x)]);
          spec[2 * i] *= ws;
          spec[2 * i + 1] *= ws;
        }
      }
    }
    fft3InPlace(spec, n, true);

    let maskSum = 0;
    let weightedF = 0;
    let weightedG = 0;
    for (let i = 0; i < len; i++) {
      const m = mask[i];
      maskSum += m;
      weightedF += m * spec[2 * i];
      weightedG += m * spec[2 * i + 1];
    }
    checkMaskSum(maskSum);
    const meanF = weightedF / maskSum;
    const meanG = weightedG / maskSum;
    let ff = 0;
    let gg = 0;
    let fg = 0;
    for (let i = 0; i < len; i++) {
      const m = mask[i];
      const a = (spec[2 * i] - meanF) * m;
      const b = (spec[2 * i + 1] - meanG) * m;
      ff += a * a;
      gg += b * b;
      fg += a * b;
    }
    checkVariance(ff, energyF, ' (f)');
    checkVariance(gg, energyG, ' (g)');
    const c = fg / Math.sqrt(ff * gg);
    return c > 1 ? 1 : c < -1 ? -1 : c;
  }

  /**
   * CCC with Ω = wedgeF · wedgeG (a missing wedge = fully observed). wedgeG must already be rotated with g.
   */
  cccWithWedges(f: Float32Array, g: Float32Array, wedgeF?: Float32Array, wedgeG?: Float32Array, realMask?: Float32Array): number {
    return this.ccc(f, g, this.overlapOf(wedgeF, wedgeG), realMask);
  }

  /** Ω = a·b (the workspace's own buffer when both are given, valid until the next call). */
  private overlapOf(a?: Float32Array, b?: Float32Array): Float32Array {
    const omega = this.overlapBuffer;
    if (a) this.checkLength('wedge mask of f', a);
    if (b) this.checkLength('wedge mask of g', b);
    if (a && b) {
      for (let i = 0; i < this.len; i++) omega[i] = a[i] * b[i];
      return omega;
    }
    if (a || b) return (a ?? b)!; // only read, so a caller's cached wedge is safe
    return omega.fill(1);
  }

  private maskOrOnes(realMask?: Float32Array): Float32Array {
    if (realMask) {
      this.checkLength('real-space mask', realMask);
      return realMask;
    }
    if (!this.ones) this.ones = new Float32Array(this.len).fill(1);
    return this.ones;
  }

  private checkLength(what: string, a: Float32Array): void {
    if (a.length !== this.len) {
      throw new RangeError(`constrained correlation: ${what} has ${a.length} values, a ${this.n}³ box needs ${this.len}`);
    }
  }
}

function checkMaskSum(maskSum: number): void {
  if (!(maskSum > 0)) throw new Error('constrained correlation: real-space mask is empty (its values sum to zero)');
}

function checkVariance(centredEnergy: number, inputEnergy: number, which: string): void {
  if (!(centredEnergy > CONSTANT_RELATIVE_ENERGY * inputEnergy)) {
    throw new Error(
      `constrained correlation: volume is constant inside the mask${which} — zero variance after the wedge-overlap filter`,
    );
  }
}

const workspaces = new Map<number, CccWorkspace>();

/** A shared workspace per box size for callers that do not keep their own (not re-entrant). */
export function cccWorkspace(n: number): CccWorkspace {
  let ws = workspaces.get(n);
  if (!ws) {
    ws = new CccWorkspace(n);
    workspaces.set(n, ws);
  }
  return ws;
}

/** f_Ω for a volume of n³ voxels (see `CccWorkspace.constrain`). */
export function constrain(data: Float32Array, n: number, omega: Float32Array, realMask?: Float32Array, out?: Float32Array): Float32Array {
  return cccWorkspace(n).constrain(data, omega, realMask, out);
}

export interface ConstrainedCccOptions {
  /** Observed-region mask of f (unshifted Fourier layout); omitted = fully observed. */
  wedgeF?: Float32Array;
  /** Observed-region mask of g, already rotated with g; omitted = fully observed. */
  wedgeG?: Float32Array;
  /** Real-space mask; omitted = the whole box. */
  mask?: Float32Array;
}

/** CCC of f and the (already transformed) g under Ω = wedgeF·wedgeG. */
export function constrainedCCC(f: Volume, g: Volume, opts: ConstrainedCccOptions = {}): number {
  if (f.n !== g.n) throw new RangeError(`constrained correlation: box sizes differ (${f.n}³ vs ${g.n}³)`);
  if (Math.abs(f.voxelSize - g.voxelSize) > 1e-4 * f.voxelSize) {
    throw new RangeError(`constrained correlation: voxel sizes differ (${f.voxelSize} Å vs ${g.voxelSize} Å)`);
  }
  return cccWorkspace(f.n).cccWithWedges(f.data, g.data, opts.wedgeF, opts.wedgeG, opts.mask);
}

/** Dissimilarity of paper Eq. 8: ‖f_Ω − g_Ω‖² = 2 − 2·CCC. */
export function dissimilarity(ccc: number): number {
  return 2 - 2 * ccc;
}
