/**
 * Fourier resampling of volumes: the one home of Fourier cropping (binning) and zero padding, used for
 * pixel-size rescaling at the I/O edge (io/volumes.ts) and for aligning at a smaller box when the
 * reference is low-passed (core/align.ts).
 *
 * n voxels of a Å become m voxels of a·n/m Å. Voxel 0 stays voxel 0, so the centre n/2 maps to m/2 (both
 * even) and a point at x voxels of the old grid is at x·m/n voxels of the new one. Values are preserved
 * (not sums): the new volume samples the trigonometric interpolant of the old one restricted to the
 * frequencies both grids share,
 *
 *   out(j) = Re (1/n³) Σ_{k : |k_a| ≤ m/2 on every axis} F(k)·exp(2πi k·j/m),   F = fft3(v),
 *
 * k running over the old grid's frequencies (−n/2 … n/2−1). Cropping (m < n) therefore keeps both
 * k = ±m/2 of the source, which alias onto the new grid's Nyquist bin; for a real volume their sum is what
 * samples cos(π·j) and sin(π·j) components exactly. Padding (m > n) evaluates the interpolant at the finer
 * points, so the old grid points keep their values; the source's unpaired k = −n/2 plane is split evenly
 * between ±n/2 by taking the real part. Cropping a padded volume restores it.
 */
import { fft3, ifft3Real } from './fft.ts';
import { sampleTrilinear } from './rotate.ts';
import { Volume, freqOf } from './volume.ts';

/** The volume on an m³ grid of voxel size v.voxelSize·n/m (m even): crop if m < n, pad if m > n. */
export function fourierResize(v: Volume, m: number): Volume {
  if (!Number.isInteger(m) || m < 2 || m % 2 !== 0) {
    throw new RangeError(`Fourier resampling needs an even box of at least 2 voxels, got ${m}`);
  }
  const n = v.n;
  const voxelSize = (v.voxelSize * n) / m;
  if (m === n) return v.clone();
  return new Volume(m, voxelSize, resizeSpectrum(fft3(v.data, n), n, m));
}

/** Fourier crop (binning) of v to an m³ box, m ≤ n: the low frequencies only, voxels n/m times larger. */
export function fourierCrop(v: Volume, m: number): Volume {
  if (m > v.n) throw new RangeError(`Fourier crop of a ${v.n}³ volume needs a box ≤ ${v.n}, got ${m} (pad instead)`);
  return fourierResize(v, m);
}

/** Fourier zero padding of v to an m³ box, m ≥ n: the same frequencies on a finer grid. */
export function fourierPad(v: Volume, m: number): Volume {
  if (m < v.n) throw new RangeError(`Fourier padding of a ${v.n}³ volume needs a box ≥ ${v.n}, got ${m} (crop instead)`);
  return fourierResize(v, m);
}

/** Real m³ volume of the n³ spectrum `src` (fft3 layout) moved onto the m grid, values preserved. */
export function resizeSpectrum(src: Float64Array, n: number, m: number, out?: Float32Array): Float32Array {
  if (src.length !== 2 * n * n * n) throw new RangeError(`spectrum of ${n}³ needs ${2 * n * n * n} values, got ${src.length}`);
  const target = axisMap(n, m);
  const dst = new Float64Array(2 * m * m * m);
  for (let z = 0; z < n; z++) {
    const tz = target[z];
    if (tz < 0) continue;
    for (let y = 0; y < n; y++) {
      const ty = target[y];
      if (ty < 0) continue;
      const rowSrc = n * (y + n * z);
      const rowDst = m * (ty + m * tz);
      for (let x = 0; x < n; x++) {
        const tx = target[x];
        if (tx < 0) continue;
        const s = 2 * (rowSrc + x);
        const d = 2 * (rowDst + tx);
        dst[d] += src[s];
        dst[d + 1] += src[s + 1];
      }
    }
  }
  const result = ifft3Real(dst, m, out);
  // the inverse divides by m³ where the values need 1/n³
  const scale = (m / n) ** 3;
  for (let i = 0; i < result.length; i++) result[i] *= scale;
  return result;
}

/** Target index (unshifted layout) of each source index on one axis, −1 where cropping drops it. */
function axisMap(n: number, m: number): Int32Array {
  const map = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = freqOf(i, n);
    map[i] = m > n || Math.abs(k) <= m / 2 ? ((k % m) + m) % m : -1;
  }
  return map;
}

/**
 * A real-space mask (or any smooth weight map) of an n³ box on an m³ box by trilinear sampling at the
 * corresponding points x·n/m (outside the source box reads 0): values stay within the source's range,
 * where a Fourier crop of a sharp mask would ring below 0 and above 1.
 */
export function resampleMask(mask: Float32Array, n: number, m: number): Float32Array {
  if (mask.length !== n * n * n) throw new RangeError(`mask of a ${n}³ box needs ${n * n * n} values, got ${mask.length}`);
  if (m === n) return mask.slice();
  const s = n / m;
  const out = new Float32Array(m * m * m);
  for (let z = 0, o = 0; z < m; z++) {
    for (let y = 0; y < m; y++) {
      for (let x = 0; x < m; x++, o++) out[o] = sampleTrilinear(mask, n, x * s, y * s, z * s);
    }
  }
  return out;
}
