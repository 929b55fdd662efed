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
import { type Sampling, assertSameSampling, readVolume } from './volumes.ts';

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

/**
 * The alignment mask in `path` as n³ values, after checking it has the box and voxel size of `against`
 * (e.g. the first particle or the reference) and holds usable values. Errors name the mask file, the other
 * volume and both values.
 */
export async function readAlignmentMask(path: string, against: Sampling, opts: ReadMaskOptions = {}): Promise<Float32Array> {
  const mask = await readVolume(path, opts);
  assertSameSampling(
    { n: mask.n, voxelSize: mask.voxelSize, label: `alignment mask ${path}` },
    against,
    ` (make a matching one with: subtomo mask --size ${against.n} --voxel ${against.voxelSize} --sphere R --out mask.mrc)`,
  );
  const d = mask.data;
  let positive = 0;
  for (let i = 0; i < d.length; i++) {
    if (d[i] < 0) {
      const n = mask.n;
      throw new Error(
        `alignment mask ${path} has a negative value (${d[i]}) at voxel (x=${i % n}, y=${Math.floor(i / n) % n}, ` +
          `z=${Math.floor(i / (n * n))}); a mask must be ≥ 0 (1 = use, 0 = ignore)`,
      );
    }
    if (d[i] > 0) positive++;
  }
  if (positive === 0) throw new Error(`alignment mask ${path} is zero everywhere: it would leave nothing to align`);
  return d;
}
