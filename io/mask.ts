/**
 * Real-space alignment masks: made from a shape (core/filters.ts soft sphere or cylinder) or read from a
 * user's MRC/EM file and checked against the particles before any work is done.
 *
 * A mask multiplies the (constrained, normalised) volumes before correlation (design "Missing wedge"), so
 * only its shape matters, not its scale; negative values would flip the sign of a region and an all-zero mask
 * leaves nothing to correlate, so both are refused.
 */
import { softCylinderMask, softSphereMask } from '../core/filters.ts';
import { Volume } from '../core/volume.ts';
import { type Sampling, fitToSampling, readVolume, sameVoxelSize } from './volumes.ts';

export type MaskShape = { kind: 'sphere'; radius: number } | { kind: 'cylinder'; radius: number; height: number };

/**
 * A soft mask of `shape` about the centre voxel floor(n/2), lengths in voxels: 1 inside, a raised-cosine
 * fall-off over `edge` voxels outside. A cylinder's axis is z and `height` is its full length (±height/2).
 */
export function makeMask(n: number, voxelSize: number, shape: MaskShape, edge: number): Volume {
  const data =
    shape.kind === 'sphere' ? softSphereMask(n, shape.radius, edge) : softCylinderMask(n, shape.radius, shape.height / 2, edge);
  return new Volume(n, voxelSize, data);
}

export interface ReadMaskOptions {
  /** Voxel size (Å) of the mask file: overrides an MRC header's, required for an EM mask. */
  voxelSize?: number;
}

/** A mask read for particles of some sampling, and what was done to bring it there (for a message). */
export interface UserMask {
  data: Float32Array;
  /** Empty when the file matched; else e.g. "Fourier-resampled from 4 Å to 6 Å voxels". */
  changes: string[];
}

/**
 * The mask in `path` on the sampling of `against` (the particles): checked to hold usable values (≥ 0, not
 * all zero), and resampled when its box or voxel size differs (io/volumes.ts fitToSampling; the result is
 * clipped to [0, 1], since Fourier resampling of a sharp edge rings). Errors name the mask file.
 */
export async function readMask(path: string, against: Sampling, opts: ReadMaskOptions = {}): Promise<UserMask> {
  const mask = await readVolume(path, opts);
  const d = mask.data;
  let positive = 0;
  for (let i = 0; i < d.length; i++) {
    if (d[i] < 0) {
      const n = mask.n;
      throw new Error(
        `mask ${path} has a negative value (${d[i]}) at voxel (x=${i % n}, y=${Math.floor(i / n) % n}, ` +
          `z=${Math.floor(i / (n * n))}); a mask must be ≥ 0 (1 = use, 0 = ignore)`,
      );
    }
    if (d[i] > 0) positive++;
  }
  if (positive === 0) throw new Error(`mask ${path} is zero everywhere: it would leave nothing to align or compare`);
  if (mask.n === against.n && sameVoxelSize(mask.voxelSize, against.voxelSize)) return { data: d, changes: [] };
  const { volume, changes } = fitToSampling(mask, against);
  for (let i = 0; i < volume.data.length; i++) volume.data[i] = Math.min(1, Math.max(0, volume.data[i]));
  return { data: volume.data, changes: changes.map((c) => `mask ${path}: ${c}, to match ${against.label}`) };
}
