import { describe, expect, it } from 'vitest';
import { fft3, ifft3Real } from '../core/fft.ts';
import { frmCandidates } from '../core/frm.ts';
import { Rng } from '../core/random.ts';
import {
  type Mat3,
  eulerToMatrix,
  identity,
  randomRotation,
  rotationAngle,
  rotationX,
  rotationY,
  rotationZ,
  transformVolumeByMatrix,
  transpose,
} from '../core/rotate.ts';
import { Volume } from '../core/volume.ts';
import { type TiltRange, symmetricTilt, tiltRangeDegrees, wedgeMask } from '../core/wedge.ts';
import { randomBlobs, renderBlobs } from './helpers/blobs.ts';

const n = 64;
const B = 32;
const step = Math.PI / B;

function applyWedge(v: Volume, tilt: TiltRange): Volume {
  const spec = fft3(v.data, n);
  const mask = wedgeMask(n, tilt);
  for (let i = 0; i < mask.length; i++) {
    spec[2 * i] *= mask[i];
    spec[2 * i + 1] *= mask[i];
  }
  return v.withData(ifft3Real(spec, n));
}

function addNoise(v: Volume, snr: number, rng: Rng): Volume {
  let s = 0, s2 = 0;
  for (const x of v.data) {
    s += x;
    s2 += x * x;
  }
  const variance = s2 / v.data.length - (s / v.data.length) ** 2;
  const sd = Math.sqrt(variance / snr);
  return v.withData(v.data.map((x) => x + sd * rng.gaussian()));
}

function noiseVolume(rng: Rng): Volume {
  const v = new Volume(n);
  for (let i = 0; i < v.data.length; i++) v.data[i] = rng.gaussian();
  return v;
}

describe('frmCandidates', () => {
  const rng = new Rng(9);
  const blobs = randomBlobs(rng, 12, n / 4);
  const reference = renderBlobs(blobs, n);

  const rotations: [string, Mat3][] = [
    ['random 1', randomRotation(rng)],
    ['random 2', randomRotation(rng)],
    ['random 3', randomRotation(rng)],
    ['θ near 0', eulerToMatrix({ phi: 0.9, theta: 0.04, psi: -2.4 })],
    ['θ near π', eulerToMatrix({ phi: -1.3, theta: Math.PI - 0.03, psi: 0.6 })],
  ];

  it.each(rotations)('finds R with particle = Λ_(R,T) reference (%s) within one angular step', (_name, R) => {
    const shift = [rng.range(-4, 4), rng.range(-4, 4), rng.range(-4, 4)];
    const particle = transformVolumeByMatrix(reference, R, shift);
    const candidates = frmCandidates(reference, particle, { bandwidth: B, topN: 5 });
    expect(candidates.length).toBe(5);
    const top = candidates[0];
    expect(rotationAngle(top.R, R)).toBeLessThan(step);
    if (rotationAngle(R, transpose(R)) > 3 * step) expect(rotationAngle(top.R, transpose(R))).toBeGreaterThan(step);
    expect(rotationAngle(eulerToMatrix(top.euler), top.R)).toBeLessThan(1e-12);
    expect(top.score).toBeGreaterThan(0.95);
    expect(top.score).toBeLessThanOrEqual(1 + 1e-9);
    for (let i = 1; i < candidates.length; i++) {
      expect(candidates[i].score).toBeLessThanOrEqual(candidates[i - 1].score);
      expect(rotationAngle(candidates[i].R, top.R)).toBeGreaterThanOrEqual(2 * step - 1e-12);
    }
  });

  it('works at another bandwidth (B = 16, 11.25° steps), on a particle rendered analytically at its pose', () => {
    const R = randomRotation(rng);
    const particle = renderBlobs(blobs, n, R, [2, -1, 3]);
    const [top] = frmCandidates(reference, particle, { bandwidth: 16, topN: 1 });
    expect(rotationAngle(top.R, R)).toBeLessThan(Math.PI / 16);
  });

  it('aligns through different missing wedges on both sides and noise (SNR 0.3, shells ≤ 12)', () => {
    const refTilt = symmetricTilt(60);
    const particleTilt = tiltRangeDegrees(-50, 40);
    const wedgedReference = applyWedge(reference, refTilt);
    for (let trial = 0; trial < 3; trial++) {
      const R = randomRotation(rng);
      const rotated = transformVolumeByMatrix(reference, R, [rng.range(-3, 3), rng.range(-3, 3), rng.range(-3, 3)]);
      const particle = applyWedge(addNoise(rotated, 0.3, rng), particleTilt);
      const [top] = frmCandidates(wedgedReference, particle, {
        wedgeRef: refTilt,
        wedgeParticle: particleTilt,
        maxShell: 12,
        topN: 3,
      });
      // Noise and two wedges cost some precision: allow one and a half grid steps.
      expect(rotationAngle(top.R, R)).toBeLessThan(1.5 * step);
    }
  });

  it('constrained score removes the pull towards rotations that align the wedges', () => {
    // Two unrelated noise volumes with the same ±40° wedge: without the overlap constraint the best
    // "match" is a rotation mapping one wedge onto the other (the identity or a half-turn about x, y or z).
    const tilt = symmetricTilt(40);
    const wedgeSymmetries = [identity(), rotationX(Math.PI), rotationY(Math.PI), rotationZ(Math.PI)];
    const distance = (R: Mat3): number => Math.min(...wedgeSymmetries.map((S) => rotationAngle(S, R)));
    for (let trial = 0; trial < 2; trial++) {
      const a = applyWedge(noiseVolume(rng), tilt);
      const b = applyWedge(noiseVolume(rng), tilt);
      const [naive] = frmCandidates(a, b, { topN: 1 });
      expect(distance(naive.R)).toBeLessThan(step);
      const constrained = frmCandidates(a, b, { wedgeRef: tilt, wedgeParticle: tilt, topN: 3 });
      for (const c of constrained) expect(distance(c.R)).toBeGreaterThan(4 * step);
    }
  });

  it('rejects inputs it cannot match, naming the problem', () => {
    const small = new Volume(32);
    expect(() => frmCandidates(reference, small)).toThrow(/64³.*32³/);
    expect(() => frmCandidates(reference, reference, { maxShell: 40 })).toThrow(/maximum shell.*got 40/);
    expect(() => frmCandidates(reference, reference, { bandwidth: 1 })).toThrow(/bandwidth/);
    const flat = new Volume(n);
    flat.data.fill(3);
    expect(() => frmCandidates(reference, flat)).toThrow(/particle volume is constant/);
  });
});
