
/**
 * A cubic n×n×n float32 volume stored x-fastest (MRC order): index = x + n*(y + n*z).
 * `voxelSize` is in Å and travels with the data so pixel-size mistakes are caught at the edges.
 * A flat typed array with index arithmetic, not a strided view library: every kernel walks this one layout
 * directly, and sub-boxes of large tomograms are read from files slab by slab rather than viewed in memory.
 */
export class Volume {
  readonly n: number;
  readonly data: Float32Array;
  readonly voxelSize: number;

  constructor(n: number, voxelSize = 1, data?: Float32Array) {
    if (!Number.isInteger(n) || n < 2) throw new RangeError(`volume size must be an integer ≥ 2, got ${n}`);
    if (!(voxelSize > 0)) throw new RangeError(`voxel size must be positive, got ${voxelSize}`);
    const len = n * n * n;
    if (data && data.length !== len) throw new RangeError(`volume of ${n}³ needs ${len} values, got ${data.length}`);
    this.n = n;
    this.voxelSize = voxelSize;
    this.data = data ?? new Float32Array(len);
  }

  get(x: number, y: number, z: number): number {
    return this.data[x + this.n * (y + this.n * z)];
  }

  set(x: number, y: number, z: number, value: number): void {
    this.data[x + this.n * (y + this.n * z)] = value;
  }

  clone(): Volume {
    return new Volume(this.n, this.voxelSize, this.data.slice());
  }

  /** A new volume of the same size and voxel size holding `data`. */
  withData(data: Float32Array): Volume {
    return new Volume(this.n, this.voxelSize, data);
  }
}

/** Centre voxel on each axis: rotations are about (c, c, c) with c = floor(n/2). */
export function centreOf(n: number): number {
  return Math.floor(n / 2);
}

/** Signed Fourier frequency of unshifted FFT index i: 0 … n/2−1, −n/2 … −1. */
export function freqOf(i: number, n: number): number {
  return i < n / 2 ? i : i - n;
}

export const SLICE_AXES = ['x', 'y', 'z'] as const;

/** The central slice of `v` normal to `axis`, as (values, width, height) with the in-plane axes in order. */
export function centralSlice(v: Volume, axis: (typeof SLICE_AXES)[number]): { values: Float32Array; width: number; height: number } {
  const n = v.n;
  const c = centreOf(n);
  const values = new Float32Array(n * n);
  for (let b = 0; b < n; b++) {
    for (let a = 0; a < n; a++) {
      // x-slice: (y, z) plane; y-slice: (x, z); z-slice: (x, y)
      const [x, y, z] = axis === 'x' ? [c, a, b] : axis === 'y' ? [a, c, b] : [a, b, c];
      values[a + n * b] = v.data[x + n * (y + n * z)];
    }
  }
  return { values, width: n, height: n };
}
