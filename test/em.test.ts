import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EM_HEADER_BYTES, EmError, parseEm, parseEmHeader, readEm } from '../io/em.ts';

const data = (name: string) => fileURLToPath(new URL(`./data/${name}`, import.meta.url));

/** Expected voxel values of the golden files, the formulas of test/data/make_golden_em.py. */
function expected(f: (x: number, y: number, z: number) => number): number[] {
  const out: number[] = [];
  for (let z = 0; z < 4; z++) for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) out.push(f(x, y, z));
  return out;
}

/** An EM file built in memory: header fields, then float32 little-endian voxels. */
function emBytes(machine: number, dataType: number, dims: [number, number, number], voxels: number, little = true): Uint8Array {
  const bytes = new Uint8Array(EM_HEADER_BYTES + voxels);
  const view = new DataView(bytes.buffer);
  bytes[0] = machine;
  bytes[3] = dataType;
  dims.forEach((d, i) => view.setInt32(4 + 4 * i, d, little));
  return bytes;
}

describe('EM reader (golden files written by numpy)', () => {
  it('reads float32 from a PC (little-endian), x fastest, with the voxel size it is given', async () => {
    const v = await readEm(data('golden_f32_pc.em'), { voxelSize: 6 });
    expect(v.n).toBe(4);
    expect(v.voxelSize).toBe(6);
    expect(Array.from(v.data)).toEqual(expected((x, y, z) => x + 10 * y + 100 * z + 0.25));
    expect(v.get(3, 1, 2)).toBe(213.25);
  });

  it('reads big-endian int16 (SGI) and float64 (Mac), and signed int8', async () => {
    const i16 = await readEm(data('golden_i16_sgi.em'), { voxelSize: 4.5 });
    expect(Array.from(i16.data)).toEqual(expected((x, y, z) => 1000 * (x - 2) + 10 * y - z));
    const f64 = await readEm(data('golden_f64_mac.em'), { voxelSize: 1 });
    expect(Array.from(f64.data)).toEqual(expected((x, y, z) => 0.5 * x - 3 * y + 2 * z - 0.125));
    const i8 = await readEm(data('golden_i8_pc.em'), { voxelSize: 1 });
    expect(Array.from(i8.data)).toEqual(expected((x, y, z) => 16 * z + 4 * y + x - 32));
  });

  it('trusts the file size over a machine byte that names the wrong byte order', async () => {
    const v = await readEm(data('golden_i4_wrongstamp.em'), { voxelSize: 1 });
    expect(Array.from(v.data)).toEqual(expected((x, y, z) => 100000 * x - y + 7 * z));
  });

  it('refuses to guess the voxel size', async () => {
    await expect(readEm(data('golden_f32_pc.em'))).rejects.toThrow(
      /golden_f32_pc\.em: EM files carry no reliable voxel size; give it explicitly/,
    );
    await expect(readEm(data('golden_f32_pc.em'), { voxelSize: 0 })).rejects.toThrow(/voxel size given \(0 Å\) must be a positive number/);
  });

  it('reports complex, unknown, non-cubic, truncated and non-finite files by name', () => {
    const complex = emBytes(6, 8, [2, 2, 2], 64);
    expect(() => parseEmHeader(complex, 'fft.em')).toThrow(/fft\.em holds complex numbers \(EM data type 8\)/);
    expect(() => parseEmHeader(emBytes(6, 3, [2, 2, 2], 16), 'odd.em')).toThrow(/odd\.em has EM data type 3; subtomo reads types 1/);
    expect(() => parseEm(emBytes(6, 5, [4, 3, 2], 96), 'slab.em', { voxelSize: 1 })).toThrow(
      expect.objectContaining({ kind: 'not-cubic', message: expect.stringContaining('slab.em is 4×3×2') }),
    );
    expect(() => parseEmHeader(emBytes(6, 5, [2, 2, 2], 31), 'short.em')).toThrow(
      /short\.em: the EM header \(machine byte 6 = PC, float32 data\) gives dimensions 2×2×2 \(little-endian\)/,
    );
    expect(() => parseEmHeader(new Uint8Array(100), 'tiny.em')).toThrow(EmError);
    const nan = emBytes(6, 5, [2, 2, 2], 32);
    new DataView(nan.buffer).setFloat32(EM_HEADER_BYTES + 4 * 5, NaN, true);
    expect(() => parseEm(nan, 'nan.em', { voxelSize: 1 })).toThrow(/nan\.em contains a non-finite value .* at voxel \(x=1, y=0, z=1\)/);
  });
});
