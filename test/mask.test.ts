import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import maskCommand from '../cli/commands/mask.ts';
import { softCylinderMask, softSphereMask } from '../core/filters.ts';
import { Volume } from '../core/volume.ts';
import { readMask } from '../io/mask.ts';
import { readMrc, writeMrc } from '../io/mrc.ts';
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

describe('user masks', () => {
  const particle = { n: 32, voxelSize: 6, label: 'particle particles/p_0001.mrc' };

  it('are read as they are when they match the particles', async () => {
    const path = join(dir, 'ok.mrc');
    await writeMrc(path, new Volume(32, 6, softSphereMask(32, 12, 3)));
    expect(await readMask(path, particle)).toEqual({ data: softSphereMask(32, 12, 3), changes: [] });
  });

  it('of another box or voxel size are resampled onto the particles\', saying so, and stay within [0, 1]', async () => {
    const small = join(dir, 'small.mrc');
    const fine = join(dir, 'fine.mrc');
    await writeMrc(small, new Volume(24, 6, softSphereMask(24, 8, 2)));
    await writeMrc(fine, new Volume(64, 3, softSphereMask(64, 24, 6))); // the same 72 Å sphere at half the voxel size
    const box = await readMask(small, particle);
    expect(box.changes).toEqual([`mask ${small}: padded from 24³ to 32³ about its centre, to match particle particles/p_0001.mrc`]);
    expect(Array.from(box.data)).toEqual(Array.from(softSphereMask(32, 8, 2)));
    const voxel = await readMask(fine, particle);
    expect(voxel.changes).toEqual([`mask ${fine}: Fourier-resampled from 3 Å to 6 Å voxels, to match particle particles/p_0001.mrc`]);
    const expected = softSphereMask(32, 12, 3);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(voxel.data[i] - expected[i]));
    expect(worst).toBeLessThan(0.05);
    expect(Math.min(...voxel.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...voxel.data)).toBeLessThanOrEqual(1);
  });

  it('refuse negative values and an empty mask', async () => {
    const negative = new Volume(32, 6, softSphereMask(32, 8, 2));
    negative.set(1, 2, 3, -0.5);
    const zero = new Volume(32, 6);
    await writeMrc(join(dir, 'neg.mrc'), negative);
    await writeMrc(join(dir, 'zero.mrc'), zero);
    await expect(readMask(join(dir, 'neg.mrc'), particle)).rejects.toThrow(/negative value \(-0\.5\) at voxel \(x=1, y=2, z=3\)/);
    await expect(readMask(join(dir, 'zero.mrc'), particle)).rejects.toThrow(/is zero everywhere/);
  });
});

describe('subtomo mask --from-map', () => {
  it('binarises a map at the threshold, extends and softens it', async () => {
    const map = new Volume(32, 6);
    for (let z = 14; z <= 18; z++) for (let y = 14; y <= 18; y++) for (let x = 14; x <= 18; x++) map.set(x, y, z, 2);
    await writeMrc(join(dir, 'map.mrc'), map);
    const out = join(dir, 'from-map.mrc');
    await runMask(['--from-map', join(dir, 'map.mrc'), '--threshold', '1', '--extend', '2', '--soft', '3', '--out', out]);
    const mask = await readMrc(out);
    expect(mask.get(16, 16, 16)).toBe(1);
    expect(mask.get(20, 16, 16)).toBe(1); // 2 voxels beyond the cube's face
    expect(mask.get(21, 16, 16)).toBeCloseTo(0.75, 6); // 1 of 3 soft voxels
    expect(mask.get(24, 16, 16)).toBe(0);
    await expect(runMask(['--from-map', join(dir, 'map.mrc'), '--threshold', '5', '--out', out])).rejects.toThrow(/--threshold: no voxel reaches the threshold 5/);
    await expect(runMask(['--from-map', join(dir, 'map.mrc'), '--threshold', '1', '--soft', '-1', '--out', out])).rejects.toThrow('--soft must be ≥ 0 voxels, got -1');
    await expect(runMask(['--from-map', join(dir, 'map.mrc'), '--threshold', '1', '--size', '32', '--out', out])).rejects.toThrow('--size does not go with --from-map');
  });
});
