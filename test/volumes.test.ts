import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../core/random.ts';
import { Volume, centreOf } from '../core/volume.ts';
import { writeMrc } from '../io/mrc.ts';
import { SamplingMismatchError, fourierResample, readVolume, readVolumeOnSampling } from '../io/volumes.ts';

const data = (name: string) => fileURLToPath(new URL(`./data/${name}`, import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'subtomo-volumes-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function noise(n: number, voxelSize: number, seed: number): Volume {
  const rng = new Rng(seed);
  const v = new Volume(n, voxelSize);
  for (let i = 0; i < v.data.length; i++) v.data[i] = rng.gaussian();
  return v;
}

/** exp(−r²/2σ²) about the box centre, r and σ in Å: smooth enough to be band-limited at these samplings. */
function gaussianBall(n: number, voxelSize: number, sigmaAngstrom: number): Volume {
  const v = new Volume(n, voxelSize);
  const c = centreOf(n);
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const r2 = ((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2) * voxelSize * voxelSize;
        v.set(x, y, z, Math.exp(-r2 / (2 * sigmaAngstrom * sigmaAngstrom)));
      }
    }
  }
  return v;
}

describe('readVolume', () => {
  it('dispatches on the extension, case-insensitively, and names unknown formats', async () => {
    const mrc = await readVolume(data('golden_f32_le.mrc'));
    expect(mrc.voxelSize).toBe(6);
    expect(mrc.get(3, 1, 2)).toBe(213.25);
    const em = await readVolume(data('golden_f32_pc.em'), { voxelSize: 6 });
    expect(Array.from(em.data)).toEqual(Array.from(mrc.data));
    const upper = join(dir, 'UPPER.MRC');
    await writeMrc(upper, mrc);
    expect((await readVolume(upper)).get(3, 1, 2)).toBe(213.25);
    await expect(readVolume(data('golden_f32_pc.em'))).rejects.toThrow(/no reliable voxel size/);
    await expect(readVolume(join(dir, 'particle.tif'))).rejects.toThrow(
      /particle\.tif: unknown volume format '\.tif'; subtomo reads MRC \(\.mrc, \.map, \.rec\) and EM \(\.em\)/,
    );
  });
});

describe('particles on a common sampling', () => {
  const target = { n: 32, voxelSize: 6, label: 'reference ref.mrc' };

  it('gives distinct errors for a voxel-size and a box-size mismatch, naming both files and values', async () => {
    const coarse = join(dir, 'coarse.mrc');
    const small = join(dir, 'small.mrc');
    await writeMrc(coarse, noise(16, 12, 1));
    await writeMrc(small, noise(16, 6, 2));
    const voxelError = await readVolumeOnSampling(coarse, target).catch((e: unknown) => e);
    expect(voxelError).toBeInstanceOf(SamplingMismatchError);
    expect(voxelError).toMatchObject({ kind: 'voxel-size' });
    expect((voxelError as Error).message).toContain(`${coarse} has 12 Å voxels but reference ref.mrc has 6 Å voxels`);
    expect((voxelError as Error).message).toContain('--rescale');
    const boxError = await readVolumeOnSampling(small, target).catch((e: unknown) => e);
    expect(boxError).toMatchObject({ kind: 'box-size' });
    expect((boxError as Error).message).toContain(`${small} is 16³ voxels but reference ref.mrc is 32³`);
  });

  it('Fourier-pads a coarser particle onto the target when told to rescale, keeping its values', async () => {
    const source = noise(16, 12, 3);
    const path = join(dir, 'binned.mrc');
    await writeMrc(path, source);
    const v = await readVolumeOnSampling(path, target, { rescale: true });
    expect([v.n, v.voxelSize]).toEqual([32, 6]);
    // padding evaluates the trigonometric interpolant: the old grid points keep their values, even for noise
    let worst = 0;
    for (let z = 0; z < 16; z++) for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) {
      worst = Math.max(worst, Math.abs(v.get(2 * x, 2 * y, 2 * z) - source.get(x, y, z)));
    }
    expect(worst).toBeLessThan(1e-5);
    // and cropping back restores the original
    const back = fourierResample(v, 12);
    let diff = 0;
    for (let i = 0; i < back.data.length; i++) diff = Math.max(diff, Math.abs(back.data[i] - source.data[i]));
    expect(diff).toBeLessThan(1e-5);
  });

  it('resamples by non-integer factors (48 voxels of 4 Å → 32 of 6 Å) to the sampled smooth function', () => {
    const fine = gaussianBall(48, 4, 15);
    const resampled = fourierResample(fine, 6);
    const direct = gaussianBall(32, 6, 15);
    let worst = 0;
    for (let i = 0; i < direct.data.length; i++) worst = Math.max(worst, Math.abs(resampled.data[i] - direct.data[i]));
    expect(resampled.n).toBe(32);
    expect(worst).toBeLessThan(1e-4);
  });

  it('refuses a rescale that does not give an even whole box, or the target box', async () => {
    expect(() => fourierResample(noise(32, 7, 4), 6, 'p7.mrc')).toThrow(
      /cannot rescale p7\.mrc \(32³ voxels of 7 Å\) to 6 Å voxels: the box would be 37\.3333 voxels/,
    );
    const path = join(dir, 'wrongbox.mrc');
    await writeMrc(path, noise(20, 12, 5));
    await expect(readVolumeOnSampling(path, target, { rescale: true })).rejects.toThrow(
      `${path} rescaled to 6 Å is 40³ voxels but reference ref.mrc is 32³`,
    );
  });

  it('reads an EM particle onto an MRC reference only with its voxel size given', async () => {
    const target4 = { n: 4, voxelSize: 6, label: 'golden_f32_le.mrc' };
    const v = await readVolumeOnSampling(data('golden_f32_pc.em'), target4, { voxelSize: 6 });
    expect(v.get(3, 1, 2)).toBe(213.25);
    await expect(readVolumeOnSampling(data('golden_f32_pc.em'), target4)).rejects.toThrow(/no reliable voxel size/);
    await writeFile(join(dir, 'empty.em'), new Uint8Array(0));
    await expect(readVolumeOnSampling(join(dir, 'empty.em'), target4, { voxelSize: 6 })).rejects.toThrow(/fewer than the 512-byte EM header/);
  });
});
