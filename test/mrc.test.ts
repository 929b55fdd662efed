import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../core/random.ts';
import { Volume } from '../core/volume.ts';
import { MrcError, encodeMrc, parseMrc, readMrc, readMrcHeader, writeMrc } from '../io/mrc.ts';
import type { MrcErrorKind } from '../io/mrc.ts';
import { pythonWith } from './helpers/python.ts';

const dataDir = fileURLToPath(new URL('./data/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'subtomo-mrc-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function randomVolume(n: number, voxelSize: number, seed: number): Volume {
  const rng = new Rng(seed);
  const v = new Volume(n, voxelSize);
  for (let i = 0; i < v.data.length; i++) v.data[i] = rng.gaussian() * 3 + 1;
  return v;
}

/** Bit patterns, so that −0, subnormals and every last bit count. */
function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function expectMrcError(fn: () => unknown, kind: MrcErrorKind, ...patterns: RegExp[]): MrcError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MrcError);
  const err = caught as MrcError;
  expect(err.kind).toBe(kind);
  for (const p of patterns) expect(err.message).toMatch(p);
  return err;
}

function patchInt32(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setInt32(offset, value, true);
  return copy;
}

function patchFloat32(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setFloat32(offset, value, true);
  return copy;
}

describe('round trip', () => {
  it('writeMrc → readMrc is bit-exact, keeps the voxel size and leaves no temp file', async () => {
    const v = randomVolume(8, 1.35, 1);
    // values that a sloppy conversion would lose
    v.data.set([-0, 1.4e-45, -3.4028234663852886e38, 3.4028234663852886e38, 1 / 3, 65504.5], 0);
    const path = join(work, 'roundtrip.mrc');
    await writeMrc(path, v);
    await writeMrc(path, v); // overwriting an existing map goes through the same rename
    const back = await readMrc(path);
    expect(back.n).toBe(8);
    expect(back.voxelSize).toBe(1.35);
    expect(bits(back.data)).toEqual(bits(v.data));
    expect(readdirSync(work).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('encodeMrc → parseMrc is bit-exact for odd and even sizes', () => {
    for (const n of [2, 5, 16]) {
      const v = randomVolume(n, 6, 10 + n);
      const back = parseMrc(encodeMrc(v), `mem-${n}`);
      expect(back.n).toBe(n);
      expect(back.voxelSize).toBe(6);
      expect(bits(back.data)).toEqual(bits(v.data));
    }
  });

  it('the header carries correct statistics, the standard axes, origin and the subtomo label', async () => {
    const v = randomVolume(6, 2.5, 3);
    const path = join(work, 'stats.mrc');
    await writeMrc(path, v, { origin: [1.5, -2, 30], labels: ['half A'], date: new Date(Date.UTC(2024, 4, 6, 7, 8, 9)) });
    const h = await readMrcHeader(path);
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const x of v.data) {
      min = Math.min(min, x);
      max = Math.max(max, x);
      sum += x;
    }
    const mean = sum / v.data.length;
    let ss = 0;
    for (const x of v.data) ss += (x - mean) ** 2;
    expect(h.dmin).toBe(min);
    expect(h.dmax).toBe(max);
    expect(h.dmean).toBe(Math.fround(mean));
    expect(h.rms).toBe(Math.fround(Math.sqrt(ss / v.data.length)));
    expect([h.nx, h.ny, h.nz, h.mode, h.mx, h.my, h.mz]).toEqual([6, 6, 6, 2, 6, 6, 6]);
    expect(h.cella).toEqual([15, 15, 15]);
    expect(h.cellb).toEqual([90, 90, 90]);
    expect([h.mapc, h.mapr, h.maps]).toEqual([1, 2, 3]);
    expect(h.origin).toEqual([1.5, -2, 30]);
    expect(h.hasMapWord).toBe(true);
    expect(h.machineStamp).toEqual([0x44, 0x44, 0, 0]);
    expect(h.littleEndian).toBe(true);
    expect(h.nversion).toBe(20140);
    expect(h.labels).toEqual(['subtomo 2024-05-06T07:08:09Z', 'half A']);
    const labelsPath = join(work, 'labels.mrc');
    await writeMrc(labelsPath, v, { labels: ['Å résumé', 'x'.repeat(90)] });
    const odd = await readMrcHeader(labelsPath);
    expect(odd.labels.slice(1)).toEqual(['? r?sum?', 'x'.repeat(80)]);
    expect(() => encodeMrc(v, { labels: Array.from({ length: 10 }, () => 'l') })).toThrow(/at most 10 labels, got 11/);
    expect(h.voxelSize).toBe(2.5);
  });

  it('a failed write leaves nothing behind and says where', async () => {
    const missingDir = join(work, 'no-such-dir', 'x.mrc');
    await expect(writeMrc(missingDir, randomVolume(4, 1, 4))).rejects.toThrow(/no-such-dir/);
    const nan = randomVolume(4, 1, 5);
    nan.data[9] = Number.NaN;
    const path = join(work, 'nan-out.mrc');
    await expect(writeMrc(path, nan)).rejects.toThrow(/cannot write .*nan-out\.mrc.*1 non-finite value .*\(x=1, y=2, z=0\), index 9/);
    expect(readdirSync(work).filter((f) => f.startsWith('nan-out') || f.includes('.tmp'))).toEqual([]);
  });
});

describe('golden files written by Python mrcfile (test/data/make_golden_mrc.py)', () => {
  const linear = (i: number): number => i; // x-fastest voxel index = x + 4y + 16z
  const xyz = (i: number): [number, number, number] => [i % 4, Math.floor(i / 4) % 4, Math.floor(i / 16)];
  const f32 = (i: number): number => {
    const [x, y, z] = xyz(i);
    return x + 10 * y + 100 * z + 0.25;
  };
  const cases: { file: string; voxel: number; value: (i: number) => number; mode: number }[] = [
    { file: 'golden_f32_le.mrc', voxel: 6, value: f32, mode: 2 },
    { file: 'golden_f32_be.mrc', voxel: 6, value: f32, mode: 2 },
    { file: 'golden_f32_be_nostamp.mrc', voxel: 6, value: f32, mode: 2 },
    { file: 'golden_f32_zyx_axes.mrc', voxel: 6, value: f32, mode: 2 },
    {
      file: 'golden_i16.mrc',
      voxel: 4.5,
      value: (i) => {
        const [x, y, z] = xyz(i);
        return 1000 * (x - 2) + 10 * y - z;
      },
      mode: 1,
    },
    { file: 'golden_i8.mrc', voxel: 3, value: (i) => linear(i) - 32, mode: 0 },
    { file: 'golden_u16.mrc', voxel: 2.5, value: (i) => 65000 - 700 * linear(i), mode: 6 },
    { file: 'golden_f16_ext.mrc', voxel: 2, value: (i) => linear(i) / 8 - 4, mode: 12 },
  ];
  for (const { file, voxel, value, mode } of cases) {
    it(`${file}: mode ${mode}, 4³, voxel ${voxel} Å, values`, async () => {
      const path = join(dataDir, file);
      const v = await readMrc(path);
      expect(v.n).toBe(4);
      expect(v.voxelSize).toBe(voxel);
      expect((await readMrcHeader(path)).mode).toBe(mode);
      expect(Array.from(v.data)).toEqual(Array.from({ length: 64 }, (_, i) => value(i)));
    });
  }

  it('mode 0 follows the IMOD signed-bytes flag when the IMOD stamp is present', () => {
    const bytes = new Uint8Array(readFileSync(join(dataDir, 'golden_i8.mrc')));
    const imodUnsigned = patchInt32(patchInt32(bytes, 152, 1146047817), 156, 0);
    const imodSigned = patchInt32(imodUnsigned, 156, 1);
    const linearMinus32 = Array.from({ length: 64 }, (_, i) => i - 32);
    expect(Array.from(parseMrc(imodUnsigned, 'imod-u8.mrc').data)).toEqual(linearMinus32.map((v) => v & 0xff));
    expect(Array.from(parseMrc(imodSigned, 'imod-s8.mrc').data)).toEqual(linearMinus32);
  });

  it('header details: byte order, stamp fallback, origin, labels, extended header, axis order', async () => {
    const le = await readMrcHeader(join(dataDir, 'golden_f32_le.mrc'));
    expect(le.littleEndian).toBe(true);
    expect(le.origin).toEqual([12, -6, 3.5]);
    expect(le.labels).toEqual(['golden file for subtomo tests, written by mrcfile', 'golden float32 little-endian']);
    expect([le.dmin, le.dmax]).toEqual([0.25, 333.25]);
    const be = await readMrcHeader(join(dataDir, 'golden_f32_be.mrc'));
    expect(be.littleEndian).toBe(false);
    expect(be.machineStamp).toEqual([0x11, 0x11, 0, 0]);
    const noStamp = await readMrcHeader(join(dataDir, 'golden_f32_be_nostamp.mrc'));
    expect(noStamp.machineStamp).toEqual([0, 0, 0, 0]);
    expect(noStamp.littleEndian).toBe(false);
    expect(noStamp.nx).toBe(4);
    const ext = await readMrcHeader(join(dataDir, 'golden_f16_ext.mrc'));
    expect(ext.nsymbt).toBe(340);
    expect(ext.exttyp).toBe('TEST');
    expect(ext.dataOffset).toBe(1364);
    const zyx = await readMrcHeader(join(dataDir, 'golden_f32_zyx_axes.mrc'));
    expect([zyx.mapc, zyx.mapr, zyx.maps]).toEqual([3, 2, 1]);
  });
});

describe('interoperability', () => {
  const found = pythonWith(['mrcfile', 'numpy']);

  it('Python mrcfile reads a file written by subtomo (strict mode, validate, statistics, values)', async (ctx) => {
    if (!found.python) return ctx.skip(found.skipReason);
    const v = randomVolume(6, 3.3, 7);
    const path = join(work, 'for-mrcfile.mrc');
    await writeMrc(path, v, { labels: ['cross-check'] });
    const script = `
import io, json, sys, contextlib, mrcfile, numpy as np
path = sys.argv[1]
log = io.StringIO()
with contextlib.redirect_stdout(log):
    valid = mrcfile.validate(path)
with mrcfile.open(path, permissive=False) as m:
    d = m.data.astype(np.float64)
    h = m.header
    print(json.dumps(dict(
        valid=bool(valid), log=log.getvalue(), shape=list(m.data.shape), dtype=str(m.data.dtype),
        voxel=[float(m.voxel_size.x), float(m.voxel_size.y), float(m.voxel_size.z)],
        header=[float(h.dmin), float(h.dmax), float(h.dmean), float(h.rms)],
        numpy=[float(d.min()), float(d.max()), float(d.mean()), float(d.std())],
        labels=[l.decode().rstrip() for l in h.label[:int(h.nlabl)]],
        values=m.data.ravel().astype(np.float64).tolist())))
`;
    const run = spawnSync(found.python, ['-c', script, path], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const r = JSON.parse(run.stdout);
    expect(r.valid, r.log).toBe(true);
    expect(r.shape).toEqual([6, 6, 6]);
    expect(r.dtype).toBe('float32');
    for (const s of r.voxel) expect(s).toBeCloseTo(3.3, 5);
    for (let i = 0; i < 4; i++) expect(r.header[i]).toBeCloseTo(r.numpy[i], 5);
    expect(r.labels[0]).toBe('subtomo'); // writeMrc dates the label only when asked (same volume, same bytes)
    expect(r.labels[1]).toBe('cross-check');
    expect(r.values).toEqual(Array.from(v.data));
  });
});

describe('clear errors, each naming the file', () => {
  const good = encodeMrc(randomVolume(8, 2, 9)); // 1024 + 2048 bytes

  it('truncated file: expected vs actual bytes', () => {
    expectMrcError(() => parseMrc(good.subarray(0, good.length - 100), 'cut.mrc'), 'truncated', /^cut\.mrc is truncated/, /expected 3072 bytes/, /the file has 2972 bytes/);
  });

  it('size mismatch: data longer than the header says', () => {
    const longer = new Uint8Array(good.length + 12);
    longer.set(good);
    expectMrcError(
      () => parseMrc(longer, 'long.mrc'),
      'size-mismatch',
      /^long\.mrc: size mismatch: header says 8×8×8 voxels of mode 2 \(float32\) = 2048 data bytes, but the data .* has 2060 bytes/,
    );
  });

  it('unsupported and invalid modes', () => {
    expectMrcError(() => parseMrc(patchInt32(good, 12, 4), 'complex.mrc'), 'mode', /^complex\.mrc: MRC mode 4 \(complex float32\) is not supported/, /12 \(float16\)/);
    expectMrcError(() => parseMrc(patchInt32(good, 12, 7), 'mode7.mrc'), 'mode', /^mode7\.mrc: invalid MRC mode 7/);
  });

  it('NaN and Inf in the data: how many and the first voxel', () => {
    const bad = patchFloat32(patchFloat32(good, 1024 + 4 * 70, Number.NaN), 1024 + 4 * 100, -Infinity);
    expectMrcError(() => parseMrc(bad, 'nan.mrc'), 'non-finite', /^nan\.mrc contains 2 non-finite values \(NaN or ±Inf\); the first at voxel \(x=6, y=0, z=1\), index 70$/);
  });

  it('not an MRC file at all: text, or shorter than a header', async () => {
    const text = join(work, 'notes.txt.mrc');
    writeFileSync(text, 'This is a text file, not a map.\n'.repeat(80));
    await expect(readMrc(text)).rejects.toThrow(/notes\.txt\.mrc is not an MRC file: no 'MAP ' identifier/);
    expectMrcError(() => parseMrc(new Uint8Array(10), 'tiny.mrc'), 'not-mrc', /^tiny\.mrc is not an MRC file: it has 10 bytes, fewer than the 1024-byte MRC header/);
  });

  it('a non-cubic map names its shape (its header can still be read)', async () => {
    const flat = patchInt32(good, 8, 4).subarray(0, 1024 + 4 * 8 * 8 * 4);
    const path = join(work, 'slab.mrc');
    writeFileSync(path, flat);
    await expect(readMrc(path)).rejects.toThrow(/slab\.mrc is 8×8×4 \(nx×ny×nz\); subtomo volumes must be cubic/);
    const h = await readMrcHeader(path);
    expect([h.nx, h.ny, h.nz]).toEqual([8, 8, 4]);
  });

  it('axis order that is not a permutation', () => {
    expectMrcError(() => parseMrc(patchInt32(good, 68, 1), 'axes.mrc'), 'axes', /^axes\.mrc: axis order mapc\/mapr\/maps = 1\/1\/3/);
  });

  it('missing or anisotropic voxel size, and the explicit override', () => {
    const noCell = patchFloat32(good, 40, 0);
    expectMrcError(() => parseMrc(noCell, 'nocell.mrc'), 'voxel-size', /^nocell\.mrc: the header has no voxel size/);
    expect(parseMrc(noCell, 'nocell.mrc', { voxelSize: 5.2 }).voxelSize).toBe(5.2);
    expectMrcError(() => parseMrc(patchFloat32(good, 48, 20), 'aniso.mrc'), 'voxel-size', /^aniso\.mrc: voxels are not cubic \(cella\/m = 2\.00000 × 2\.00000 × 2\.50000 Å\)/);
  });

  it('the golden big-endian file read with the wrong stamp still decodes by its header values', () => {
    const bytes = new Uint8Array(readFileSync(join(dataDir, 'golden_f32_be.mrc')));
    bytes.set([0x44, 0x44, 0, 0], 212); // a stamp that lies
    const v = parseMrc(bytes, 'lying-stamp.mrc');
    expect(v.get(1, 2, 3)).toBe(1 + 20 + 300 + 0.25);
  });

  it('an old-style little-endian file without stamp and without MAP word is still recognised', () => {
    const old = good.slice();
    old.fill(0, 208, 216);
    expect(bits(parseMrc(old, 'old.mrc').data)).toEqual(bits(parseMrc(good, 'good.mrc').data));
  });
});
