/**
 * EM-format volumes (TOM toolbox, PyTom, AV3, Dynamo's particle files) → subtomo volumes. Read only.
 *
 * Layout (TOM's tom_emread.m, as transcribed by teamtomo/emfile specs.py; EMAN2 emio.h; Bsoft rwEM.cpp):
 *   byte 0      machine: 0 OS-9, 1 VAX, 2 Convex, 3 SGI, 4 Sun, 5 Mac, 6 PC
 *   byte 1      general purpose (OS-9 version), byte 2 unused
 *   byte 3      data type: 1 int8, 2 int16, 4 int32, 5 float32, 8 complex float32, 9 float64
 *   bytes 4–15  nx, ny, nz (int32)
 *   bytes 16–95 comment; 96–255 forty int32 parameters (voltage, Cs, …); 256–511 user data
 *   byte 512 on the voxels, x fastest (then y, then z), like MRC.
 * Byte order: little-endian for VAX and PC, big-endian for the 68k/RISC machines (OS-9, Convex, SGI, Sun,
 * classic Mac). Bsoft warns that writers do not always set the machine byte, so the order it implies is
 * used only if the header's dimensions then account for the file's size exactly; otherwise the other order
 * is tried, and a file matching neither is rejected.
 *
 * Voxel size: the parameter block has an "object pixel size" field, but few writers fill it in and its unit
 * varies between versions, so subtomo never trusts it: the caller must give the voxel size (a flag or the
 * STAR file's rlnImagePixelSize), and reading without one is an error.
 */
import { readFile } from 'node:fs/promises';
import { Volume } from '../core/volume.ts';

export const EM_HEADER_BYTES = 512;

export type EmErrorKind = 'not-em' | 'truncated' | 'data-type' | 'not-cubic' | 'voxel-size' | 'non-finite';

/** A problem with an EM file; the message names the file, `kind` the category. */
export class EmError extends Error {
  constructor(
    readonly kind: EmErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'EmError';
  }
}

export interface EmHeader {
  machine: number;
  dataType: number;
  nx: number;
  ny: number;
  nz: number;
  littleEndian: boolean;
  comment: string;
}

const MACHINES: Readonly<Record<number, { name: string; little: boolean }>> = {
  0: { name: 'OS-9', little: false },
  1: { name: 'VAX', little: true },
  2: { name: 'Convex', little: false },
  3: { name: 'SGI', little: false },
  4: { name: 'Sun', little: false },
  5: { name: 'Mac', little: false },
  6: { name: 'PC', little: true },
};

const DATA_TYPES: Readonly<Record<number, { name: string; bytes: number }>> = {
  1: { name: 'int8', bytes: 1 },
  2: { name: 'int16', bytes: 2 },
  4: { name: 'int32', bytes: 4 },
  5: { name: 'float32', bytes: 4 },
  9: { name: 'float64', bytes: 8 },
};
const COMPLEX_TYPE = 8;
const SUPPORTED = 'types 1 (int8), 2 (int16), 4 (int32), 5 (float32) and 9 (float64)';

/** Header of an EM file whose first bytes are `bytes`; `fileBytes` is the whole file's size. */
export function parseEmHeader(bytes: Uint8Array, name: string, fileBytes = bytes.length): EmHeader {
  if (fileBytes < EM_HEADER_BYTES || bytes.length < EM_HEADER_BYTES) {
    throw new EmError('truncated', `${name} has ${fileBytes} bytes, fewer than the 512-byte EM header: not an EM file, or cut short`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, EM_HEADER_BYTES);
  const machine = bytes[0];
  const dataType = bytes[3];
  if (dataType === COMPLEX_TYPE) {
    throw new EmError('data-type', `${name} holds complex numbers (EM data type 8), e.g. a Fourier transform; subtomo reads real volumes only (${SUPPORTED})`);
  }
  const type = DATA_TYPES[dataType];
  if (!type) throw new EmError('data-type', `${name} has EM data type ${dataType}; subtomo reads ${SUPPORTED}`);
  const declared = MACHINES[machine]?.little;
  const orders = declared === undefined ? [true, false] : [declared, !declared];
  for (const little of orders) {
    const nx = view.getInt32(4, little), ny = view.getInt32(8, little), nz = view.getInt32(12, little);
    if (nx < 1 || ny < 1 || nz < 1) continue;
    if (EM_HEADER_BYTES + nx * ny * nz * type.bytes !== fileBytes) continue;
    let comment = '';
    for (let i = 16; i < 96 && bytes[i] !== 0; i++) comment += String.fromCharCode(bytes[i]);
    return { machine, dataType, nx, ny, nz, littleEndian: little, comment: comment.trim() };
  }
  const dims = (little: boolean) => [4, 8, 12].map((o) => view.getInt32(o, little)).join('×');
  throw new EmError(
    'not-em',
    `${name}: the EM header (machine byte ${machine}${MACHINES[machine] ? ` = ${MACHINES[machine].name}` : ', unknown'}, ${type.name} data) ` +
      `gives dimensions ${dims(true)} (little-endian) or ${dims(false)} (big-endian), and neither accounts for the file's ` +
      `${fileBytes} bytes: not an EM file, or truncated`,
  );
}

export interface ReadEmOptions {
  /** Voxel size in Å; required, as EM headers carry no reliable one. */
  voxelSize?: number;
}

/** Decode a whole EM file held in memory into a Volume; `name` is how messages refer to it. */
export function parseEm(buffer: Uint8Array, name: string, opts: ReadEmOptions = {}): Volume {
  const h = parseEmHeader(buffer, name);
  if (h.nx !== h.ny || h.ny !== h.nz) {
    throw new EmError('not-cubic', `${name} is ${h.nx}×${h.ny}×${h.nz} (nx×ny×nz); subtomo volumes must be cubic (n×n×n)`);
  }
  if (h.nx < 2) throw new EmError('not-cubic', `${name} is ${h.nx}×${h.ny}×${h.nz}; subtomo volumes need at least 2×2×2 voxels`);
  const { voxelSize } = opts;
  if (voxelSize === undefined) {
    throw new EmError(
      'voxel-size',
      `${name}: EM files carry no reliable voxel size; give it explicitly (e.g. --voxel, or rlnImagePixelSize in the STAR file)`,
    );
  }
  if (!(voxelSize > 0) || !Number.isFinite(voxelSize)) {
    throw new EmError('voxel-size', `${name}: the voxel size given (${voxelSize} Å) must be a positive number`);
  }
  const count = h.nx * h.ny * h.nz;
  const view = new DataView(buffer.buffer, buffer.byteOffset + EM_HEADER_BYTES, buffer.length - EM_HEADER_BYTES);
  const data = new Float32Array(count);
  const little = h.littleEndian;
  switch (h.dataType) {
    case 1:
      for (let i = 0; i < count; i++) data[i] = view.getInt8(i);
      break;
    case 2:
      for (let i = 0; i < count; i++) data[i] = view.getInt16(2 * i, little);
      break;
    case 4:
      for (let i = 0; i < count; i++) data[i] = view.getInt32(4 * i, little);
      break;
    case 5:
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, little);
      break;
    case 9:
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(8 * i, little);
      break;
  }
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(data[i])) {
      const n = h.nx;
      throw new EmError(
        'non-finite',
        `${name} contains a non-finite value (NaN, ±Inf, or a float64 beyond float32 range) at voxel ` +
          `(x=${i % n}, y=${Math.floor(i / n) % n}, z=${Math.floor(i / (n * n))})`,
      );
    }
  }
  return new Volume(h.nx, voxelSize, data);
}

/** Read a cubic EM volume; `opts.voxelSize` (Å) is required. */
export async function readEm(path: string, opts: ReadEmOptions = {}): Promise<Volume> {
  const buffer = await readFile(path).catch((err: Error) => {
    throw new Error(`cannot read EM file ${path}: ${err.message}`);
  });
  return parseEm(buffer, path, opts);
}
