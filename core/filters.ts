/**
 * Fourier filters and soft real-space masks.
 *
 * Fourier masks are returned in the unshifted FFT layout of core/fft.ts (index i ↔ signed frequency
 * `freqOf(i, n)`, x fastest), so they multiply a spectrum from `fft3` element by element. Radii are
 * measured in Fourier voxels: shell r ↔ spatial frequency r/(n·voxel) Å⁻¹, resolution n·voxel/r Å.
 */
import { squaredDistanceTransform } from './distance.ts';
import { fft3, ifft3Real } from './fft.ts';
import { Volume, centreOf, freqOf } from './volume.ts';

/**
 * Raised-cosine edge shared by the Fourier low-pass and the real-space masks: 1 up to `inner`,
 * 0 from `inner + width` on, 0.5 + 0.5·cos(π·(r − inner)/width) between. width 0 = hard edge (1 up to
 * and including `inner`).
 */
function raisedCosine(r: number, inner: number, width: number): number {
  if (r <= inner) return 1;
  if (r >= inner + width) return 0;
  return 0.5 + 0.5 * Math.cos((Math.PI * (r - inner)) / width);
}

function checkNonNegative(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number ≥ 0, got ${value}`);
}

/**
 * Low-pass transfer function with a raised-cosine edge, unshifted FFT layout.
 *
 * As RELION's low-pass, `edgeShells` is the total width of the edge, centred on the cut-off: the response
 * is 1 for |k| ≤ cutoff − edge/2, 0 for |k| ≥ cutoff + edge/2, 0.5 at the cut-off (|k| in Fourier voxels,
 * not rounded). edgeShells = 0 gives a hard sphere |k| ≤ cutoff.
 */
export function lowpassMask(n: number, cutoffShell: number, edgeShells = 2): Float32Array {
  checkNonNegative('low-pass cut-off (shells)', cutoffShell);
  checkNonNegative('low-pass edge width (shells)', edgeShells);
  const inner = cutoffShell - edgeShells / 2;
  const mask = new Float32Array(n * n * n);
  for (let z = 0, i = 0; z < n; z++) {
    const kz = freqOf(z, n);
    for (let y = 0; y < n; y++) {
      const ky = freqOf(y, n);
      const kyz2 = ky * ky + kz * kz;
      for (let x = 0; x < n; x++, i++) {
        const kx = freqOf(x, n);
        mask[i] = raisedCosine(Math.sqrt(kx * kx + kyz2), inner, edgeShells);
      }
    }
  }
  return mask;
}

/** Multiply the spectrum of `v` by a real transfer function in the unshifted layout. */
export function applyFourierFilter(v: Volume, transfer: Float32Array | Float64Array): Volume {
  const n = v.n;
  if (transfer.length !== n * n * n) {
    throw new RangeError(`Fourier filter has ${transfer.length} values, a ${n}³ volume needs ${n * n * n}`);
  }
  const spec = fft3(v.data, n);
  for (let i = 0; i < transfer.length; i++) {
    spec[2 * i] *= transfer[i];
    spec[2 * i + 1] *= transfer[i];
  }
  return v.withData(ifft3Real(spec, n));
}

/** Low-pass `v` at `cutoffShell` Fourier voxels with a raised-cosine edge (see `lowpassMask`). */
export function lowpass(v: Volume, cutoffShell: number, edgeShells = 2): Volume {
  return applyFourierFilter(v, lowpassMask(v.n, cutoffShell, edgeShells));
}

/** Fourier shell (possibly fractional) of a resolution in Å: n·voxel/resolution. */
export function shellOfResolution(n: number, voxelSize: number, resolutionAngstrom: number): number {
  if (!Number.isFinite(resolutionAngstrom) || resolutionAngstrom <= 0) {
    throw new RangeError(`resolution must be a positive number of Å, got ${resolutionAngstrom}`);
  }
  return (n * voxelSize) / resolutionAngstrom;
}

/** Low-pass `v` to a resolution in Å (cut-off shell n·voxel/res) with a raised-cosine edge in shells. */
export function lowpassToResolution(v: Volume, resolutionAngstrom: number, edgeShells = 2): Volume {
  return lowpass(v, shellOfResolution(v.n, v.voxelSize, resolutionAngstrom), edgeShells);
}

/**
 * Convolution with a normalised Gaussian of standard deviation `sigmaVoxels` (real space), done in Fourier
 * space as exp(−2π²σ²|k/n|²); like every FFT filter it wraps around the box edges.
 */
export function gaussianFilter(v: Volume, sigmaVoxels: number): Volume {
  checkNonNegative('Gaussian sigma (voxels)', sigmaVoxels);
  const n = v.n;
  // separable: exp(−a(kx²+ky²+kz²)) = gx·gy·gz with one table per axis
  const a = (2 * Math.PI * Math.PI * sigmaVoxels * sigmaVoxels) / (n * n);
  const g = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const k = freqOf(i, n);
    g[i] = Math.exp(-a * k * k);
  }
  const transfer = new Float64Array(n * n * n);
  for (let z = 0, i = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      const gyz = g[y] * g[z];
      for (let x = 0; x < n; x++, i++) transfer[i] = g[x] * gyz;
    }
  }
  return applyFourierFilter(v, transfer);
}

/**
 * Real-space sphere about the centre voxel floor(n/2): 1 within `radius` voxels, raised-cosine fall-off
 * to 0 at `radius + edge`.
 */
export function softSphereMask(n: number, radius: number, edge: number): Float32Array {
  checkNonNegative('mask radius (voxels)', radius);
  checkNonNegative('mask edge width (voxels)', edge);
  const c = centreOf(n);
  const mask = new Float32Array(n * n * n);
  for (let z = 0, i = 0; z < n; z++) {
    const dz = z - c;
    for (let y = 0; y < n; y++) {
      const dy = y - c;
      const dyz2 = dy * dy + dz * dz;
      for (let x = 0; x < n; x++, i++) {
        const dx = x - c;
        mask[i] = raisedCosine(Math.sqrt(dx * dx + dyz2), radius, edge);
      }
    }
  }
  return mask;
}

/**
 * Real-space cylinder about the z axis through the centre voxel: radius `radius` in x–y, extent
 * ±`halfHeight` along z, each with a raised-cosine edge of width `edge`; the value is the product of the
 * radial and axial profiles.
 */
export function softCylinderMask(n: number, radius: number, halfHeight: number, edge: number): Float32Array {
  checkNonNegative('cylinder radius (voxels)', radius);
  checkNonNegative('cylinder half-height (voxels)', halfHeight);
  checkNonNegative('mask edge width (voxels)', edge);
  const c = centreOf(n);
  const radial = new Float64Array(n * n);
  for (let y = 0, i = 0; y < n; y++) {
    for (let x = 0; x < n; x++, i++) radial[i] = raisedCosine(Math.hypot(x - c, y - c), radius, edge);
  }
  const mask = new Float32Array(n * n * n);
  for (let z = 0; z < n; z++) {
    const axial = raisedCosine(Math.abs(z - c), halfHeight, edge);
    const base = z * n * n;
    for (let i = 0; i < n * n; i++) mask[base + i] = radial[i] * axial;
  }
  return mask;
}

/**
 * A soft mask from a map, as relion_mask_create makes one: voxels at or above `threshold` (binarised), grown
 * by `extend` voxels, then a raised-cosine edge falling from 1 to 0 over the next `soft` voxels. Distances are
 * exact Euclidean (core/distance.ts).
 */
export function thresholdMask(v: Volume, threshold: number, extend: number, soft: number): Float32Array {
  checkNonNegative('mask extension (voxels)', extend);
  checkNonNegative('mask soft edge (voxels)', soft);
  const n = v.n;
  const inside = new Uint8Array(v.data.length);
  let count = 0;
  let max = -Infinity;
  for (let i = 0; i < inside.length; i++) {
    if (v.data[i] >= threshold) count += inside[i] = 1;
    if (v.data[i] > max) max = v.data[i];
  }
  if (count === 0) throw new RangeError(`no voxel reaches the threshold ${threshold} (the map's maximum is ${max})`);
  const d2 = squaredDistanceTransform(inside, n);
  const mask = new Float32Array(inside.length);
  for (let i = 0; i < mask.length; i++) mask[i] = raisedCosine(Math.sqrt(d2[i]), extend, soft);
  return mask;
}
