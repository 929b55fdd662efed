/**
 * A structured, asymmetric test object for alignment: a sum of anisotropic Gaussian blobs, rendered
 * analytically at any pose (no interpolation), so a particle Λ_(R,T) reference is exact to float precision.
 */
import type { Rng } from '../../core/random.ts';
import { type Mat3, randomRotation } from '../../core/rotate.ts';
import { Volume, centreOf } from '../../core/volume.ts';

export interface Blob {
  /** Centre relative to the box centre, voxels. */
  centre: [number, number, number];
  /** Inverse covariance (row-major 3×3, symmetric positive definite). */
  precision: Float64Array;
  amplitude: number;
}

/** `count` blobs with centres within `radius` of the box centre and per-axis σ in [sigmaMin, sigmaMax]. */
export function randomBlobs(rng: Rng, count: number, radius: number, sigmaMin = 1.2, sigmaMax = 3): Blob[] {
  const blobs: Blob[] = [];
  for (let b = 0; b < count; b++) {
    let x: number, y: number, z: number;
    do {
      x = rng.range(-1, 1);
      y = rng.range(-1, 1);
      z = rng.range(-1, 1);
    } while (x * x + y * y + z * z > 1);
    const axes = randomRotation(rng);
    const inv = [0, 1, 2].map(() => 1 / rng.range(sigmaMin, sigmaMax) ** 2);
    // precision = A·diag(1/σ²)·Aᵀ
    const precision = new Float64Array(9);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++) s += axes[3 * i + k] * inv[k] * axes[3 * j + k];
        precision[3 * i + j] = s;
      }
    }
    blobs.push({ centre: [radius * x, radius * y, radius * z], precision, amplitude: rng.range(0.5, 1.5) });
  }
  return blobs;
}

/** Λ_(R,T) of the blob object: value at x is the object at R⁻¹(x − c − T) (identity and 0 by default). */
export function renderBlobs(blobs: Blob[], n: number, R?: Mat3, t: ArrayLike<number> = [0, 0, 0], voxelSize = 6): Volume {
  const v = new Volume(n, voxelSize);
  const c = centreOf(n);
  const r = R ?? Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
  for (let z = 0, i = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++, i++) {
        const ux = x - c - t[0], uy = y - c - t[1], uz = z - c - t[2];
        // s = Rᵀu
        const sx = r[0] * ux + r[3] * uy + r[6] * uz;
        const sy = r[1] * ux + r[4] * uy + r[7] * uz;
        const sz = r[2] * ux + r[5] * uy + r[8] * uz;
        let value = 0;
        for (const b of blobs) {
          const dx = sx - b.centre[0], dy = sy - b.centre[1], dz = sz - b.centre[2];
          const P = b.precision;
          const q = dx * (P[0] * dx + P[1] * dy + P[2] * dz) + dy * (P[3] * dx + P[4] * dy + P[5] * dz) + dz * (P[6] * dx + P[7] * dy + P[8] * dz);
          value += b.amplitude * Math.exp(-0.5 * q);
        }
        v.data[i] = value;
      }
    }
  }
  return v;
}
