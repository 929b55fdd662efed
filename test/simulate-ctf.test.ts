/**
 * The simulator's per-tomogram CTF (core/simulate.ts, drivers/simulate.ts): tilt series of their own defocus,
 * astigmatism, dose and defocus gradient; each projection filtered by its own CTF exactly as a naive DFT does;
 * a noise-free particle equal to ctfModel × the placed reference up to the weighted back-projection; the data
 * set read back (RELION 5 particles.star + tomograms.star) giving every particle the CTF it was simulated with;
 * and bad settings refused naming the flag or the config field.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { simulationConfigOf } from '../activities/data.ts';
import simulateCommand from '../cli/commands/simulate.ts';
import { astigmaticCtf, ctfModel, doseWeight } from '../core/ctf.ts';
import { fft3 } from '../core/fft.ts';
import { Rng } from '../core/random.ts';
import { degrees, eulerToMatrix, radians } from '../core/rotate.ts';
import {
  DatasetSimulator,
  type SimulationConfig,
  TomographySimulator,
  type TiltSeries,
  densityModel,
  doseSymmetricOrder,
  renderDensity,
  tiltAngles,
} from '../core/simulate.ts';
import { freqOf } from '../core/volume.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { readPreparedList } from '../drivers/particleList.ts';
import { writeSimulatedDataset } from '../drivers/simulate.ts';
import { ConfigError, validateConfig } from '../model/campaign.ts';
import { CTF_DEFAULTS } from '../model/defaults.ts';
import type { ParticleCtf, TiltCtf } from '../model/particles.ts';
import { Args } from '../os/args.ts';
import { pythonWith, runPythonJson } from './helpers/python.ts';

const work = mkdtempSync(join(tmpdir(), 'subtomo-sim-ctf-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const optics = { voltageKv: 300, csMillimetre: 2.7, amplitudeContrast: 0.07 };
/** A single carbon atom: its density is a small Gaussian, so the particle's spectrum shows the transfer at every shell. */
const point = densityModel([{ x: 0, y: 0, z: 0, element: 'C' }]);

/** A strongly varying acquisition: 3–4 µm, 1 µm astigmatism, 120 e/Å², a 2 µm × 300 nm slab. */
function config(overrides: Partial<SimulationConfig> = {}): SimulationConfig {
  return {
    n: 32,
    voxelSize: 8,
    resolution: 16,
    tilt: symmetricTilt(60),
    tiltStep: radians(3),
    snr: Infinity,
    maxShift: 2,
    seed: 5,
    imaging: { ctf: { ...optics, defocusAngstrom: 35000 }, mtf: false },
    defocusRange: [30000, 40000],
    astigmatism: 10000,
    dose: 120,
    specimen: { width: 20000, thickness: 3000 },
    particlesPerTomogram: 2,
    ...overrides,
  };
}

describe('tilt series of their own', () => {
  it('dose-symmetric order: the tilt nearest 0° first, then +, −, +, … ; one side continues when the other ends', () => {
    const rank = (deg: number[]) => Array.from(doseSymmetricOrder(deg.map(radians)));
    expect(rank([-3, -2, -1, 0, 1, 2, 3])).toEqual([6, 4, 2, 0, 1, 3, 5]);
    expect(rank([-2, -1, 0, 1, 2, 3, 4])).toEqual([4, 2, 0, 1, 3, 5, 6]);
    // From a grid of steps, ±α agree only to rounding: they still pair up.
    const angles = tiltAngles(symmetricTilt(60), radians(1));
    const order = doseSymmetricOrder(angles);
    expect(degrees(angles[order.indexOf(1)])).toBeCloseTo(1, 9);
    expect(degrees(angles[order.indexOf(2)])).toBeCloseTo(-1, 9);
  });

  it('each tomogram draws its defocus and astigmatism, each particle its place; the CTF at it follows the depth', () => {
    const sim = new DatasetSimulator(point, config());
    expect([0, 1, 2, 3, 4].map((i) => sim.tomogramOf(i))).toEqual([0, 0, 1, 1, 2]);
    const t0 = sim.tomogram(0)!;
    const t1 = sim.tomogram(1)!;
    for (const t of [t0, t1]) {
      const mean = (t.tilts[0].defocusU + t.tilts[0].defocusV) / 2;
      expect(mean).toBeGreaterThanOrEqual(30000);
      expect(mean).toBeLessThan(40000);
      expect(t.tilts[0].defocusU - t.tilts[0].defocusV).toBeLessThan(10000);
      expect(t.tilts[0].defocusU).toBeGreaterThanOrEqual(t.tilts[0].defocusV);
    }
    expect(t0.tilts[0].defocusU).not.toBe(t1.tilts[0].defocusU);
    // Without astigmatism the tomograms keep their defocus (its draw comes first in their own stream).
    const round = new DatasetSimulator(point, config({ astigmatism: undefined }));
    expect(round.tomogram(1)!.tilts[0].defocusU).toBeCloseTo((t1.tilts[0].defocusU + t1.tilts[0].defocusV) / 2, 6);
    // Particle 0 and 1 share tomogram 0 but sit at different depths: their per-tilt defoci differ, most at high tilt.
    const [p0, p1] = [sim.particle(0), sim.particle(1)];
    const last = p0.ctf!.tilts.length - 1;
    const gap = (t: number) => Math.abs(p0.ctf!.tilts[t].defocusU - p1.ctf!.tilts[t].defocusU);
    expect(gap(last)).toBeGreaterThan(100);
    // defocus(t) − defocus(centre) = depth = −sin α·x + cos α·z of the particle's centre.
    const { centre } = p0;
    p0.ctf!.tilts.forEach((t, k) => {
      const depth = -Math.sin(t.angle) * centre[0] + Math.cos(t.angle) * centre[2];
      expect(t.defocusU - t0.tilts[k].defocusU).toBeCloseTo(depth, 6);
    });
    // 120 e/Å² over 41 images: the last one taken (−60°) was preceded by 40 of them.
    expect(p0.ctf!.tilts[0].preExposure).toBeCloseTo((40 * 120) / 41, 9);
  });

  it('particle i does not depend on how many particles or tomograms come before it', () => {
    const a = new DatasetSimulator(point, config());
    const b = new DatasetSimulator(point, config());
    const a3 = a.particle(3);
    b.particle(0);
    expect(b.particle(3).volume.data).toEqual(a3.volume.data);
    expect(b.particle(3).ctf).toEqual(a3.ctf);
  });
});

describe('per-tilt CTF of the projections', () => {
  it('filters each projection by its own astigmatic, dose-weighted CTF on the 2×-padded grid exactly as a naive DFT does', () => {
    const n = 8;
    const m = 2 * n;
    const voxel = 6;
    const angles = Float64Array.of(-0.4, 0, 0.4);
    const sim = new TomographySimulator(n, voxel, angles, { ctf: null, mtf: false });
    const ctf: ParticleCtf = {
      optics,
      tilts: [
        { angle: -0.4, defocusU: 30000, defocusV: 24000, astigmatismAngle: 0.5, preExposure: 40 },
        { angle: 0, defocusU: 20000, defocusV: 20000, astigmatismAngle: 0, preExposure: 0 },
        { angle: 0.4, defocusU: 41000, defocusV: 35000, astigmatismAngle: -1.1, preExposure: 80 },
      ],
    };
    const rng = new Rng(9);
    const images = Float32Array.from({ length: 3 * n * n }, () => rng.gaussian());
    const series: TiltSeries = { n, pixelSize: voxel, angles, images: images.slice() };
    sim.applyCtf(series, ctf);
    let worst = 0;
    for (let t = 0; t < 3; t++) {
      const tilt = ctf.tilts[t];
      // Spectrum of the padded image (the n×n block at n/2) by direct summation, times the transfer, summed back.
      const re = new Float64Array(m * m), im = new Float64Array(m * m);
      for (let ky = 0; ky < m; ky++) {
        for (let kx = 0; kx < m; kx++) {
          let sr = 0, si = 0;
          for (let y = 0; y < n; y++) {
            for (let x = 0; x < n; x++) {
              const a = (-2 * Math.PI * (kx * (x + n / 2) + ky * (y + n / 2))) / m;
              sr += images[t * n * n + y * n + x] * Math.cos(a);
              si += images[t * n * n + y * n + x] * Math.sin(a);
            }
          }
          // A real image stays real under the even part of the transfer on the grid: the mean over k and the
          // grid's −k, which is −k itself except on the Nyquist lines, where it aliases.
          const transfer = (ix: number, iy: number) => {
            const [u, v] = [freqOf(ix, m) / (m * voxel), freqOf(iy, m) / (m * voxel)];
            return astigmaticCtf(u, v, tilt, optics) * doseWeight(Math.hypot(u, v), tilt.preExposure!, optics.voltageKv);
          };
          const h = 0.5 * (transfer(kx, ky) + transfer((m - kx) % m, (m - ky) % m));
          re[ky * m + kx] = sr * h;
          im[ky * m + kx] = si * h;
        }
      }
      let maxErr = 0, maxVal = 0;
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++) {
          let s = 0;
          for (let ky = 0; ky < m; ky++) {
            for (let kx = 0; kx < m; kx++) {
              const a = (2 * Math.PI * (kx * (x + n / 2) + ky * (y + n / 2))) / m;
              s += re[ky * m + kx] * Math.cos(a) - im[ky * m + kx] * Math.sin(a);
            }
          }
          s /= m * m;
          maxVal = Math.max(maxVal, Math.abs(s));
          maxErr = Math.max(maxErr, Math.abs(series.images[t * n * n + y * n + x] - s));
        }
      }
      worst = Math.max(worst, maxErr / maxVal);
    }
    // Measured: 3.6e-8 (float32 images).
    expect(worst).toBeLessThan(1e-6);
  });

  it('one CTF for every tilt takes the radial table: bit for bit the data sets made before per-tilt CTFs', () => {
    const cfg = config({ snr: 0.1 });
    for (const key of ['defocusRange', 'astigmatism', 'dose', 'specimen', 'particlesPerTomogram'] as const) delete cfg[key];
    const sim = new DatasetSimulator(point, cfg);
    const p = sim.particle(2);
    expect(new Set(p.ctf!.tilts.map((t) => `${t.defocusU}/${t.defocusV}`))).toEqual(new Set(['35000/35000']));
    const plain = new TomographySimulator(cfg.n, cfg.voxelSize, sim.angles, cfg.imaging);
    const density = (x: DatasetSimulator) => x.reference();
    // The same projections through the shared CTF (no per-particle CTF) give the same bits.
    const withCtf = plain.simulate(density(sim), Infinity, new Rng(1), p.ctf);
    const without = plain.simulate(density(sim), Infinity, new Rng(1));
    expect(withCtf.data).toEqual(without.data);
  });

  it('a noise-free particle is ctfModel(its CTF) × the reference at its pose, shell by shell, up to the back-projection', () => {
    const cfg = config();
    const sim = new DatasetSimulator(point, cfg);
    const n = cfg.n;
    const shells = (particle: number, model: Float32Array) => {
      const p = sim.particle(particle);
      const X = fft3(p.volume.data, n);
      // Λ_pose(reference): the atom placed at the true pose, as the particle's density was.
      const placed = renderDensity(point, cfg, { rotation: eulerToMatrix(p.pose), shift: [p.pose.tx, p.pose.ty, p.pose.tz] });
      const F = fft3(placed.data, n);
      const by = new Map<number, { xm: number; xx: number; mm: number }>();
      for (let z = 0, i = 0; z < n; z++) {
        for (let y = 0; y < n; y++) {
          for (let x = 0; x < n; x++, i++) {
            const r = Math.round(Math.hypot(freqOf(x, n), freqOf(y, n), freqOf(z, n)));
            if (r === 0 || r > 0.35 * n) continue;
            const [mr, mi] = [model[i] * F[2 * i], model[i] * F[2 * i + 1]];
            const s = by.get(r) ?? { xm: 0, xx: 0, mm: 0 };
            s.xm += X[2 * i] * mr + X[2 * i + 1] * mi;
            s.xx += X[2 * i] ** 2 + X[2 * i + 1] ** 2;
            s.mm += mr * mr + mi * mi;
            by.set(r, s);
          }
        }
      }
      return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s.xm / Math.sqrt(s.xx * s.mm));
    };
    // Particle 0: little astigmatism, 2.3 kÅ off the tilt axis; particle 3: 0.8 µm astigmatism, 8.2 kÅ off the axis.
    for (const i of [0, 3]) {
      const ctf = sim.particle(i).ctf!;
      const right = shells(i, ctfModel(n, cfg.voxelSize, ctf));
      // Measured: ≥ 0.962 in every shell to 0.35 cycles/voxel (the lowest at shell 2, alike for every model).
      right.forEach((c, r) => expect(c, `particle ${i}, shell ${r + 1}`).toBeGreaterThan(0.95));
    }
    // Leaving out the astigmatism or the depth gradient is visible: each falls to 0.77 in some shell.
    const ctf = sim.particle(3).ctf!;
    const mean = (t: TiltCtf) => (t.defocusU + t.defocusV) / 2;
    const round = { ...ctf, tilts: ctf.tilts.map((t) => ({ ...t, defocusU: mean(t), defocusV: mean(t) })) };
    const middle = ctf.tilts[(ctf.tilts.length - 1) / 2];
    const flat = { ...ctf, tilts: ctf.tilts.map((t) => ({ ...t, defocusU: middle.defocusU, defocusV: middle.defocusV })) };
    expect(Math.min(...shells(3, ctfModel(n, cfg.voxelSize, round)))).toBeLessThan(0.8);
    expect(Math.min(...shells(3, ctfModel(n, cfg.voxelSize, flat)))).toBeLessThan(0.8);
  });
});

describe('the data set read back', () => {
  it('gives every particle the per-tilt CTF it was simulated with (tomograms.star + tilt_series/, RELION 5)', async () => {
    const dir = join(work, 'set');
    mkdirSync(dir);
    const cfg = config();
    const files = await writeSimulatedDataset(dir, { config: cfg, count: 5, components: [{ label: 'carbon', source: 'carbon', model: point, fraction: 1 }], weighting: 'atomic-number' });
    expect(files.tomograms).toBe('tomograms.star');
    expect(files.tiltSeries).toEqual(['tilt_series/tomo_0001.star', 'tilt_series/tomo_0002.star', 'tilt_series/tomo_0003.star']);
    const prepared = await readPreparedList(join(dir, 'particles.star'), { tomograms: join(dir, 'tomograms.star') });
    const sim = new DatasetSimulator(point, cfg);
    const truth = JSON.parse(readFileSync(join(dir, 'particles.json'), 'utf8'));
    prepared.particles.forEach((p, i) => {
      const simulated = sim.particle(i);
      expect(p.tomogram).toBe(truth.particles[i].tomogram);
      expect(p.ctf!.optics).toEqual(simulated.ctf!.optics);
      p.ctf!.tilts.forEach((t, k) => {
        const s = simulated.ctf!.tilts[k];
        expect(t.angle).toBeCloseTo(s.angle, 12);
        // Measured: ≤ 7e-12 Å (decimal round trip of positions and origins).
        expect(Math.abs(t.defocusU - s.defocusU)).toBeLessThan(1e-9);
        expect(Math.abs(t.defocusV - s.defocusV)).toBeLessThan(1e-9);
        expect(t.astigmatismAngle).toBeCloseTo(s.astigmatismAngle, 12);
        expect(t.preExposure).toBeCloseTo(s.preExposure!, 12);
        expect(truth.particles[i].ctf.tilts[k].defocusUAngst).toBe(s.defocusU);
      });
    });
    expect(truth.ctf).toMatchObject({ tomograms: 3, defocusRangeMicron: [3, 4], astigmatismMaxMicron: 1, doseTotal: 120, handedness: 1 });
  });

  it('teamtomo starfile reads the tomogram set as RELION 5 lays it out', async (ctx) => {
    const found = pythonWith(['starfile']);
    if (!found.python) return ctx.skip(found.skipReason);
    const dir = join(work, 'set');
    const script = `import json, sys, starfile
g = starfile.read(sys.argv[1])
t = starfile.read(sys.argv[2])
print(json.dumps({"global": list(g.columns), "names": list(g["rlnTomoName"]),
                  "tilt": list(t.columns), "angles": list(t["rlnTomoYTilt"])}))`;
    const read = runPythonJson<{ global: string[]; names: string[]; tilt: string[]; angles: number[] }>(found.python, script, [
      join(dir, 'tomograms.star'),
      join(dir, 'tilt_series', 'tomo_0001.star'),
    ]);
    expect(read.names).toEqual(['tomo_0001', 'tomo_0002', 'tomo_0003']);
    const global = ['rlnTomoHand', 'rlnTomoTiltSeriesStarFile', 'rlnTomoTiltSeriesPixelSize', 'rlnVoltage'];
    expect(read.global).toEqual(expect.arrayContaining(global));
    const tilt = ['rlnDefocusU', 'rlnDefocusV', 'rlnDefocusAngle', 'rlnMicrographPreExposure', 'rlnTomoYTilt'];
    expect(read.tilt).toEqual(expect.arrayContaining(tilt));
    // Acquisition order: 0°, +3°, −3°, …
    expect(read.angles.slice(0, 3)).toEqual([0, 3, -3]);
  });
});

describe('bad settings name the flag or the config field', () => {
  const base = ['--n', '1', '--size', '16', '--voxel', '10', '--resolution', '25', '--max-shift', '1', '--snr', 'inf'];
  const run = (...flags: string[]) => simulateCommand.run(new Args([...base, '--out', join(work, 'bad'), ...flags]));

  it('subtomo simulate', async () => {
    const cases: [string[], RegExp][] = [
      [['--defocus', '7:3'], /--defocus: the defocus range must run from low to high, got 7 µm to 3 µm/],
      [['--defocus', '3:x'], /--defocus must be an underfocus in µm \(6\) or a range MIN:MAX \(3:7\), got '3:x'/],
      [['--defocus', '0:3'], /--defocus: defocus must be a positive underfocus/],
      [['--dose', '-5'], /--dose: the total dose must be ≥ 0 e\/Å², got -5/],
      [['--astigmatism', '-0.1'], /--astigmatism: astigmatism must be ≥ 0, got -0\.1 µm/],
      [['--specimen', '800'], /--specimen must be WIDTH,THICKNESS in nm \(e\.g\. 800,150\), got '800'/],
      [['--specimen', '800,-1'], /--specimen: the specimen's width and thickness must be ≥ 0, got 800 and -1 nm/],
      [['--particles-per-tomogram', '0'], /--particles-per-tomogram: particles per tomogram must be a whole number ≥ 1, got 0/],
      [['--no-ctf', '--dose', '10'], /--dose describes the CTF, and --no-ctf simulates without one/],
    ];
    for (const [flags, message] of cases) await expect(run(...flags)).rejects.toThrow(message);
    expect(readdirSync(work)).not.toContain('bad');
  });

  it('campaign config: data.defocus as a number, [min, max] or "min:max"; new fields stored only when given', () => {
    const data = (d: Record<string, unknown>) => validateConfig({ workdir: 'w', data: { kind: 'simulate', ...d } }).data;
    expect(data({})).not.toHaveProperty('dose');
    expect(Object.keys(data({})).sort()).toEqual(Object.keys(data({ defocus: 6 })).sort());
    expect(data({ defocus: '3:7' })).toMatchObject({ defocus: [3, 7] });
    expect(data({ defocus: [3, 7], astigmatism: 0.2, dose: 120, specimen: [800, 150], particlesPerTomogram: 5 })).toMatchObject({
      defocus: [3, 7], astigmatism: 0.2, dose: 120, specimen: [800, 150], particlesPerTomogram: 5,
    });
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ defocus: [7, 3] }, /'data\.defocus': the range must run from low to high, got 7 to 3 µm/],
      [{ defocus: 'a:b' }, /'data\.defocus': must be an underfocus in µm/],
      [{ defocus: [0, 3] }, /'data\.defocus': must be a positive underfocus, got 0 µm/],
      [{ dose: -1 }, /'data\.dose': must be ≥ 0, got -1/],
      [{ astigmatism: 'big' }, /'data\.astigmatism': must be a number/],
      [{ specimen: [800] }, /'data\.specimen': must be \[width, thickness\] in nm/],
      [{ particlesPerTomogram: 1.5 }, /'data\.particlesPerTomogram': must be a positive integer, got 1\.5/],
    ];
    for (const [d, message] of refused) {
      expect(() => data(d)).toThrow(ConfigError);
      expect(() => data(d)).toThrow(message);
    }
    const sim = simulationConfigOf(data({ defocus: [3, 7], astigmatism: 0.2, dose: 120, specimen: [800, 150] }) as never);
    expect(sim).toMatchObject({ defocusRange: [30000, 70000], astigmatism: 2000, dose: 120, specimen: { width: 8000, thickness: 1500 } });
    expect(sim.imaging.ctf).toMatchObject({ ...CTF_DEFAULTS, defocusAngstrom: 50000 });
  });
});
