/**
 * MRC2014 maps (https://www.ccpem.ac.uk/mrc_format/mrc2014.php) ↔ subtomo volumes.
 *
 * Reads modes 0 (int8; uint8 in IMOD files that say so), 1 (int16), 2 (float32), 6 (uint16) and 12 (float16) in either byte order, skips the
 * extended header, and honours the axis order mapc/mapr/maps, so the returned volume is always x-fastest.
 * Writes mode 2, little-endian, with header statistics computed from the data, atomically (temp file in the
 * same directory, fsync, rename) so a crash never leaves a half-written map under the final name.
 */
import { open, readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { Volume } from '../core/volume.ts';
import { writeFileAtomic } from './atomic.ts';

export const MRC_HEADER_BYTES = 1024;

type Triple = [number, number, number];

export interface MrcHeader {
  /** Columns, rows, sections (the fastest axis first). */
  nx: number;
  ny: number;
  nz: number;
  mode: number;
  nxstart: number;
  nystart: number;
  nzstart: number;
  /** Sampling intervals along X, Y, Z of the unit cell. */
  mx: number;
  my: number;
  mz: number;
  /** Cell dimensions in Å. */
  cella: Triple;
  /** Cell angles in degrees. */
  cellb: Triple;
  /** Which axis (1 = X, 2 = Y, 3 = Z) runs along columns, rows and sections. */
  mapc: number;
  mapr: number;
  maps: number;
  dmin: number;
  dmax: number;
  dmean: number;
  ispg: number;
  /** Bytes of extended header between the 1024-byte header and the data. */
  nsymbt: number;
  exttyp: string;
  nversion: number;
  /** Origin in Å. */
  origin: Triple;
  /** Mode 0 holds unsigned bytes: IMOD's convention when its stamp is present without the signed-bytes flag. */
  unsignedBytes: boolean;
  /** Whether the 'MAP ' identifier is present (files older than MRC2000 lack it). */
  hasMapWord: boolean;
  machineStamp: [number, number, number, number];
  littleEndian: boolean;
  /** RMS deviation from the mean density. */
  rms: number;
  labels: string[];
  /** Å per voxel along X (cella.x / mx); 0 when the header does not give one. */
  voxelSize: number;
  /** Byte offset of the first voxel (1024 + nsymbt). */
  dataOffset: number;
  /** Bytes of voxel data the header announces. */
  dataBytes: number;
}

export type MrcErrorKind =
  | 'not-mrc'
  | 'truncated'
  | 'size-mismatch'
  | 'mode'
  | 'header'
  | 'axes'
  | 'not-cubic'
  | 'voxel-size'
  | 'non-finite';

/** A problem with an MRC file; the message names the file, `kind` lets callers react to the category. */
export class MrcError extends Error {
  constructor(
    readonly kind: MrcErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'MrcError';
  }
}

interface ModeInfo {
  readonly name: string;
  readonly bytes: number;
}

const SUPPORTED_MODES: Readonly<Record<number, ModeInfo>> = {
  0: { name: 'int8', bytes: 1 },
  1: { name: 'int16', bytes: 2 },
  2: { name: 'float32', bytes: 4 },
  6: { name: 'uint16', bytes: 2 },
  12: { name: 'float16', bytes: 2 },
};
const UNSUPPORTED_MODES: Readonly<Record<number, string>> = {
  3: 'complex int16',
  4: 'complex float32',
  101: '4-bit packed integers',
};
/** IMOD writes this at byte 152 and its flags at 156; flag bit 0 = bytes are signed. */
const IMOD_STAMP = 1146047817;
const SUPPORTED_LIST = 'modes 0 (int8), 1 (int16), 2 (float32), 6 (uint16) and 12 (float16)';

/** Header values no real map has in its own byte order; used when the machine stamp is missing or wrong. */
function saneInOrder(view: DataView, little: boolean): boolean {
  const mode = view.getInt32(12, little);
  if (!(mode in SUPPORTED_MODES) && !(mode in UNSUPPORTED_MODES)) return false;
  for (const off of [0, 4, 8]) {
    const d = view.getInt32(off, little);
    if (d < 1 || d > 1 << 20) return false;
  }
  return true;
}

function stampOrder(b: Uint8Array): boolean | null {
  // 0x44 0x44 (some writers use 0x44 0x41) = little-endian; 0x11 0x11 = big-endian
  if (b[212] === 0x44 && (b[213] === 0x44 || b[213] === 0x41)) return true;
  if (b[212] === 0x11 && b[213] === 0x11) return false;
  return null;
}

function ascii(b: Uint8Array, start: number, length: number): string {
  let s = '';
  for (let i = start; i < start + length && b[i] !== 0; i++) s += String.fromCharCode(b[i]);
  return s;
}

function shape(h: Pick<MrcHeader, 'nx' | 'ny' | 'nz'>): string {
  return `${h.nx}×${h.ny}×${h.nz}`;
}

/**
 * Parse and validate the header of an MRC file whose first bytes are `bytes`; `fileBytes` is the file's total
 * size (defaults to `bytes.length`, i.e. `bytes` is the whole file). Throws MrcError naming `name`.
 */
export function parseMrcHeader(bytes: Uint8Array, name: string, fileBytes = bytes.length): MrcHeader {
  if (fileBytes < MRC_HEADER_BYTES || bytes.length < MRC_HEADER_BYTES) {
    throw new MrcError(
      'not-mrc',
      `${name} is not an MRC file: it has ${fileBytes} bytes, fewer than the ${MRC_HEADER_BYTES}-byte MRC header`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, MRC_HEADER_BYTES);
  const hasMapWord = ascii(bytes, 208, 4) === 'MAP ';
  const stamp = stampOrder(bytes);
  let little: boolean;
  if (stamp !== null && saneInOrder(view, stamp)) little = stamp;
  else if (saneInOrder(view, true)) little = true;
  else if (saneInOrder(view, false)) little = false;
  else if (hasMapWord) little = stamp ?? true; // an MRC file with a broken header: the checks below say what is wrong
  else {
    // No header values in the message: the file may be anything (a mistyped path), and messages end up in
    // logs and workflow histories; its bytes must not.
    throw new MrcError(
      'not-mrc',
      `${name} is not an MRC file: no 'MAP ' identifier at byte 208, and the sizes and mode at the start make no sense in either byte order`,
    );
  }
  const i32 = (off: number): number => view.getInt32(off, little);
  const f32 = (off: number): number => view.getFloat32(off, little);
  const triple = (off: number, read: (o: number) => number): Triple => [read(off), read(off + 4), read(off + 8)];
  const nlabl = Math.max(0, Math.min(10, i32(220)));
  const labels: string[] = [];
  for (let i = 0; i < nlabl; i++) labels.push(ascii(bytes, 224 + 80 * i, 80).trimEnd());
  const h: MrcHeader = {
    nx: i32(0),
    ny: i32(4),
    nz: i32(8),
    mode: i32(12),
    nxstart: i32(16),
    nystart: i32(20),
    nzstart: i32(24),
    mx: i32(28),
    my: i32(32),
    mz: i32(36),
    cella: triple(40, f32),
    cellb: triple(52, f32),
    mapc: i32(64),
    mapr: i32(68),
    maps: i32(72),
    dmin: f32(76),
    dmax: f32(80),
    dmean: f32(84),
    ispg: i32(88),
    nsymbt: i32(92),
    exttyp: ascii(bytes, 104, 4),
    nversion: i32(108),
    origin: triple(196, f32),
    unsignedBytes: i32(152) === IMOD_STAMP && (i32(156) & 1) === 0,
    hasMapWord,
    machineStamp: [bytes[212], bytes[213], bytes[214], bytes[215]],
    littleEndian: little,
    rms: f32(216),
    labels,
    voxelSize: 0,
    dataOffset: 0,
    dataBytes: 0,
  };
  // The header stores float32, so digits beyond ~7 significant ones are rounding noise (86.4/64 → 1.35, not 1.3500000238).
  h.voxelSize = h.mx > 0 && h.cella[0] > 0 ? Number((h.cella[0] / h.mx).toPrecision(7)) : 0;

  const mode = SUPPORTED_MODES[h.mode];
  if (!mode) {
    const known = UNSUPPORTED_MODES[h.mode];
    throw new MrcError(
      'mode',
      known
        ? `${name}: MRC mode ${h.mode} (${known}) is not supported; subtomo reads ${SUPPORTED_LIST}`
        : `${name}: invalid MRC mode ${h.mode} in the header; subtomo reads ${SUPPORTED_LIST}`,
    );
  }
  if (h.nx < 1 || h.ny < 1 || h.nz < 1) {
    throw new MrcError('header', `${name}: invalid MRC dimensions nx×ny×nz = ${shape(h)} in the header`);
  }
  if (h.mapc === 0 && h.mapr === 0 && h.maps === 0) {
    // some old writers leave the axis order unset; it then means the standard one
    h.mapc = 1;
    h.mapr = 2;
    h.maps = 3;
  }
  const axes = [h.mapc, h.mapr, h.maps].sort((a, b) => a - b);
  if (axes[0] !== 1 || axes[1] !== 2 || axes[2] !== 3) {
    throw new MrcError(
      'axes',
      `${name}: axis order mapc/mapr/maps = ${h.mapc}/${h.mapr}/${h.maps} is not a permutation of 1/2/3`,
    );
  }
  if (h.nsymbt < 0) throw new MrcError('header', `${name}: negative extended header size nsymbt = ${h.nsymbt}`);

  h.dataOffset = MRC_HEADER_BYTES + h.nsymbt;
  h.dataBytes = h.nx * h.ny * h.nz * mode.bytes;
  const expected = h.dataOffset + h.dataBytes;
  const announced = `header says ${shape(h)} voxels of mode ${h.mode} (${mode.name}) = ${h.dataBytes} data bytes`;
  if (fileBytes < expected) {
    throw new MrcError(
      'truncated',
      `${name} is truncated: expected ${expected} bytes (${MRC_HEADER_BYTES}-byte header + ${h.nsymbt}-byte ` +
        `extended header + ${h.dataBytes} bytes of ${shape(h)} ${mode.name}) but the file has ${fileBytes} bytes`,
    );
  }
  if (fileBytes > expected) {
    throw new MrcError(
      'size-mismatch',
      `${name}: size mismatch: ${announced}, but the data (after the ${h.dataOffset}-byte header and extended ` +
        `header) has ${fileBytes - h.dataOffset} bytes`,
    );
  }
  return h;
}

/** Header of the MRC file at `path`, validated against the file's size (the map itself need not be cubic). */
export async function readMrcHeader(path: string): Promise<MrcHeader> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const buf = new Uint8Array(Math.min(size, MRC_HEADER_BYTES));
    await fh.read(buf, 0, buf.length, 0);
    return parseMrcHeader(buf, path, size);
  } finally {
    await fh.close();
  }
}

export interface ReadMrcOptions {
  /** Voxel size in Å to use instead of the header's (headers are sometimes wrong or empty). */
  voxelSize?: number;
}

/** Read a cubic MRC map as a Volume. */
export async function readMrc(path: string, opts: ReadMrcOptions = {}): Promise<Volume> {
  return parseMrc(await readFileNamed(path), path, opts);
}

/** The file's bytes; a failure names the path (Node's own EISDIR/EACCES messages do not). */
export async function readFileNamed(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'does not exist' : e.code === 'EISDIR' ? 'is a directory, not a file' : e.code === 'EACCES' ? 'is not readable (permission denied)' : e.message;
    throw new Error(`${path} ${why}`);
  }
}

/** Decode a whole MRC file held in memory into a Volume; `nameForErrors` is how messages refer to it. */
export function parseMrc(buffer: Uint8Array, nameForErrors: string, opts: ReadMrcOptions = {}): Volume {
  const name = nameForErrors;
  const h = parseMrcHeader(buffer, name);
  if (h.nx !== h.ny || h.ny !== h.nz) {
    throw new MrcError(
      'not-cubic',
      `${name} is ${shape(h)} (nx×ny×nz); subtomo volumes must be cubic (n×n×n) — cut or pad it to a cube first`,
    );
  }
  const n = h.nx;
  if (n < 2) throw new MrcError('not-cubic', `${name} is ${shape(h)}; subtomo volumes need at least 2×2×2 voxels`);
  const voxelSize = opts.voxelSize ?? h.voxelSize;
  if (!(voxelSize > 0) || !Number.isFinite(voxelSize)) {
    throw new MrcError(
      'voxel-size',
      opts.voxelSize !== undefined
        ? `${name}: the voxel size given (${opts.voxelSize} Å) must be a positive number`
        : `${name}: the header has no voxel size (cella.x = ${h.cella[0]} Å, mx = ${h.mx}); give the voxel size explicitly`,
    );
  }
  if (opts.voxelSize === undefined) checkIsotropic(h, name);

  const fileOrder = decode(buffer, h);
  const data = permuteToXFastest(fileOrder, n, h);
  const bad = countNonFinite(data);
  if (bad.count > 0) {
    throw new MrcError('non-finite', `${name} contains ${describeNonFinite(bad, n)}`);
  }
  return new Volume(n, voxelSize, data);
}

function checkIsotropic(h: MrcHeader, name: string): void {
  const sizes = [h.cella[0] / h.mx, h.cella[1] / h.my, h.cella[2] / h.mz].filter((s) => s > 0 && Number.isFinite(s));
  const lo = Math.min(...sizes);
  const hi = Math.max(...sizes);
  if (hi > lo * (1 + 1e-4)) {
    throw new MrcError(
      'voxel-size',
      `${name}: voxels are not cubic (cella/m = ${sizes.map((s) => s.toPrecision(6)).join(' × ')} Å); ` +
        'subtomo needs isotropic voxels — resample the map, or give the voxel size explicitly to override',
    );
  }
}

const HOST_LITTLE = endianness() === 'LE';

/** Voxel values as float32 in the file's own order (columns fastest). */
function decode(buffer: Uint8Array, h: MrcHeader): Float32Array {
  return decodeVoxels(buffer.subarray(h.dataOffset, h.dataOffset + h.dataBytes), h);
}

/** Consecutive voxels of a file with header `h` (its mode and byte order), as float32. */
export function decodeVoxels(bytes: Uint8Array, h: MrcHeader): Float32Array {
  const size = SUPPORTED_MODES[h.mode].bytes;
  const count = Math.floor(bytes.length / size);
  // An aligned copy lets typed arrays read the data whatever the extended header's length; swap bytes if needed.
  // (new Uint8Array(view) copies; Buffer#slice would share memory with the caller's buffer.)
  const raw = new Uint8Array(bytes.subarray(0, count * size));
  if (size > 1 && h.littleEndian !== HOST_LITTLE) {
    for (let i = 0; i < raw.length; i += size) {
      for (let a = i, b = i + size - 1; a < b; a++, b--) {
        const t = raw[a];
        raw[a] = raw[b];
        raw[b] = t;
      }
    }
  }
  const ab = raw.buffer;
  switch (h.mode) {
    case 0:
      return Float32Array.from(h.unsignedBytes ? new Uint8Array(ab, 0, count) : new Int8Array(ab, 0, count));
    case 1:
      return Float32Array.from(new Int16Array(ab, 0, count));
    case 2:
      return new Float32Array(ab, 0, count);
    case 6:
      return Float32Array.from(new Uint16Array(ab, 0, count));
    default: {
      const half = new Uint16Array(ab, 0, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(half[i]);
      return out;
    }
  }
}

/** Bytes per voxel of a supported MRC mode. */
export function modeBytes(mode: number): number {
  return SUPPORTED_MODES[mode].bytes;
}

/** IEEE 754 binary16 bits → number. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1024 + fraction) * 2 ** (exponent - 25);
}

/** Reorder file data (column, row, section) to x-fastest using mapc/mapr/maps; n is the cube edge. */
function permuteToXFastest(src: Float32Array, n: number, h: MrcHeader): Float32Array {
  if (h.mapc === 1 && h.mapr === 2 && h.maps === 3) return src;
  const strideOfAxis = [1, n, n * n];
  const sc = strideOfAxis[h.mapc - 1];
  const sr = strideOfAxis[h.mapr - 1];
  const ss = strideOfAxis[h.maps - 1];
  const out = new Float32Array(src.length);
  let i = 0;
  for (let s = 0; s < n; s++) {
    for (let r = 0; r < n; r++) {
      const rowBase = s * ss + r * sr;
      for (let c = 0; c < n; c++) out[rowBase + c * sc] = src[i++];
    }
  }
  return out;
}

interface NonFinite {
  count: number;
  first: number;
}

function countNonFinite(data: Float32Array): NonFinite {
  let count = 0;
  let first = -1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      // NaN − NaN and ±Inf − ±Inf are NaN; every finite value gives 0
      if (count === 0) first = i;
      count++;
    }
  }
  return { count, first };
}

function describeNonFinite({ count, first }: NonFinite, n: number): string {
  const x = first % n;
  const y = Math.floor(first / n) % n;
  const z = Math.floor(first / (n * n));
  return `${count} non-finite value${count === 1 ? '' : 's'} (NaN or ±Inf); the first at voxel (x=${x}, y=${y}, z=${z}), index ${first}`;
}

export interface WriteMrcOptions {
  /** Origin in Å (header words 50–52); default 0, 0, 0. */
  origin?: Triple;
  /** Extra labels after the "subtomo" one: at most 9, stored as printable ASCII cut to 80 characters. */
  labels?: string[];
  /**
   * Date for a "subtomo <date>" first label; default none ("subtomo"), so that the same volume always gives
   * the same bytes and the artifact store's content hashes, and every step keyed on them, repeat exactly.
   */
  date?: Date;
}

/** The bytes of a mode-2, little-endian MRC2014 file holding `volume`. */
export function encodeMrc(volume: Volume, opts: WriteMrcOptions = {}, nameForErrors = 'MRC output'): Uint8Array {
  const { n, data, voxelSize } = volume;
  const bad = countNonFinite(data);
  if (bad.count > 0) {
    throw new MrcError('non-finite', `cannot write ${nameForErrors}: the volume contains ${describeNonFinite(bad, n)}`);
  }
  return encodeMrcGrid({ size: [n, n, n], voxelSize, data }, opts, nameForErrors);
}

/** A box of voxels of any shape (a tomogram), x fastest: what `encodeMrcGrid` writes. */
export interface Grid {
  size: Triple;
  voxelSize: number;
  data: Float32Array;
}

/** The bytes of a mode-2, little-endian MRC2014 file holding a grid of any shape (subtomo's volumes are cubes). */
export function encodeMrcGrid(grid: Grid, opts: WriteMrcOptions = {}, nameForErrors = 'MRC output'): Uint8Array {
  const { size, data, voxelSize } = grid;
  if (data.length !== size[0] * size[1] * size[2]) throw new RangeError(`${nameForErrors}: ${data.length} values for a ${size.join('×')} grid`);
  const bad = countNonFinite(data);
  if (bad.count > 0) {
    throw new MrcError('non-finite', `cannot write ${nameForErrors}: it contains ${bad.count} non-finite values (NaN or ±Inf)`);
  }
  const first = opts.date ? `subtomo ${opts.date.toISOString().slice(0, 19)}Z` : 'subtomo';
  // Labels are free text for people: characters outside printable ASCII become '?', and each is cut to 80.
  const labels = [first, ...(opts.labels ?? [])].map((l) =>
    l.replace(/[^\x20-\x7e]/g, '?').slice(0, 80),
  );
  if (labels.length > 10) throw new RangeError(`${nameForErrors}: an MRC header holds at most 10 labels, got ${labels.length}`);
  const stats = statistics(data);
  const count = data.length;
  const bytes = new Uint8Array(MRC_HEADER_BYTES + 4 * count);
  const view = new DataView(bytes.buffer);
  const i32 = (off: number, v: number): void => view.setInt32(off, v, true);
  const f32 = (off: number, v: number): void => view.setFloat32(off, v, true);
  for (let a = 0; a < 3; a++) i32(4 * a, size[a]);
  i32(12, 2);
  // nxstart, nystart, nzstart = 0 (bytes 16–27 stay zero)
  for (let a = 0; a < 3; a++) i32(28 + 4 * a, size[a]);
  for (let a = 0; a < 3; a++) {
    f32(40 + 4 * a, size[a] * voxelSize);
    f32(52 + 4 * a, 90);
    i32(64 + 4 * a, a + 1);
  }
  f32(76, stats.min);
  f32(80, stats.max);
  f32(84, stats.mean);
  i32(88, 1); // space group 1: a single volume
  // nsymbt = 0, no extended header
  i32(108, 20140);
  const origin = opts.origin ?? [0, 0, 0];
  for (let a = 0; a < 3; a++) f32(196 + 4 * a, origin[a]);
  bytes.set([0x4d, 0x41, 0x50, 0x20], 208); // 'MAP '
  bytes.set([0x44, 0x44, 0, 0], 212); // little-endian machine stamp
  f32(216, stats.rms);
  i32(220, labels.length);
  bytes.fill(0x20, 224, 224 + 80 * labels.length);
  labels.forEach((label, i) => {
    for (let c = 0; c < label.length; c++) bytes[224 + 80 * i + c] = label.charCodeAt(c);
  });
  if (HOST_LITTLE) new Float32Array(bytes.buffer, MRC_HEADER_BYTES, count).set(data);
  else for (let i = 0; i < count; i++) f32(MRC_HEADER_BYTES + 4 * i, data[i]);
  return bytes;
}

interface Statistics {
  min: number;
  max: number;
  mean: number;
  /** RMS deviation from the mean (the MRC2014 meaning of the header's rms). */
  rms: number;
}

function statistics(data: Float32Array): Statistics {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const mean = sum / data.length;
  let ss = 0;
  for (let i = 0; i < data.length; i++) {
    const d = data[i] - mean;
    ss += d * d;
  }
  return { min, max, mean, rms: Math.sqrt(ss / data.length) };
}

/** Write `volume` to `path` as mode-2 MRC, atomically (io/atomic.ts). */
/** Writes a grid of any shape (e.g. a tomogram) as MRC2014, atomically. */
export async function writeMrcGrid(path: string, grid: Grid, opts: WriteMrcOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeMrcGrid(grid, opts, path), { createParent: true });
}

export async function writeMrc(path: string, volume: Volume, opts: WriteMrcOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeMrc(volume, opts, path), { createParent: false });
}
