/**
 * The one missing-wedge module of subtomo (conventions: docs/design.md, "Missing wedge").
 *
 * Convention shared with the simulator: the projection at tilt α is ∫ (R_y(α)·V) dz with
 * R_y(α) = [[cos α, 0, sin α], [0, 1, 0], [−sin α, 0, cos α]]. By the Fourier slice theorem it samples the
 * central plane containing the y axis and the direction kz/kx = tan α. A tilt series over [min, max]
 * therefore observes k iff the angle of the (kx, kz) line, atan(kz/kx) ∈ (−90°, 90°] (kx = 0 → 90°), lies
 * in [min, max]. Frequencies with kx = kz = 0 (the tilt axis, including k = 0) lie in every projection
 * plane and are always observed; for ±θ this is the design's |kz| ≤ |kx|·tan θ.
 *
 * Masks are n³ Float32Array of 0/1 in the unshifted FFT layout of core/fft.ts: index x + n(y + n z),
 * frequency freqOf(i, n) on each axis.
 */
import type { Mat3 } from './rotate.ts';
import { degrees, radians } from './rotate.ts';
import { freqOf } from './volume.ts';

/** Tilt range in radians, e.g. ±60° is { min: −π/3, max: π/3 }. */
export interface TiltRange {
  min: number;
  max: number;
}

const HALF_PI = Math.PI / 2;
// Angles come from degrees at the user edge; radians(90) must count as 90° and lattice points exactly on
// a boundary (e.g. kz = kx at 45°) must not flip with the last bit of tan().
const ANGLE_SLACK = 1e-9;

/** ±deg about y, e.g. symmetricTilt(60) for a −60°…+60° series. */
export function symmetricTilt(deg: number): TiltRange {
  if (!Number.isFinite(deg) || deg < 0 || deg > 90) {
    throw new RangeError(`symmetric tilt half-range must be between 0° and 90°, got ${deg}°`);
  }
  return validateTilt({ min: -radians(deg), max: radians(deg) });
}

/** Tilt range from degrees at a user-facing edge, e.g. tiltRangeDegrees(−50, 30). */
export function tiltRangeDegrees(minDeg: number, maxDeg: number): TiltRange {
  return validateTilt({ min: radians(minDeg), max: radians(maxDeg) });
}

/** Returns the range unchanged if it is a valid tilt range (radians), else throws a message in degrees. */
export function validateTilt(tilt: TiltRange): TiltRange {
  const { min, max } = tilt;
  const show = (a: number): string => `${Number.isFinite(a) ? +degrees(a).toFixed(6) : a}°`;
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    throw new RangeError(`tilt range must be finite angles, got [${show(min)}, ${show(max)}]`);
  }
  if (min < -HALF_PI - ANGLE_SLACK || max > HALF_PI + ANGLE_SLACK) {
    throw new RangeError(`tilt angles must lie within [−90°, 90°], got [${show(min)}, ${show(max)}]`);
  }
  if (min > max) {
    throw new RangeError(`tilt range minimum ${show(min)} is larger than its maximum ${show(max)}`);
  }
  return tilt;
}

const maskCache = new Map<string, Float32Array>();

/**
 * Observed-region mask. Without R: the mask of unrotated data, cached per (n, tilt) and SHARED — treat it
 * as read-only, or pass `out` for a private copy. With R: the mask of the rotated data Λ_R V, i.e.
 * M_R(k) = M(Rᵀk), evaluated analytically at every frequency (no interpolation), written to `out` or a new
 * array.
 */
export function wedgeMask(n: number, tilt: TiltRange, R?: Mat3, out?: Float32Array): Float32Array {
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`wedge mask size must be an integer ≥ 2, got ${n}`);
  validateTilt(tilt);
  const len = n * n * n;
  if (out && out.length !== len) throw new RangeError(`wedge mask of ${n}³ needs ${len} values, got ${out.length}`);
  if (R) return fillMask(n, tilt, R, out ?? new Float32Array(len));
  const key = `${n}:${tilt.min}:${tilt.max}`;
  let cached = maskCache.get(key);
  if (!cached) {
    cached = fillMask(n, tilt, undefined, new Float32Array(len));
    maskCache.set(key, cached);
  }
  if (out) {
    out.set(cached);
    return out;
  }
  return cached;
}

function fillMask(n: number, tilt: TiltRange, R: Mat3 | undefined, mask: Float32Array): Float32Array {
  // k' = Rᵀk; only its x and z components matter: k'x = R00 kx + R10 ky + R20 kz, k'z = R02 kx + R12 ky + R22 kz.
  const ax = R ? R[0] : 1, ay = R ? R[3] : 0, az = R ? R[6] : 0;
  const cx = R ? R[2] : 0, cy = R ? R[5] : 0, cz = R ? R[8] : 1;
  // With kx > 0 (after flipping the line's sign), atan(kz/kx) ≥ min ⇔ kz ≥ kx·tan(min), likewise for max;
  // a bound at ±90° constrains nothing.
  const checkMin = tilt.min > -HALF_PI + ANGLE_SLACK;
  const checkMax = tilt.max < HALF_PI - ANGLE_SLACK;
  const tanMin = Math.tan(tilt.min);
  const tanMax = Math.tan(tilt.max);
  let o = 0;
  for (let iz = 0; iz < n; iz++) {
    const kz = freqOf(iz, n);
    for (let iy = 0; iy < n; iy++) {
      const ky = freqOf(iy, n);
      const baseX = ay * ky + az * kz;
      const baseZ = cy * ky + cz * kz;
      for (let ix = 0; ix < n; ix++, o++) {
        const kx = freqOf(ix, n);
        let px = baseX + ax * kx;
        let pz = baseZ + cx * kx;
        const size = Math.abs(px) + Math.abs(pz);
        const tol = ANGLE_SLACK * size;
        if (size <= ANGLE_SLACK * (Math.abs(kx) + Math.abs(ky) + Math.abs(kz))) {
          mask[o] = 1; // on the tilt axis (k = 0 included)
          continue;
        }
        if (px < -tol || (px <= tol && pz < 0)) {
          px = -px;
          pz = -pz;
        }
        let observed: boolean;
        // kx = 0 is the 90° line, which is also the −90° line.
        if (px <= tol) observed = !checkMax || !checkMin;
        else observed = (!checkMin || pz >= px * tanMin - tol) && (!checkMax || pz <= px * tanMax + tol);
        mask[o] = observed ? 1 : 0;
      }
    }
  }
  return mask;
}

/** Fraction of mask entries that are observed (the mean of the mask). */
export function observedFraction(mask: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < mask.length; i++) sum += mask[i];
  return sum / mask.length;
}

/** Overlap Ω = a·b of two masks (e.g. M_f · Λ_R M_g), into `out` when given. */
export function overlap(a: Float32Array, b: Float32Array, out?: Float32Array): Float32Array {
  if (a.length !== b.length) throw new RangeError(`cannot overlap wedge masks of ${a.length} and ${b.length} values`);
  const omega = out ?? new Float32Array(a.length);
  if (omega.length !== a.length) throw new RangeError(`overlap output needs ${a.length} values, got ${omega.length}`);
  for (let i = 0; i < a.length; i++) omega[i] = a[i] * b[i];
  return omega;
}

/** True if Ω observes nothing but k = 0 (index 0): a constrained correlation would have no signal. */
export function isOverlapEmpty(omega: Float32Array): boolean {
  for (let i = 1; i < omega.length; i++) if (omega[i] !== 0) return false;
  return true;
}

/** Throws if Ω observes nothing but k = 0; `what` names the pair, e.g. "particle 12 vs reference". */
export function assertOverlapNotEmpty(omega: Float32Array, what = 'the two volumes'): void {
  if (isOverlapEmpty(omega)) {
    throw new Error(
      `wedge overlap is empty for ${what}: no Fourier component besides k = 0 is observed in both, so their ` +
        'constrained correlation is undefined (check the tilt ranges and the rotation between them)',
    );
  }
}
