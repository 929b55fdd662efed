/**
 * Gold-standard half maps and an FSC/post-processing mask from files, on one sampling.
 *
 * The two halves must already share box and voxel size: resampling one half alone would filter it
 * differently from the other and bias their FSC. An EM file states no voxel size (io/em.ts), so an EM half
 * takes the other half's, and two EM halves need it given. The mask is a shape, not data: one of another
 * sampling is brought onto the halves' (io/volumes.ts fitToSampling) and its values kept within [0, 1],
 * the range RELION's relion_postprocess requires of a mask (Postprocessing::getMask).
 */
import type { Volume } from '../core/volume.ts';
import { type Sampling, assertSameSampling, fitToSampling, formatOf, readVolume } from './volumes.ts';

/**
 * The half maps at `paths`, checked to share a sampling. `voxelSize` (Å) overrides both headers; without it an
 * EM half takes the MRC half's voxel size and two EM halves are an error.
 */
export async function readHalfMaps(paths: readonly [string, string], voxelSize?: number): Promise<[Volume, Volume]> {
  const em = paths.map((p) => formatOf(p) === 'em');
  if (voxelSize === undefined && em[0] && em[1]) {
    throw new Error(`half maps ${paths[0]} and ${paths[1]} are EM files, which do not state their voxel size: give it with --pixel-size Å`);
  }
  // read an MRC half first so that an EM half can take its voxel size
  const first = em[0] ? 1 : 0;
  const a = await readVolume(paths[first], { voxelSize });
  const b = await readVolume(paths[1 - first], { voxelSize: voxelSize ?? (em[1 - first] ? a.voxelSize : undefined) });
  const halves: [Volume, Volume] = first === 0 ? [a, b] : [b, a];
  assertSameSampling(
    { n: halves[1].n, voxelSize: halves[1].voxelSize, label: `half map 2 ${paths[1]}` },
    { n: halves[0].n, voxelSize: halves[0].voxelSize, label: `half map 1 ${paths[0]}` },
    ' (both halves come from one reconstruction; resample or re-extract them together)',
  );
  return halves;
}

export interface HalfMapMask {
  /** n³ values in [0, 1] on the halves' sampling. */
  data: Float32Array;
  /** What was done to bring it onto the halves' sampling, for a message; empty if nothing. */
  changes: string[];
}

// RELION accepts mask values this far outside [0, 1] (Postprocessing::getMask)
const RANGE_TOLERANCE = 1e-6;

/**
 * The mask at `path` on `target`'s sampling. An EM mask is taken to have the target's voxel size. Values
 * outside [0, 1] in the file and an all-zero mask are errors naming the file; values that resampling pushes
 * outside [0, 1] (Fourier ringing at a sharp edge) are clamped, and `changes` says so.
 */
export async function readHalfMapMask(path: string, target: Sampling): Promise<HalfMapMask> {
  const mask = await readVolume(path, formatOf(path) === 'em' ? { voxelSize: target.voxelSize } : {});
  const d = mask.data;
  let positive = 0;
  for (let i = 0; i < d.length; i++) {
    if (d[i] < -RANGE_TOLERANCE || d[i] > 1 + RANGE_TOLERANCE) {
      const n = mask.n;
      throw new Error(
        `mask ${path} has the value ${d[i]} at voxel (x=${i % n}, y=${Math.floor(i / n) % n}, z=${Math.floor(i / (n * n))}); ` +
          'a mask for the FSC must lie within [0, 1] (1 = particle, 0 = solvent)',
      );
    }
    if (d[i] > 0) positive++;
  }
  if (positive === 0) throw new Error(`mask ${path} is zero everywhere: it would leave nothing to correlate`);
  const { volume, changes } = fitToSampling(mask, target);
  if (changes.length === 0) return { data: volume.data, changes };
  let clamped = 0;
  const data = volume.data;
  for (let i = 0; i < data.length; i++) {
    if (data[i] < 0 || data[i] > 1) {
      data[i] = data[i] < 0 ? 0 : 1;
      clamped++;
    }
  }
  if (clamped > 0) changes.push(`${clamped} resampled values clamped to [0, 1]`);
  return { data, changes };
}
