/**
 * Volumes whatever their file format, and the checks that put particles, references and masks on one
 * sampling (box size and voxel size).
 *
 * Formats by extension (case-insensitive): .mrc, .map, .rec → MRC2014 (io/mrc.ts); .em → TOM/PyTom EM
 * (io/em.ts), which needs the voxel size from the caller.
 *
 * Rescaling: volumes with a different voxel size are an error unless the caller asks for rescaling; then the
 * volume is Fourier cropped or zero-padded (`fourierResample`) from n voxels of a Å to m = n·a/b voxels of
 * b Å, which must come out an even whole number and equal the target box.
 */
import { extname } from 'node:path';
import { fourierResize } from '../core/resample.ts';
import { Volume } from '../core/volume.ts';
import { parseEm, readEm } from './em.ts';
import { parseMrc, readMrc } from './mrc.ts';

const FORMATS: Readonly<Record<string, 'mrc' | 'em'>> = { '.mrc': 'mrc', '.map': 'mrc', '.rec': 'mrc', '.em': 'em' };

export interface ReadVolumeOptions {
  /** Voxel size in Å: overrides an MRC header's; required for EM files. */
  voxelSize?: number;
}

/** The format of a volume file by its extension; an unknown one is an error naming the path and the formats read. */
export function formatOf(path: string): 'mrc' | 'em' {
  const ext = extname(path).toLowerCase();
  const format = FORMATS[ext];
  if (!format) {
    throw new Error(
      `${path}: unknown volume format '${ext || '(no extension)'}'; subtomo reads MRC (.mrc, .map, .rec) and EM (.em) volumes`,
    );
  }
  return format;
}

/** A cubic volume from an MRC (.mrc/.map/.rec) or EM (.em) file. */
export async function readVolume(path: string, opts: ReadVolumeOptions = {}): Promise<Volume> {
  return formatOf(path) === 'mrc' ? readMrc(path, opts) : readEm(path, opts);
}

/** A cubic volume from the bytes of a file named `path` (its extension gives the format). */
export function parseVolume(bytes: Uint8Array, path: string, opts: ReadVolumeOptions = {}): Volume {
  return formatOf(path) === 'mrc' ? parseMrc(bytes, path, opts) : parseEm(bytes, path, opts);
}

/**
 * Throws when every voxel of `v` has the same value: an empty or failed extraction, or a file of zeros, that
 * would otherwise fail deep inside the alignment (its normalised correlation is undefined).
 */
export function assertNotConstant(v: Volume, label: string): void {
  const first = v.data[0];
  for (let i = 1; i < v.data.length; i++) if (v.data[i] !== first) return;
  throw new Error(`${label} is constant (every voxel is ${first}): an empty or failed extraction? subtomo cannot align it`);
}

/** Box and voxel size of a volume, and how messages name it, e.g. "particle particles/p_0001.mrc". */
export interface Sampling {
  n: number;
  voxelSize: number;
  label: string;
}

export type SamplingMismatchKind = 'box-size' | 'voxel-size';

/** Two volumes that must share a sampling do not; the message names both values and both volumes. */
export class SamplingMismatchError extends Error {
  constructor(
    readonly kind: SamplingMismatchKind,
    message: string,
  ) {
    super(message);
    this.name = 'SamplingMismatchError';
  }
}

// Header voxel sizes are float32 quotients (cella / mx): allow their rounding, nothing a scientist would call different.
const VOXEL_TOLERANCE = 1e-4;

export function sameVoxelSize(a: number, b: number): boolean {
  return Math.abs(a - b) <= VOXEL_TOLERANCE * Math.max(a, b);
}

function angstrom(v: number): string {
  return `${+v.toPrecision(6)} Å`;
}

/**
 * Throws a SamplingMismatchError when `v` and `target` differ in voxel size (checked first: a different
 * voxel size usually explains a different box too) or in box size. `hint` ends the message (how to fix it).
 */
export function assertSameSampling(v: Sampling, target: Sampling, hint = ''): void {
  if (!sameVoxelSize(v.voxelSize, target.voxelSize)) {
    throw new SamplingMismatchError(
      'voxel-size',
      `${v.label} has ${angstrom(v.voxelSize)} voxels but ${target.label} has ${angstrom(target.voxelSize)} voxels; ` +
        `they must have the same voxel size${hint}`,
    );
  }
  if (v.n !== target.n) {
    throw new SamplingMismatchError(
      'box-size',
      `${v.label} is ${v.n}³ voxels but ${target.label} is ${target.n}³; they must have the same box size${hint}`,
    );
  }
}

export interface ReadOnSamplingOptions extends ReadVolumeOptions {
  /** Fourier crop/pad a volume of another voxel size onto the target's; otherwise that is an error. */
  rescale?: boolean;
  /** How messages name the volume read; default its path. */
  label?: string;
}

/**
 * Reads `path` and returns it on `target`'s sampling: unchanged if it already matches, Fourier-resampled to
 * the target voxel size if `rescale` is set, and otherwise a SamplingMismatchError naming both files and sizes.
 */
export async function readVolumeOnSampling(path: string, target: Sampling, opts: ReadOnSamplingOptions = {}): Promise<Volume> {
  const v = await readVolume(path, opts);
  const label = opts.label ?? path;
  if (sameVoxelSize(v.voxelSize, target.voxelSize)) {
    assertSameSampling({ n: v.n, voxelSize: v.voxelSize, label }, target);
    return v;
  }
  if (!opts.rescale) {
    assertSameSampling(
      { n: v.n, voxelSize: v.voxelSize, label },
      target,
      ` (pass --rescale to Fourier crop/pad it to ${angstrom(target.voxelSize)} voxels on reading, or resample it beforehand)`,
    );
  }
  const resampled = fourierResample(v, target.voxelSize, label);
  assertSameSampling({ n: resampled.n, voxelSize: resampled.voxelSize, label: `${label} rescaled to ${angstrom(target.voxelSize)}` }, target);
  return resampled;
}

/**
 * `v` brought onto `target`'s sampling, and what was done (for a message), as a reference made elsewhere must be
 * before particles can be compared with it: Fourier-resampled to the target voxel size (`fourierResample`),
 * then cut or padded in real space about its centre voxel to the target box (padding with its edge mean).
 */
export function fitToSampling(v: Volume, target: Pick<Sampling, 'n' | 'voxelSize'>): { volume: Volume; changes: string[] } {
  const changes: string[] = [];
  let out = v;
  if (!sameVoxelSize(v.voxelSize, target.voxelSize)) {
    const exact = (v.n * v.voxelSize) / target.voxelSize;
    // A box that does not resample to a whole even size is first padded to one that does.
    let padded = v;
    if (Math.abs(exact - Math.round(exact)) > 1e-6 * exact || Math.round(exact) % 2 !== 0) {
      const ratio = v.voxelSize / target.voxelSize;
      let m = v.n;
      while (Math.abs(m * ratio - Math.round(m * ratio)) > 1e-6 * m * ratio || Math.round(m * ratio) % 2 !== 0) m += 2;
      if (m > 4 * v.n) throw new RangeError(`cannot resample ${v.n}³ voxels of ${angstrom(v.voxelSize)} to ${angstrom(target.voxelSize)}: no even box fits`);
      padded = recentred(v, m);
    }
    out = fourierResample(padded, target.voxelSize);
    changes.push(`Fourier-resampled from ${angstrom(v.voxelSize)} to ${angstrom(target.voxelSize)} voxels`);
  }
  if (out.n !== target.n) {
    changes.push(`${out.n > target.n ? 'cut' : 'padded'} from ${out.n}³ to ${target.n}³ about its centre`);
    out = recentred(out, target.n);
  }
  return { volume: out, changes };
}

/**
 * A map made elsewhere (a reference) read onto the particles' sampling with `fitToSampling`. An EM file carries
 * no voxel size: it is taken to be the target's. An MRC header's is believed.
 */
export async function readMapFitted(path: string, target: Pick<Sampling, 'n' | 'voxelSize'>): Promise<{ volume: Volume; changes: string[] }> {
  const original = await readVolume(path, formatOf(path) === 'em' ? { voxelSize: target.voxelSize } : {});
  return fitToSampling(original, target);
}

/** `v` in an m³ box with the same centre voxel (floor(n/2) ↦ m/2); new voxels take the mean of v's faces. */
function recentred(v: Volume, m: number): Volume {
  const n = v.n;
  let edge = 0;
  let count = 0;
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        if (x === 0 || y === 0 || z === 0 || x === n - 1 || y === n - 1 || z === n - 1) {
          edge += v.data[x + n * (y + n * z)];
          count++;
        }
      }
    }
  }
  const out = new Volume(m, v.voxelSize, new Float32Array(m * m * m).fill(edge / count));
  const d = Math.floor(m / 2) - Math.floor(n / 2);
  for (let z = 0; z < m; z++) {
    const sz = z - d;
    if (sz < 0 || sz >= n) continue;
    for (let y = 0; y < m; y++) {
      const sy = y - d;
      if (sy < 0 || sy >= n) continue;
      for (let x = 0; x < m; x++) {
        const sx = x - d;
        if (sx >= 0 && sx < n) out.data[x + m * (y + m * z)] = v.data[sx + n * (sy + n * sz)];
      }
    }
  }
  return out;
}

/**
 * The volume resampled to `voxelSize` by Fourier cropping (coarser) or zero padding (finer), core/resample.ts:
 * n voxels of a Å become m = n·a/b voxels of b Å, which must be an even whole number (so the centre voxel
 * m/2 is the image of n/2). Padding keeps the old samples exactly; cropping a padded volume restores it.
 */
export function fourierResample(v: Volume, voxelSize: number, label = 'volume'): Volume {
  if (!(voxelSize > 0) || !Number.isFinite(voxelSize)) throw new RangeError(`target voxel size must be positive, got ${voxelSize}`);
  const n = v.n;
  if (sameVoxelSize(v.voxelSize, voxelSize)) return v.clone();
  const exact = (n * v.voxelSize) / voxelSize;
  const m = Math.round(exact);
  if (Math.abs(exact - m) > 1e-6 * exact || m % 2 !== 0 || m < 2) {
    throw new RangeError(
      `cannot rescale ${label} (${n}³ voxels of ${angstrom(v.voxelSize)}) to ${angstrom(voxelSize)} voxels: the box would be ` +
        `${+exact.toFixed(4)} voxels; Fourier rescaling needs an even whole number (crop or pad the box first)`,
    );
  }
  // the requested voxel size exactly, not its float round trip through n·a/m
  return new Volume(m, voxelSize, fourierResize(v, m).data);
}
