/**
 * Alignment test cases: a blob reference, a particle rendered analytically at a random true pose (optionally
 * wedge-filtered and noisy), a soft sphere mask and a start rotation a given angle away from the truth.
 */
import { applyFourierFilter, softSphereMask } from '../../core/filters.ts';
import { Rng } from '../../core/random.ts';
import { type Mat3, multiply, quaternionToMatrix, randomRotation, rotationAngle } from '../../core/rotate.ts';
import type { Volume } from '../../core/volume.ts';
import { type TiltRange, wedgeMask } from '../../core/wedge.ts';
import { randomBlobs, renderBlobs } from './blobs.ts';

export interface AlignmentCase {
  reference: Volume;
  particle: Volume;
  mask: Float32Array;
  trueR: Mat3;
  trueT: [number, number, number];
  /** A rotation exactly `offsetDegrees` from trueR about a random axis. */
  startR: Mat3;
}

export interface CaseOptions {
  offsetDegrees?: number;
  /** Largest |component| of the true shift, voxels. */
  shift?: number;
  wedge?: TiltRange;
  /** Noise standard deviation relative to the particle's standard deviation (0 = noise free). */
  noise?: number;
}

/** Rotation by `degrees` about a uniformly random axis, applied after R. */
export function rotateAway(R: Mat3, degrees: number, rng: Rng): Mat3 {
  let x: number, y: number, z: number, s: number;
  do {
    x = rng.range(-1, 1);
    y = rng.range(-1, 1);
    z = rng.range(-1, 1);
    s = Math.hypot(x, y, z);
  } while (s > 1 || s < 1e-3);
  const half = (degrees * Math.PI) / 360;
  return multiply(quaternionToMatrix([Math.cos(half), (Math.sin(half) * x) / s, (Math.sin(half) * y) / s, (Math.sin(half) * z) / s]), R);
}

export function alignmentCase(n: number, seed: number, options: CaseOptions = {}): AlignmentCase {
  const rng = new Rng(seed);
  const blobs = randomBlobs(rng, 8, n / 4);
  const reference = renderBlobs(blobs, n);
  const trueR = randomRotation(rng);
  const s = options.shift ?? 2;
  const trueT: [number, number, number] = [rng.range(-s, s), rng.range(-s, s), rng.range(-s, s)];
  let particle = renderBlobs(blobs, n, trueR, trueT);
  if (options.wedge) particle = applyFourierFilter(particle, wedgeMask(n, options.wedge));
  if (options.noise) {
    let mean = 0;
    for (const v of particle.data) mean += v / particle.data.length;
    let variance = 0;
    for (const v of particle.data) variance += (v - mean) ** 2 / particle.data.length;
    const sigma = options.noise * Math.sqrt(variance);
    for (let i = 0; i < particle.data.length; i++) particle.data[i] += sigma * rng.gaussian();
  }
  const startR = rotateAway(trueR, options.offsetDegrees ?? 10, rng);
  return { reference, particle, mask: softSphereMask(n, n / 2 - 5, 3), trueR, trueT, startR };
}

/** Rotation error (degrees) and shift error (voxels) of an estimate against the truth. */
export function poseErrors(c: AlignmentCase, R: ArrayLike<number>, t: ArrayLike<number>): { degrees: number; voxels: number } {
  return {
    degrees: (rotationAngle(Float64Array.from(R), c.trueR) * 180) / Math.PI,
    voxels: Math.hypot(t[0] - c.trueT[0], t[1] - c.trueT[1], t[2] - c.trueT[2]),
  };
}
