/**
 * Symmetry as a scientist applies it: imposed on each half map on its own (`subtomo average --symmetry`), and
 * symmetry expansion of a particle list (`subtomo expand`), on simulated particles of the D7 phantom.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run.ts';
import { groelPhantom } from '../core/phantom.ts';
import { eulerToMatrix, multiply, rotationAngle } from '../core/rotate.ts';
import { radians } from '../core/rotate.ts';
import { DatasetSimulator, densityModel } from '../core/simulate.ts';
import { parseSymmetry, symmetrise } from '../core/symmetry.ts';
import type { Volume } from '../core/volume.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { writeSimulatedDataset } from '../drivers/simulate.ts';
import { readMrc } from '../io/mrc.ts';
import { readParticleList } from '../io/particles.ts';

const scratch = mkdtempSync(join(tmpdir(), 'subtomo-symmetry-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const data = join(scratch, 'data');

function correlation(a: Float32Array, b: Float32Array): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) [ma, mb] = [ma + a[i], mb + b[i]];
  [ma, mb] = [ma / a.length, mb / b.length];
  let s = 0;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < a.length; i++) [s, sa, sb] = [s + (a[i] - ma) * (b[i] - mb), sa + (a[i] - ma) ** 2, sb + (b[i] - mb) ** 2];
  return s / Math.sqrt(sa * sb);
}

async function cli(...argv: string[]): Promise<void> {
  let err = '';
  const code = await runCli(argv, { out: () => undefined, err: (t) => (err += t) });
  expect(code, err).toBe(0);
}

let reference: Volume;
beforeAll(async () => {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(data, { recursive: true });
  const config = {
    n: 32, voxelSize: 12, resolution: 30, tilt: symmetricTilt(60), tiltStep: radians(3), snr: Infinity, maxShift: 2, seed: 21,
    imaging: { ctf: null, mtf: false },
  };
  await writeSimulatedDataset(data, { config, count: 8, components: [{ label: 'phantom', source: 'phantom', model: densityModel(groelPhantom()), fraction: 1 }], weighting: 'atomic-number' });
  reference = await readMrc(join(data, 'reference.mrc'));
});

describe('symmetry', () => {
  it('the D7 phantom at 64³ of 6 Å is unchanged by imposing D7 (correlation > 0.999)', () => {
    const model = new DatasetSimulator(densityModel(groelPhantom()), {
      n: 64, voxelSize: 6, resolution: 20, tilt: symmetricTilt(60), tiltStep: radians(1), snr: Infinity, maxShift: 0, seed: 1, imaging: { ctf: null, mtf: false },
    }).reference();
    expect(correlation(symmetrise(model, 'D7').data, model.data)).toBeGreaterThan(0.999);
  });

  it('average --symmetry D7 symmetrises each half map on its own, and prints the resolution of the halves', async () => {
    await cli('average', '--particles', join(data, 'particles.star'), '--out', join(scratch, 'c1'));
    await cli('average', '--particles', join(data, 'particles.star'), '--out', join(scratch, 'd7'), '--symmetry', 'D7');
    for (const half of ['half_odd.mrc', 'half_even.mrc', 'average.mrc']) {
      const c1 = await readMrc(join(scratch, 'c1', half));
      const d7 = await readMrc(join(scratch, 'd7', half));
      const expected = symmetrise(c1, 'D7');
      let worst = 0;
      for (let i = 0; i < d7.data.length; i++) worst = Math.max(worst, Math.abs(d7.data[i] - expected.data[i]));
      expect(worst, half).toBeLessThan(1e-5);
      // Imposing D7 brings the wedge-limited average of 8 particles closer to the model.
      expect(correlation(d7.data, reference.data)).toBeGreaterThan(correlation(c1.data, reference.data));
    }
    let err = '';
    expect(await runCli(['average', '--particles', join(data, 'particles.star'), '--out', join(scratch, 'x'), '--symmetry', 'T'],
      { out: () => undefined, err: (t) => (err += t) })).toBe(2);
    expect(err).toMatch(/--symmetry: .*T/);
  });

  it('expand --symmetry C7 gives 7 copies posed R·S, each in its particle\'s half-set, which average accepts', async () => {
    const expanded = join(scratch, 'expanded.star');
    await cli('expand', '--particles', join(data, 'particles.star'), '--symmetry', 'C7', '--out', expanded);
    const original = await readParticleList(join(data, 'particles.star'));
    const list = await readParticleList(expanded);
    expect(list.particles).toHaveLength(7 * original.particles.length);
    const C7 = parseSymmetry('C7');
    original.particles.forEach((p, i) => {
      const copies = list.particles.slice(7 * i, 7 * i + 7);
      expect(new Set(copies.map((c) => c.image))).toEqual(new Set([p.image]));
      expect(new Set(copies.map((c) => c.half)).size).toBe(1);
      copies.forEach((c, k) => expect(rotationAngle(eulerToMatrix(c.pose!), multiply(eulerToMatrix(p.pose!), C7.operators[k]))).toBeLessThan(1e-9));
    });
    await cli('average', '--particles', expanded, '--out', join(scratch, 'expanded-average'));
  });
});
