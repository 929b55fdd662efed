import { describe, expect, it } from 'vitest';
import { Rng } from '../core/random.ts';
import { freqOf } from '../core/volume.ts';
import { type Mat3, applyMat, eulerToMatrix, identity, radians, randomRotation, rotationZ, transpose } from '../core/rotate.ts';
import {
  type TiltRange,
  assertOverlapNotEmpty,
  isOverlapEmpty,
  observedFraction,
  overlap,
  symmetricTilt,
  tiltRangeDegrees,
  wedgeMask,
} from '../core/wedge.ts';

/**
 * The definition, written the obvious way: the angle of the (kx, kz) line in (−90°, 90°] (kx = 0 → 90°)
 * must lie in the tilt range; kx = kz = 0 (tilt axis, k = 0) is in every projection plane. Returns null
 * when k lies within `margin` rad of a range boundary, where rounding may legitimately decide.
 */
function referenceObserved(k: ArrayLike<number>, tilt: TiltRange, margin = 0): 0 | 1 | null {
  const [kx, kz] = [k[0], k[2]];
  const scale = Math.abs(k[0]) + Math.abs(k[1]) + Math.abs(k[2]);
  if (Math.abs(kx) + Math.abs(kz) <= 1e-9 * scale) return 1;
  const angle = Math.abs(kx) <= 1e-12 * scale ? Math.PI / 2 : Math.atan(kz / kx);
  if (margin > 0) {
    const nearEdge = (b: number): boolean => Math.abs(angle - b) < margin || Math.abs(Math.abs(angle - b) - Math.PI) < margin;
    if (nearEdge(tilt.min) || nearEdge(tilt.max)) return null;
  }
  const inRange = angle >= tilt.min - 1e-9 && angle <= tilt.max + 1e-9;
  const alsoMinus90 = angle === Math.PI / 2 && tilt.min <= -Math.PI / 2 + 1e-9;
  return inRange || alsoMinus90 ? 1 : 0;
}

/** Observed fraction over the ball |k| ≤ n/2. */
function fractionInBall(mask: Float32Array, n: number): number {
  let observed = 0, count = 0;
  for (let iz = 0; iz < n; iz++)
    for (let iy = 0; iy < n; iy++)
      for (let ix = 0; ix < n; ix++) {
        const [kx, ky, kz] = [freqOf(ix, n), freqOf(iy, n), freqOf(iz, n)];
        if (kx * kx + ky * ky + kz * kz > (n / 2) ** 2) continue;
        observed += mask[ix + n * (iy + n * iz)];
        count++;
      }
  return observed / count;
}

const ranges: Array<[string, TiltRange]> = [
  ['±60°', symmetricTilt(60)],
  ['±45° (boundary on lattice points)', symmetricTilt(45)],
  ['[−50°, 30°]', tiltRangeDegrees(-50, 30)],
  ['[0°, 0°] (one projection)', tiltRangeDegrees(0, 0)],
  ['[45°, 90°]', tiltRangeDegrees(45, 90)],
  ['[−90°, −80°]', tiltRangeDegrees(-90, -80)],
  ['±90° (no wedge)', symmetricTilt(90)],
];

describe('wedgeMask (unrotated)', () => {
  it.each(ranges)('equals the definition at every frequency for %s', (_, tilt) => {
    for (const n of [16, 15]) {
      const mask = wedgeMask(n, tilt);
      let mismatches = 0;
      for (let iz = 0; iz < n; iz++)
        for (let iy = 0; iy < n; iy++)
          for (let ix = 0; ix < n; ix++) {
            const k = [freqOf(ix, n), freqOf(iy, n), freqOf(iz, n)];
            if (mask[ix + n * (iy + n * iz)] !== referenceObserved(k, tilt)) mismatches++;
          }
      expect(mismatches).toBe(0);
    }
  });

  it('observes 120/180 of the ball |k| ≤ n/2 for ±60° (n = 64)', () => {
    // The observed share equals the angular share 120°/180° only over a region that is rotationally
    // symmetric about the tilt axis y, such as the ball |k| ≤ n/2. Over the whole cube the corners
    // over-weight diagonal directions: there the exact share is 1 − 1/(2√3) ≈ 0.711 (area of the square
    // [−L, L]² outside the two 30°-wide cones about kz).
    const n = 64;
    const mask = wedgeMask(n, symmetricTilt(60));
    expect(Math.abs(fractionInBall(mask, n) / (120 / 180) - 1)).toBeLessThan(0.02);
    expect(Math.abs(observedFraction(mask) / (1 - 1 / (2 * Math.sqrt(3))) - 1)).toBeLessThan(0.02);
  });

  it('observes 80/180 of the ball for the asymmetric range [−50°, 30°] (n = 64)', () => {
    const n = 64;
    const fraction = fractionInBall(wedgeMask(n, tiltRangeDegrees(-50, 30)), n);
    expect(Math.abs(fraction / (80 / 180) - 1)).toBeLessThan(0.02);
    // A mirrored range is a different wedge with the same share.
    const mirrored = wedgeMask(n, tiltRangeDegrees(-30, 50));
    expect(Math.abs(fractionInBall(mirrored, n) / (80 / 180) - 1)).toBeLessThan(0.02);
    expect(mirrored).not.toEqual(wedgeMask(n, tiltRangeDegrees(-50, 30)));
  });

  it('caches and shares the unrotated mask; `out` gets a private copy', () => {
    const tilt = symmetricTilt(60);
    const a = wedgeMask(12, tilt);
    expect(wedgeMask(12, tilt)).toBe(a);
    const copy = wedgeMask(12, tilt, undefined, new Float32Array(12 ** 3));
    expect(copy).not.toBe(a);
    expect(copy).toEqual(a);
    expect(wedgeMask(12, tilt, identity())).toEqual(a);
  });

  it('takes degrees at the edge and keeps radians inside', () => {
    expect(symmetricTilt(60)).toEqual({ min: -Math.PI / 3, max: Math.PI / 3 });
    expect(tiltRangeDegrees(-50, 30)).toEqual({ min: radians(-50), max: radians(30) });
  });

  it('rejects invalid tilt ranges with messages in degrees', () => {
    expect(() => symmetricTilt(95)).toThrow(/between 0° and 90°, got 95°/);
    expect(() => tiltRangeDegrees(-100, 40)).toThrow(/within \[−90°, 90°\], got \[-100°, 40°\]/);
    expect(() => tiltRangeDegrees(30, -30)).toThrow(/minimum 30° is larger than its maximum -30°/);
    expect(() => wedgeMask(8, { min: Number.NaN, max: 1 })).toThrow(/finite/);
    expect(() => wedgeMask(8, { min: -2, max: 0 })).toThrow(/−90°, 90°/);
    expect(() => wedgeMask(8, symmetricTilt(60), undefined, new Float32Array(10))).toThrow(/8³ needs 512/);
  });
});

describe('wedgeMask (rotated)', () => {
  it('equals the unrotated definition evaluated at Rᵀk', () => {
    const n = 24;
    const rng = new Rng(21);
    for (const tilt of [symmetricTilt(60), tiltRangeDegrees(-50, 30), symmetricTilt(40)]) {
      for (let r = 0; r < 3; r++) {
        const R = randomRotation(rng);
        const Rt = transpose(R);
        const mask = wedgeMask(n, tilt, R);
        let checked = 0, mismatches = 0;
        for (let iz = 0; iz < n; iz++)
          for (let iy = 0; iy < n; iy++)
            for (let ix = 0; ix < n; ix++) {
              const expected = referenceObserved(applyMat(Rt, [freqOf(ix, n), freqOf(iy, n), freqOf(iz, n)]), tilt, 1e-7);
              if (expected === null) continue;
              checked++;
              if (mask[ix + n * (iy + n * iz)] !== expected) mismatches++;
            }
        expect(checked).toBeGreaterThan(0.99 * n ** 3);
        expect(mismatches).toBe(0);
      }
    }
  });

  it('for 90° about z is the permuted mask M_R(kx, ky, kz) = M(ky, −kx, kz), bit exact', () => {
    const n = 16;
    const R: Mat3 = rotationZ(Math.PI / 2);
    for (const tilt of [symmetricTilt(60), tiltRangeDegrees(-50, 30)]) {
      const plain = wedgeMask(n, tilt);
      const rotated = wedgeMask(n, tilt, R);
      let mismatches = 0;
      for (let iz = 0; iz < n; iz++)
        for (let iy = 0; iy < n; iy++)
          for (let ix = 0; ix < n; ix++)
            if (rotated[ix + n * (iy + n * iz)] !== plain[iy + n * ((n - ix) % n + n * iz)]) mismatches++;
      expect(mismatches).toBe(0);
      // The wedge really moved: its missing region now lies along ky instead of kx.
      expect(rotated).not.toEqual(plain);
    }
  });

  it('is symmetric under k → −k away from the Nyquist planes', () => {
    const n = 16;
    const mask = wedgeMask(n, tiltRangeDegrees(-50, 30), eulerToMatrix({ phi: 0.4, theta: 1.1, psi: -0.7 }));
    let mismatches = 0;
    for (let iz = 1; iz < n; iz++)
      for (let iy = 1; iy < n; iy++)
        for (let ix = 1; ix < n; ix++) {
          if (ix === n / 2 || iy === n / 2 || iz === n / 2) continue;
          if (mask[ix + n * (iy + n * iz)] !== mask[n - ix + n * (n - iy + n * (n - iz))]) mismatches++;
        }
    expect(mismatches).toBe(0);
  });
});

describe('overlap', () => {
  it('multiplies masks and reports a usable overlap of two ±60° wedges', () => {
    const n = 16;
    const tilt = symmetricTilt(60);
    const a = wedgeMask(n, tilt);
    const b = wedgeMask(n, tilt, randomRotation(new Rng(22)));
    const omega = overlap(a, b);
    for (let i = 0; i < omega.length; i++) expect(omega[i]).toBe(a[i] * b[i]);
    expect(overlap(a, a)).toEqual(a);
    expect(observedFraction(omega)).toBeLessThan(observedFraction(a));
    expect(isOverlapEmpty(omega)).toBe(false);
    expect(() => assertOverlapNotEmpty(omega)).not.toThrow();
    expect(() => overlap(a, new Float32Array(8))).toThrow(/4096 and 8/);
  });

  it('detects an overlap that keeps nothing but k = 0', () => {
    // A single projection observes one central plane; two planes meet in a line, and for a generic
    // rotation that line passes through no lattice point other than the origin.
    const n = 16;
    const single = tiltRangeDegrees(0, 0);
    const omega = overlap(wedgeMask(n, single), wedgeMask(n, single, eulerToMatrix({ phi: 0.3, theta: 1.1, psi: 0.7 })));
    expect(omega[0]).toBe(1);
    expect(isOverlapEmpty(omega)).toBe(true);
    expect(() => assertOverlapNotEmpty(omega, 'particle 12 vs reference')).toThrow(
      /wedge overlap is empty for particle 12 vs reference/,
    );
  });
});
