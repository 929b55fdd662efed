/**
 * Fast translational matching (FTM): the best shift T of the reference for a given rotation R, by one FFT
 * cross-correlation of the wedge-overlap-constrained, unit-normalised spectra (design "The paper and what
 * public peers do"; Xu et al.'s toolbox).
 *
 * Convention: particle ≈ Λ_(R,T) reference, and Λ_(R,T) V = Λ_(R,0) V shifted by T, so with q = Λ_(R,0)
 * reference and p = particle, the score of a shift is c(T) = Σ_x p(x)·q(x − T) = F⁻¹(P·conj Q)(T). Both
 * spectra are restricted to the overlap Ω = M_particle · Λ_R M_ref, their k = 0 term is dropped (mean
 * removal) and each is scaled to unit energy, so c(T) is the Pearson correlation of the constrained
 * volumes under a circular shift, in [−1, 1]. No real-space mask is applied (the particle is seen whole).
 *
 * The integer peak is searched over |T| ≤ maxShift (Euclidean, voxels) and refined to sub-voxel precision
 * by a parabola through the peak and its two neighbours on each axis; the score is the peak value plus the
 * parabolas' rise.
 */
import { CONSTANT_RELATIVE_ENERGY } from './ccc.ts';
import { fft3, fft3InPlace } from './fft.ts';
import { type Mat3, transformVolumeByMatrix } from './rotate.ts';
import { Volume } from './volume.ts';
import { type TiltRange, wedgeMask } from './wedge.ts';

export interface TranslationMatch {
  /** Shift T (voxels) with particle ≈ Λ_(R,T) reference. */
  t: [number, number, number];
  /** Constrained correlation at T, in [−1, 1]. */
  score: number;
}

export interface FtmOptions {
  /** Largest |T| searched, voxels (Euclidean). */
  maxShift: number;
  /** Tilt range of the reference; omitted = fully observed. */
  wedgeRef?: TiltRange;
}

/** Translation search against one particle; keeps the particle spectrum across rotations. */
export class TranslationMatcher {
  readonly n: number;
  private readonly particleSpectrum: Float64Array;
  private readonly wedgeParticle?: TiltRange;
  private readonly cross: Float64Array;
  private readonly refSpectrum: Float64Array;
  private readonly rotatedWedge: Float32Array;
  private rotated: Volume | null = null;

  constructor(particle: Volume, wedgeParticle?: TiltRange) {
    this.n = particle.n;
    this.wedgeParticle = wedgeParticle;
    const len = this.n ** 3;
    this.particleSpectrum = fft3(particle.data, this.n);
    this.cross = new Float64Array(2 * len);
    this.refSpectrum = new Float64Array(2 * len);
    this.rotatedWedge = new Float32Array(len);
  }

  /** Best T for rotation R of `reference` (see module doc). */
  match(reference: Volume, R: Mat3, options: FtmOptions): TranslationMatch {
    const n = this.n;
    if (reference.n !== n) throw new RangeError(`reference is ${reference.n}³ but the particle is ${n}³`);
    const { maxShift } = options;
    if (!Number.isFinite(maxShift) || maxShift < 0) {
      throw new RangeError(`maximum shift must be a finite number of voxels ≥ 0, got ${maxShift}`);
    }
    this.rotated = transformVolumeByMatrix(reference, R, [0, 0, 0], this.rotated ?? undefined);
    const Q = fft3(this.rotated.data, n, this.refSpectrum);
    const P = this.particleSpectrum;
    const mp = this.wedgeParticle ? wedgeMask(n, this.wedgeParticle) : null;
    const mr = options.wedgeRef ? wedgeMask(n, options.wedgeRef, R, this.rotatedWedge) : null;
    const X = this.cross;
    let ep = 0;
    let eq = 0;
    let allP = 0;
    let allQ = 0;
    X[0] = 0;
    X[1] = 0;
    for (let i = 1, len = n * n * n; i < len; i++) {
      const w = (mp ? mp[i] : 1) * (mr ? mr[i] : 1);
      const pr = P[2 * i], pi = P[2 * i + 1];
      const qr = Q[2 * i], qi = Q[2 * i + 1];
      const p2 = pr * pr + pi * pi, q2 = qr * qr + qi * qi;
      allP += p2;
      allQ += q2;
      ep += w * p2;
      eq += w * q2;
      // Ω is 0/1, so Ω·P·conj(Ω·Q) = Ω·P·conj Q
      X[2 * i] = w * (pr * qr + pi * qi);
      X[2 * i + 1] = w * (pi * qr - pr * qi);
    }
    // relative to all of each spectrum: what rounding leaves of a signal that lies wholly in the missing wedge is no signal
    if (!(ep > CONSTANT_RELATIVE_ENERGY * allP) || !(eq > CONSTANT_RELATIVE_ENERGY * allQ)) {
      throw new Error('translation search: particle or rotated reference has no signal inside the wedge overlap');
    }
    fft3InPlace(X, n, true);
    // ‖p‖² = Σ|P|²/N, so c(T) = N·F⁻¹(P conj Q)(T)/√(Σ|P|²·Σ|Q|²)
    const norm = (n * n * n) / Math.sqrt(ep * eq);
    return peakWithinRadius(X, n, maxShift, norm);
  }
}

/** Convenience: one translation search (builds the particle spectrum each call). */
export function ftm(
  reference: Volume,
  particle: Volume,
  R: Mat3,
  options: FtmOptions & { wedgeParticle?: TiltRange },
): TranslationMatch {
  return new TranslationMatcher(particle, options.wedgeParticle).match(reference, R, options);
}

/** Largest real part of the (circular) correlation map over integer |T| ≤ radius, refined per axis. */
function peakWithinRadius(X: Float64Array, n: number, radius: number, norm: number): TranslationMatch {
  const reach = Math.min(Math.floor(radius), Math.floor((n - 1) / 2));
  const r2 = radius * radius;
  const at = (x: number, y: number, z: number): number => X[2 * (mod(x, n) + n * (mod(y, n) + n * mod(z, n)))];
  let best = -Infinity;
  let bx = 0, by = 0, bz = 0;
  for (let z = -reach; z <= reach; z++) {
    const zi = n * n * mod(z, n);
    for (let y = -reach; y <= reach; y++) {
      const yi = zi + n * mod(y, n);
      for (let x = -reach; x <= reach; x++) {
        if (x * x + y * y + z * z > r2) continue;
        const v = X[2 * (yi + mod(x, n))];
        if (v > best) {
          best = v;
          bx = x; by = y; bz = z;
        }
      }
    }
  }
  const centre = best;
  let score = centre;
  const refine = (minus: number, plus: number): number => {
    const curvature = minus - 2 * centre + plus;
    if (!(curvature < 0)) return 0; // not a strict maximum along this axis: keep the integer position
    const offset = Math.max(-0.5, Math.min(0.5, (minus - plus) / (2 * curvature)));
    score += (offset * (plus - minus) + offset * offset * curvature) / 2; // rise of the parabola at the offset
    return offset;
  };
  const ox = refine(at(bx - 1, by, bz), at(bx + 1, by, bz));
  const oy = refine(at(bx, by - 1, bz), at(bx, by + 1, bz));
  const oz = refine(at(bx, by, bz - 1), at(bx, by, bz + 1));
  return { t: [bx + ox, by + oy, bz + oz], score: score * norm };
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}
