import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import maskCommand from '../cli/commands/mask.ts';
import { softCylinderMask, softSphereMask } from '../core/filters.ts';
import { Volume } from '../core/volume.ts';
import { readAlignmentMask } from '../io/mask.ts';
import { readMrc, writeMrc } from '../io/mrc.ts';
import { SamplingMismatchError } from '../io/volumes.ts';
import { Args } from '../os/args.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'subtomo-mask-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function runMask(argv: string[]): Promise<string> {
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await maskCommand.run(new Args(argv));
    return spy.mock.calls.map((c) => String(c[0])).join('');
  } finally {
    spy.mockRestore();
  }
}

describe('subtomo mask', () => {
  it('writes a soft sphere with the box, voxel size and edge asked for', async () => {
    const out = join(dir, 'sphere.mrc');
    const said = await runMask(['--size', '32', '--voxel', '6', '--sphere', '10', '--edge', '2', '--out', out]);
    const m = await readMrc(out);
    expect([m.n, m.voxelSize]).toEqual([32, 6]);
    expect(Array.from(m.data)).toEqual(Array.from(softSphereMask(32, 10, 2)));
    expect(said).toContain('sphere of radius 10 voxels (60 Å)');
  });

  it('writes a cylinder along z whose --height is the full length, default edge 3', async () => {
    const out = join(dir, 'cylinder.mrc');
    await runMask(['--size', '32', '--voxel', '6', '--cylinder', '9', '--height', '20', '--out', out]);
    const m = await readMrc(out);
    expect(Array.from(m.data)).toEqual(Array.from(softCylinderMask(32, 9, 10, 3)));
    // inside on the axis 9 voxels above the centre, outside 14 voxels above it (10 + edge 3 < 14)
    expect(m.get(16, 16, 25)).toBe(1);
    expect(m.get(16, 16, 30)).toBe(0);
  });

  it('explains bad flag combinations and warns when the mask leaves the box', async () => {
    const out = join(dir, 'bad.mrc');
    await expect(runMask(['--size', '32', '--voxel', '6', '--out', out])).rejects.toThrow('give exactly one shape');
    await expect(runMask(['--size', '32', '--voxel', '6', '--sphere', '5', '--cylinder', '5', '--out', out])).rejects.toThrow(
      'give exactly one shape',
    );
    await expect(runMask(['--size', '32', '--voxel', '6', '--cylinder', '5', '--out', out])).rejects.toThrow('--cylinder needs --height');
    await expect(runMask(['--size', '32', '--voxel', '6', '--sphere', '5', '--height', '3', '--out', out])).rejects.toThrow(
      '--height applies to --cylinder only',
    );
    await expect(runMask(['--size', '33', '--voxel', '6', '--sphere', '5', '--out', out])).rejects.toThrow('--size must be an even number');
    await expect(runMask(['--size', '32', '--voxel', '0', '--sphere', '5', '--out', out])).rejects.toThrow('--voxel must be positive');
    const said = await runMask(['--size', '32', '--voxel', '6', '--sphere', '15', '--out', out]);
    expect(said).toContain('warning: the mask reaches 18 voxels from the centre, beyond the half box (16 voxels)');
  });
});

describe('user alignment masks', () => {
  const particle = { n: 32, voxelSize: 6, label: 'particle particles/p_0001.mrc' };

  it('are read when they match the particles', async () => {
    const path = join(dir, 'ok.mrc');
    await writeMrc(path, new Volume(32, 6, softSphereMask(32, 12, 3)));
    expect(Array.from(await readAlignmentMask(path, particle))).toEqual(Array.from(softSphereMask(32, 12, 3)));
  });

  it('give distinct errors for a box-size and a voxel-size mismatch, naming both files and both values', async () => {
    const small = join(dir, 'small.mrc');
    const coarse = join(dir, 'coarse.mrc');
    await writeMrc(small, new Volume(24, 6, softSphereMask(24, 8, 2)));
    await writeMrc(coarse, new Volume(32, 7.5, softSphereMask(32, 8, 2)));
    const box = await readAlignmentMask(small, particle).catch((e: unknown) => e);
    expect(box).toBeInstanceOf(SamplingMismatchError);
    expect(box).toMatchObject({ kind: 'box-size' });
    expect((box as Error).message).toBe(
      `alignment mask ${small} is 24³ voxels but particle particles/p_0001.mrc is 32³; they must have the same box size ` +
        '(make a matching one with: subtomo mask --size 32 --voxel 6 --sphere R --out mask.mrc)',
    );
    const voxel = await readAlignmentMask(coarse, particle).catch((e: unknown) => e);
    expect(voxel).toMatchObject({ kind: 'voxel-size' });
    expect((voxel as Error).message).toContain(
      `alignment mask ${coarse} has 7.5 Å voxels but particle particles/p_0001.mrc has 6 Å voxels; they must have the same voxel size`,
    );
  });

  it('refuse negative values and an empty mask', async () => {
    const negative = new Volume(32, 6, softSphereMask(32, 8, 2));
    negative.set(1, 2, 3, -0.5);
    const zero = new Volume(32, 6);
    await writeMrc(join(dir, 'neg.mrc'), negative);
    await writeMrc(join(dir, 'zero.mrc'), zero);
    await expect(readAlignmentMask(join(dir, 'neg.mrc'), particle)).rejects.toThrow(/negative value \(-0\.5\) at voxel \(x=1, y=2, z=3\)/);
    await expect(readAlignmentMask(join(dir, 'zero.mrc'), particle)).rejects.toThrow(/is zero everywhere/);
  });
});
