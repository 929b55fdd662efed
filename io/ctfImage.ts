/**
 * A particle's 3D CTF volume (rlnCtfImage), as RELION 4/5 and Warp write it, in subtomo's layout: n³ values in
 * core/fft.ts's unshifted FFT layout (index x + n(y + n z), k = 0 at index 0), the value at frequency k.
 *
 * Layouts, as relion_refine reads them (src/ml_optimiser.cpp, MlOptimiser::get3DCTFAndMulti):
 * - (n/2+1) × n × 2n, FFTW half layout (x = 0 … n/2; y and z unshifted: index i is frequency i up to n/2,
 *   i − n above), the first n z-sections the CTF, the next n the multiplicity: what relion_tomo_subtomo writes
 *   as `<particle>_weights.mrc` (src/jaz/tomography/programs/subtomo.cpp, `ctfAndMultiplicity`). relion_refine
 *   reads both only within |k| ≤ n/2 and refuses them for data that are not CTF-premultiplied.
 * - (n/2+1) × n × n, the same half layout without multiplicity: Warp's `<particle>_ctf_<pixel>A.mrc`
 *   (WarpLib/TiltSeries/TiltSeries.ReconstructSubtomos.cs: the real part of the FFT of the cropped CTF
 *   reconstruction, float16).
 * - n × n × n, the full transform centred on voxel n/2 (RELION 3.0's relion_reconstruct --reconstruct_ctf):
 *   relion_refine takes the value at frequency k from voxel n/2 − k ("the origin in the ctf_img lies half a
 *   pixel to the right of the actual center"); for the point-symmetric CTF that is voxel n/2 + k as well.
 * The half layouts give the other half by Friedel symmetry: the transfer of a real volume is real and even.
 *
 * Content, as relion_refine interprets it: with rlnCtfDataAreCtfPremultiplied = 1 the subtomograms were
 * multiplied by their CTF when they were made (RELION 4/5 pseudo-subtomograms: Σ_tilts CTF·dose·image), and
 * the volume is Σ_tilts (CTF·dose)² (subtomo.cpp: `weightStack = c * c`; relion_refine takes it as CTF², its
 * default ctf3d_squared, and only with --ctf3d_not_squared squares it). That volume is also the data's
 * transfer: a pseudo-subtomogram is W·S for the structure S, and RELION averages Σ R⁻¹X / Σ R⁻¹W. Without
 * the flag (Warp, RELION 3.0) the volume is the subtomogram's CTF itself, X = M·S: Warp's is |CTF| × its
 * weights for phase-flipped data. Either way `values` is what multiplies the structure; `kind` says which.
 *
 * Pixel size in the header: RELION writes its weights with 1 / (the subtomogram's pixel size) (subtomo.cpp
 * `write(outWeight, 1.0 / binnedPixelSize)`), Warp and RELION 3.0 with the pixel size; either is accepted, a
 * header without one too, anything else is a CTF volume of other particles.
 */
import { type MrcHeader, decodeVoxels, parseMrcHeader, readFileNamed } from './mrc.ts';

/** What a CTF volume holds (module doc): the subtomogram's CTF M, or Σ CTF² of CTF-premultiplied subtomograms. */
export type CtfImageKind = 'transfer' | 'squared';

export interface CtfImage {
  kind: CtfImageKind;
  /** n³ values in core/fft.ts's unshifted layout. */
  values: Float32Array;
  /**
   * RELION's multiplicity (how many tilt-plane samples each frequency received), same layout, when the file
   * holds one. relion_refine by default (MlOptimiser::applySubtomoCorrection) zeroes the data and the CTF
   * where it is below 0.01 and otherwise uses the sums as they are.
   */
  multiplicity?: Float32Array;
}

export interface CtfImageExpectation {
  /** Box size of the particle's subtomogram. */
  n: number;
  /** Å per voxel of the subtomogram, checked against the header when both are known. */
  voxelSize?: number;
  /** rlnCtfDataAreCtfPremultiplied of the particle's optics group. */
  premultiplied: boolean;
}

/** Relative difference below which two pixel sizes are the same written with other digits. */
const SAME_PIXEL = 1e-3;

/** Reads the CTF volume at `path` for a particle of an n³ box (module doc); errors name the file and the mismatch. */
export async function readCtfImage(path: string, expect: CtfImageExpectation): Promise<CtfImage> {
  const bytes = await readFileNamed(path);
  const h = parseMrcHeader(bytes, path);
  const { n } = expect;
  const half = n / 2 + 1;
  const shape = `${h.nx}×${h.ny}×${h.nz}`;
  const sized = (nx: number, nz: number) => h.nx === nx && h.ny === n && h.nz === nz;
  const layout = sized(half, 2 * n) ? 'half+multiplicity' : sized(half, n) ? 'half' : sized(n, n) ? 'full' : undefined;
  if (!layout) {
    throw new Error(
      `CTF volume ${path} is ${shape} voxels, which does not fit the particle's ${n}³ box: expected ${half}×${n}×${2 * n} ` +
        `(RELION weights), ${half}×${n}×${n} (half transform) or ${n}×${n}×${n}`,
    );
  }
  if (h.mapc !== 1 || h.mapr !== 2 || h.maps !== 3) {
    throw new Error(
      `CTF volume ${path} stores its axes in the order ${h.mapc}, ${h.mapr}, ${h.maps}; ` +
        'the Fourier layouts of RELION and Warp are x, y, z (1, 2, 3)',
    );
  }
  checkPixelSize(h, path, expect.voxelSize);
  if (layout === 'half+multiplicity' && !expect.premultiplied) {
    throw new Error(
      `CTF volume ${path} holds a CTF and a multiplicity volume (RELION's weights of CTF-premultiplied subtomograms), but the ` +
        "particles' optics group does not say rlnCtfDataAreCtfPremultiplied 1 (relion_refine refuses this too)",
    );
  }
  const data = decodeVoxels(bytes.subarray(h.dataOffset, h.dataOffset + h.dataBytes), h);
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`CTF volume ${path} holds a non-finite value (voxel index ${bad})`);
  const kind: CtfImageKind = expect.premultiplied ? 'squared' : 'transfer';
  if (layout === 'full') return { kind, values: fromCentredCube(data, n) };
  const values = fromHalf(data, n, 0);
  if (layout === 'half') return { kind, values };
  // relion_refine reads weights and multiplicity only within |k| ≤ n/2 ("nothing in the corners").
  const multiplicity = fromHalf(data, n, n);
  zeroBeyond(values, n);
  zeroBeyond(multiplicity, n);
  return { kind, values, multiplicity };
}

function checkPixelSize(h: MrcHeader, path: string, voxelSize: number | undefined): void {
  if (voxelSize === undefined || !(h.voxelSize > 0)) return;
  const same = (a: number, b: number) => Math.abs(a - b) <= SAME_PIXEL * b;
  if (same(h.voxelSize, voxelSize) || same(h.voxelSize, 1 / voxelSize)) return;
  throw new Error(
    `CTF volume ${path} says ${h.voxelSize} Å per voxel in its header, but the particles have ${voxelSize} Å voxels ` +
      `(RELION writes its weights with 1/${voxelSize} = ${(1 / voxelSize).toPrecision(6)}): it belongs to other particles`,
  );
}

/** Frequency of index i of an n-point axis in FFTW's half layout and RELION's FFTW_ELEM: 0 … n/2, then i − n. */
function fftwFrequency(i: number, n: number): number {
  return i <= n / 2 ? i : i - n;
}

/**
 * The n³ unshifted layout from a half transform whose x runs 0 … n/2 (`zOffset`: first z-section to read):
 * x ≤ n/2 is read as stored, x > n/2 from −k (Friedel symmetry of a real, even transfer).
 */
function fromHalf(data: Float32Array, n: number, zOffset: number): Float32Array {
  const half = n / 2 + 1;
  const out = new Float32Array(n * n * n);
  for (let z = 0, o = 0; z < n; z++) {
    const zm = (n - z) % n;
    for (let y = 0; y < n; y++) {
      const ym = (n - y) % n;
      const row = half * (y + n * (z + zOffset));
      const mirrored = half * (ym + n * (zm + zOffset));
      for (let x = 0; x < n; x++, o++) out[o] = x < half ? data[row + x] : data[mirrored + n - x];
    }
  }
  return out;
}

/** The n³ unshifted layout from RELION's centred cube: frequency k at voxel n/2 − k on each axis (module doc). */
function fromCentredCube(data: Float32Array, n: number): Float32Array {
  const c = n / 2;
  const at = (i: number) => c - fftwFrequency(i, n);
  const out = new Float32Array(n * n * n);
  for (let z = 0, o = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++, o++) {
        // x > n/2 is the Friedel mate of the half relion_refine reads (x ≤ n/2).
        const [fx, fy, fz] = x <= c ? [x, y, z] : [n - x, (n - y) % n, (n - z) % n];
        out[o] = data[at(fx) + n * (at(fy) + n * at(fz))];
      }
    }
  }
  return out;
}

function zeroBeyond(values: Float32Array, n: number): void {
  const r2 = (n / 2) * (n / 2);
  for (let z = 0, o = 0; z < n; z++) {
    const fz = fftwFrequency(z, n);
    for (let y = 0; y < n; y++) {
      const fy = fftwFrequency(y, n);
      for (let x = 0; x < n; x++, o++) {
        const fx = fftwFrequency(x, n);
        if (fx * fx + fy * fy + fz * fz > r2) values[o] = 0;
      }
    }
  }
}
