/**
 * A reference from an average (design "FSC and resolution"): low-passed at the gold-standard resolution with
 * a raised-cosine edge of REFERENCE_EDGE_SHELLS Fourier shells (RELION uses 2), inside the soft sphere mask
 * of the alignment. Shared by campaigns (each half's next reference) and classification (each class's).
 */
import { lowpassToResolution, shellOfResolution, softSphereMask } from './filters.ts';
import type { Volume } from './volume.ts';

/** Raised-cosine edge of the reference low-pass, in Fourier shells. */
export const REFERENCE_EDGE_SHELLS = 2;

export interface SphereMask {
  /** Voxels from the box centre to where the raised-cosine edge starts. */
  radius: number;
  /** Width of the edge, voxels. */
  edge: number;
}

export function referenceFrom(average: Volume, resolution: number, mask: SphereMask): Volume {
  const ref = lowpassToResolution(average, resolution, REFERENCE_EDGE_SHELLS);
  const m = softSphereMask(ref.n, mask.radius, mask.edge);
  for (let i = 0; i < m.length; i++) ref.data[i] *= m[i];
  return ref;
}

/**
 * The highest Fourier shell (of an n³ box of `voxelSize` Å) a reference low-passed at `resolution` Å still
 * carries: the cut-off plus half its edge. Alignment against it needs nothing beyond (core/align.ts bins to it).
 */
export function referenceShell(n: number, voxelSize: number, resolution: number): number {
  return shellOfResolution(n, voxelSize, resolution) + REFERENCE_EDGE_SHELLS / 2;
}
