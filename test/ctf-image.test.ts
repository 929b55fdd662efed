/**
 * CTF volumes (rlnCtfImage, io/ctfImage.ts) in the three layouts relion_refine reads, written by mrcfile after
 * RELION's and Warp's writers (test/data/make_ctf_images.py): each must come back as the test function at every
 * frequency of subtomo's unshifted FFT layout, with the content RELION gives it, and a volume that does not fit
 * the particle is refused naming the file and the mismatch.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freqOf } from '../core/volume.ts';
import { readCtfImage } from '../io/ctfImage.ts';
import { writeMrcGrid } from '../io/mrc.ts';

const DATA = fileURLToPath(new URL('./data/ctf-images/', import.meta.url));
const N = 8;
const PIXEL = 5.4;
const work = mkdtempSync(join(tmpdir(), 'subtomo-ctf-image-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The test function of make_ctf_images.py: point-symmetric, different along every axis, not separable. */
const f = (kx: number, ky: number, kz: number) =>
  1 + 0.01 * kx ** 2 + 0.02 * ky ** 2 + 0.04 * kz ** 2 + 0.003 * kx * ky + 0.005 * ky * kz + 0.007 * kx * kz;
const multiplicity = (kx: number, ky: number, kz: number) => 3 + 0.1 * (kx ** 2 + ky ** 2 + kz ** 2);

/**
 * The largest relative error of `values` against g at every frequency; on a Nyquist plane (|k| = n/2 on an axis)
 * the sign of that component is a convention, so either sign is accepted there. `outside`: value beyond |k| > n/2.
 */
function worstError(values: Float32Array, g: typeof f, outside?: number): number {
  let worst = 0;
  for (let z = 0, i = 0; z < N; z++) {
    for (let y = 0; y < N; y++) {
      for (let x = 0; x < N; x++, i++) {
        const k = [freqOf(x, N), freqOf(y, N), freqOf(z, N)];
        if (outside !== undefined && k[0] ** 2 + k[1] ** 2 + k[2] ** 2 > (N / 2) ** 2) {
          worst = Math.max(worst, Math.abs(values[i] - outside));
          continue;
        }
        const signs = k.map((c) => (Math.abs(c) === N / 2 ? [1, -1] : [1]));
        let best = Infinity;
        for (const sx of signs[0]) for (const sy of signs[1]) for (const sz of signs[2]) {
          const expected = g(sx * k[0], sy * k[1], sz * k[2]);
          best = Math.min(best, Math.abs(values[i] - expected) / expected);
        }
        worst = Math.max(worst, best);
      }
    }
  }
  return worst;
}

describe('CTF volumes in subtomo\'s layout', () => {
  it("RELION 4/5 weights (half transform + multiplicity, 1/pixel in the header): CTF² of premultiplied data, zero beyond n/2", async () => {
    const image = await readCtfImage(join(DATA, 'relion4_weights.mrc'), { n: N, voxelSize: PIXEL, premultiplied: true });
    expect(image.kind).toBe('squared');
    // Measured: 5e-8 (float32).
    expect(worstError(image.values, f, 0)).toBeLessThan(1e-6);
    expect(worstError(image.multiplicity!, multiplicity, 0)).toBeLessThan(1e-6);
  });

  it("Warp's half transform in float16: the subtomogram's CTF, the other half by Friedel symmetry", async () => {
    const image = await readCtfImage(join(DATA, 'warp_ctf.mrc'), { n: N, voxelSize: PIXEL, premultiplied: false });
    expect(image.kind).toBe('transfer');
    expect(image.multiplicity).toBeUndefined();
    // float16 keeps 11 significant bits: relative error ≤ 2⁻¹¹.
    expect(worstError(image.values, f)).toBeLessThan(5e-4);
  });

  it("RELION 3.0's centred cube: frequency k from voxel n/2 − k", async () => {
    const image = await readCtfImage(join(DATA, 'relion3_ctf.mrc'), { n: N, voxelSize: PIXEL, premultiplied: false });
    expect(image.kind).toBe('transfer');
    expect(worstError(image.values, f)).toBeLessThan(1e-6);
    // Value at k = 0 is the cube's centre voxel.
    expect(image.values[0]).toBeCloseTo(1, 6);
  });

  it('refuses volumes of another box, pixel size or content, naming the file', async () => {
    const weights = join(DATA, 'relion4_weights.mrc');
    await expect(readCtfImage(weights, { n: 10, premultiplied: true })).rejects.toThrow(
      /relion4_weights\.mrc is 5×8×16 voxels, which does not fit the particle's 10³ box: expected 6×10×20/,
    );
    await expect(readCtfImage(weights, { n: N, voxelSize: 3, premultiplied: true })).rejects.toThrow(
      /relion4_weights\.mrc says 0\.185185\d* Å per voxel in its header, but the particles have 3 Å voxels/,
    );
    await expect(readCtfImage(weights, { n: N, voxelSize: PIXEL, premultiplied: false })).rejects.toThrow(
      /relion4_weights\.mrc holds a CTF and a multiplicity volume .* does not say rlnCtfDataAreCtfPremultiplied 1/,
    );
    const nan = join(work, 'nan.mrc');
    // A finite half transform with one voxel patched to NaN in the file (writers refuse to write one).
    await writeMrcGrid(nan, { size: [5, 8, 8], voxelSize: PIXEL, data: new Float32Array(5 * 8 * 8).fill(1) });
    const fd = openSync(nan, 'r+');
    writeSync(fd, Buffer.from(new Float32Array([NaN]).buffer), 0, 4, 1024 + 7 * 4);
    closeSync(fd);
    await expect(readCtfImage(nan, { n: N, voxelSize: PIXEL, premultiplied: false })).rejects.toThrow(
      /nan\.mrc holds a non-finite value \(voxel index 7\)/,
    );
  });
});
