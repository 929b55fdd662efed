/**
 * Fourier shell correlation and resolution (design "FSC and resolution").
 *
 * Shells have a width of one Fourier voxel: voxel k belongs to shell r = round(|k|); shells r = 1 … n/2 − 1
 * are reported (the DC term and the incomplete corner shells beyond Nyquist are not).
 *   FSC(r) = Re Σ F1·F2* / sqrt(Σ|F1|² · Σ|F2|²)
 * Sums run over the full (not half) spectrum, so `count` is the number of Fourier voxels in the full shell;
 * for two independent noise volumes FSC(r) has standard deviation ≈ 1/√count.
 */
import { fft3 } from './fft.ts';
import { Volume, freqOf } from './volume.ts';

export interface FscCurve {
  /** Shell index r (Fourier voxels), 1 … n/2 − 1. */
  shell: number[];
  /** r / (n·voxel), Å⁻¹. */
  spatialFrequency: number[];
  fsc: number[];
  /** Fourier voxels in the shell (full spectrum). */
  count: number[];
}

/** Gold-standard threshold for independent half-sets (Rosenthal & Henderson 2003). */
export const FSC_GOLD_STANDARD = 0.143;
/** Conventional threshold for a map compared with a reference. */
export const FSC_HALF = 0.5;

/** FSC between two volumes of the same size and voxel size; `mask` (n³) multiplies both first. */
export function fscCurve(a: Volume, b: Volume, mask?: Float32Array): FscCurve {
  const n = a.n;
  if (b.n !== n) throw new RangeError(`FSC needs volumes of the same size, got ${a.n}³ and ${b.n}³`);
  if (Math.abs(a.voxelSize - b.voxelSize) > 1e-4 * a.voxelSize) {
    throw new RangeError(`FSC needs volumes with the same voxel size, got ${a.voxelSize} Å and ${b.voxelSize} Å`);
  }
  const len = n * n * n;
  if (mask && mask.length !== len) throw new RangeError(`FSC mask has ${mask.length} values, a ${n}³ volume needs ${len}`);
  const s1 = fft3(mask ? multiplied(a.data, mask) : a.data, n);
  const s2 = fft3(mask ? multiplied(b.data, mask) : b.data, n);

  const nShells = Math.floor(n / 2); // shells 0 … n/2 − 1 accumulated; 0 dropped on output
  const cross = new Float64Array(nShells);
  const power1 = new Float64Array(nShells);
  const power2 = new Float64Array(nShells);
  const count = new Float64Array(nShells);
  for (let z = 0, i = 0; z < n; z++) {
    const kz = freqOf(z, n);
    for (let y = 0; y < n; y++) {
      const ky = freqOf(y, n);
      const kyz2 = ky * ky + kz * kz;
      for (let x = 0; x < n; x++, i++) {
        const kx = freqOf(x, n);
        const r = Math.round(Math.sqrt(kx * kx + kyz2));
        if (r >= nShells) continue;
        const re1 = s1[2 * i];
        const im1 = s1[2 * i + 1];
        const re2 = s2[2 * i];
        const im2 = s2[2 * i + 1];
        cross[r] += re1 * re2 + im1 * im2;
        power1[r] += re1 * re1 + im1 * im1;
        power2[r] += re2 * re2 + im2 * im2;
        count[r] += 1;
      }
    }
  }

  const curve: FscCurve = { shell: [], spatialFrequency: [], fsc: [], count: [] };
  for (let r = 1; r < nShells; r++) {
    const denom = Math.sqrt(power1[r] * power2[r]);
    curve.shell.push(r);
    curve.spatialFrequency.push(r / (n * a.voxelSize));
    // a shell with no power in one map carries no correlation
    curve.fsc.push(denom > 0 ? cross[r] / denom : 0);
    curve.count.push(count[r]);
  }
  return curve;
}

function multiplied(data: Float32Array, mask: Float32Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] * mask[i];
  return out;
}

/**
 * Fractional shell where the FSC first drops below `threshold`, linearly interpolated between the last
 * shell at or above it and the first below. Edge cases: if the first reported shell is already below,
 * that shell is returned (no resolution can be claimed beyond the coarsest shell); if the curve never
 * drops below, the last shell is returned (resolution limited by Nyquist).
 */
export function crossingShell(curve: FscCurve, threshold: number): number {
  const { shell, fsc } = curve;
  if (shell.length === 0) throw new RangeError('FSC curve is empty (box too small for any shell)');
  if (fsc[0] < threshold) return shell[0];
  for (let i = 1; i < fsc.length; i++) {
    if (fsc[i] < threshold) {
      const t = (fsc[i - 1] - threshold) / (fsc[i - 1] - fsc[i]);
      return shell[i - 1] + t * (shell[i] - shell[i - 1]);
    }
  }
  return shell[shell.length - 1];
}

/**
 * Resolution in Å = n·voxel / r at the first crossing below `threshold`, with r interpolated linearly
 * between shells (see `crossingShell`). RELION instead reports the last shell whose FSC is still above
 * the threshold, without interpolation, so its numbers are coarser by up to one shell.
 */
export function resolutionAt(curve: FscCurve, threshold: number, voxelSize: number, n: number): number {
  if (!(voxelSize > 0)) throw new RangeError(`voxel size must be positive, got ${voxelSize}`);
  return (n * voxelSize) / crossingShell(curve, threshold);
}

/** Gold-standard resolution (FSC = 0.143 between independent half-maps), Å. */
export function goldStandardResolution(curve: FscCurve, voxelSize: number, n: number): number {
  return resolutionAt(curve, FSC_GOLD_STANDARD, voxelSize, n);
}

/** Resolution at FSC = 0.5, Å. */
export function resolutionAtFscHalf(curve: FscCurve, voxelSize: number, n: number): number {
  return resolutionAt(curve, FSC_HALF, voxelSize, n);
}
