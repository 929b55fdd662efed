import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import simulateCommand from '../cli/commands/simulate.ts';
import { constrainedCCC } from '../core/ccc.ts';
import { ctfValue, ctfZeros, electronWavelength } from '../core/ctf.ts';
import { fft3 } from '../core/fft.ts';
import { applyFourierFilter, softSphereMask } from '../core/filters.ts';
import { groelPhantom } from '../core/phantom.ts';
import { Rng } from '../core/random.ts';
import { eulerToMatrix, identity, radians, rotationZ, transformVolume, transformVolumeByMatrix } from '../core/rotate.ts';
import {
  DatasetSimulator,
  TomographySimulator,
  densityModel,
  detectorMtf,
  renderDensity,
  situsSigma,
  snrFromTwoRealisations,
  tiltAngles,
} from '../core/simulate.ts';
import type { SimulationConfig, TiltSeries } from '../core/simulate.ts';
import { erfc } from '../core/stats.ts';
import { Volume, centreOf, freqOf } from '../core/volume.ts';
import { observedFraction, symmetricTilt, wedgeMask } from '../core/wedge.ts';
import { readMrc } from '../io/mrc.ts';
import { poseFromRelion, readStar, starBlock } from '../io/star.ts';
import { CTF_DEFAULTS } from '../model/defaults.ts';
import { Args, UsageError } from '../os/args.ts';

const phantom = densityModel(groelPhantom());
// 32³ at 10 Å holds the 15 nm phantom inside the inscribed sphere with room for small shifts
const N = 32;
const VOXEL = 10;
const RESOLUTION = 25;
const reference = renderDensity(phantom, { n: N, voxelSize: VOXEL, resolution: RESOLUTION });
const interior = softSphereMask(N, 13, 2);
const tmp = mkdtempSync(join(tmpdir(), 'subtomo-sim-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function pureSimulator(tiltDeg: number, stepDeg = 1): TomographySimulator {
  return new TomographySimulator(N, VOXEL, tiltAngles(symmetricTilt(tiltDeg), radians(stepDeg)), { ctf: null, mtf: false });
}

/** 3D transfer of the per-projection CTF·MTF: a radial filter, since the central section preserves |k|. */
function opticsTransfer(n: number, voxel: number, sign: number): Float32Array {
  const t = new Float32Array(n * n * n);
  for (let z = 0, i = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++, i++) {
        const k = Math.hypot(freqOf(x, n), freqOf(y, n), freqOf(z, n)) / n;
        t[i] = sign * ctfValue(k / voxel, CTF_DEFAULTS) * detectorMtf(k / 0.5);
      }
    }
  }
  return t;
}

describe('density and phantom', () => {
  it('uses the Situs width σ = R/(2√3)', () => {
    expect(situsSigma(20)).toBeCloseTo(20 / (2 * Math.sqrt(3)), 12);
  });

  it('puts the centre of mass at the box centre and conserves mass away from the box edge', () => {
    const c = centreOf(N);
    let m = 0, mx = 0, my = 0, mz = 0;
    for (let z = 0, i = 0; z < N; z++) {
      for (let y = 0; y < N; y++) {
        for (let x = 0; x < N; x++, i++) {
          const v = reference.data[i];
          m += v;
          mx += v * x;
          my += v * y;
          mz += v * z;
        }
      }
    }
    expect(Math.abs(mx / m - c)).toBeLessThan(0.01);
    expect(Math.abs(my / m - c)).toBeLessThan(0.01);
    expect(Math.abs(mz / m - c)).toBeLessThan(0.01);
    // each atom carries weight Z = 6 (pseudo-carbon); truncation at 3σ keeps 97.1 % of a 3D Gaussian
    const total = phantom.weight.reduce((a, b) => a + b, 0);
    expect(m / total).toBeGreaterThan(0.96);
    expect(m / total).toBeLessThan(0.98);
  });

  it('the phantom is D7: invariant under 2π/7 about z and the 2-fold about x, not under π/7', () => {
    const R7 = rotationZ((2 * Math.PI) / 7);
    const twoFold = Float64Array.of(1, 0, 0, 0, -1, 0, 0, 0, -1);
    const same = (R: Float64Array): number =>
      constrainedCCC(reference, renderDensity(phantom, { n: N, voxelSize: VOXEL, resolution: RESOLUTION }, { rotation: R, shift: [0, 0, 0] }), {
        mask: interior,
      });
    expect(same(R7)).toBeGreaterThan(0.999);
    expect(same(twoFold)).toBeGreaterThan(0.999);
    expect(same(rotationZ(Math.PI / 7))).toBeLessThan(0.95);
    const r = phantom.x.map((x, i) => Math.hypot(x, phantom.y[i]));
    const zs = Array.from(phantom.z);
    expect(2 * Math.max(...r)).toBeGreaterThan(130);
    expect(2 * Math.max(...r)).toBeLessThan(150);
    expect(Math.max(...zs) - Math.min(...zs)).toBeGreaterThan(140);
    expect(Math.max(...zs) - Math.min(...zs)).toBeLessThan(155);
    expect(Math.min(...r)).toBeGreaterThan(20); // the central channel
  });

  it('placing the atoms at pose (R, T) equals transforming the reference by Λ_(R,T)', () => {
    const pose = { phi: 0.4, theta: 1.1, psi: -2.0, tx: 1.5, ty: -2.25, tz: 0.75 };
    const placed = renderDensity(phantom, { n: N, voxelSize: VOXEL, resolution: RESOLUTION }, { rotation: eulerToMatrix(pose), shift: [pose.tx, pose.ty, pose.tz] });
    // trilinear interpolation in transformVolume blurs slightly; a wrong convention scores far lower
    expect(constrainedCCC(placed, transformVolume(reference, pose), { mask: interior })).toBeGreaterThan(0.99);
  });
});

describe('tilt-series projection', () => {
  // one carbon atom: a Gaussian blob of σ = 3 voxels, truncated at 3σ
  const sigma = 3;
  const carbon = densityModel([{ x: 0, y: 0, z: 0, element: 'C' }]);
  const blob = (dx: number, dy: number, dz: number): Volume =>
    renderDensity(carbon, { n: N, voxelSize: 1, resolution: sigma * 2 * Math.sqrt(3) }, { rotation: identity(), shift: [dx, dy, dz] });

  /** ∫ of a 3σ-truncated normalised 3D Gaussian of weight 6 along z: 2D Gaussian × erf of the chord. */
  function analyticProjection(r2: number): number {
    const h2 = 9 * sigma * sigma - r2;
    if (h2 <= 0) return 0;
    return ((6 / (2 * Math.PI * sigma * sigma)) * Math.exp(-r2 / (2 * sigma * sigma))) * (1 - erfc(Math.sqrt(h2) / (Math.SQRT2 * sigma)));
  }

  it('matches the analytic projection of a centred and an off-centre Gaussian at several tilts', () => {
    const anglesDeg = [-60, -25, 0, 33, 60];
    const sim = new TomographySimulator(N, 1, Float64Array.from(anglesDeg, radians), { ctf: null, mtf: false });
    const c = centreOf(N);
    for (const [dx, dy, dz] of [[0, 0, 0], [5, -3, 4]]) {
      const series = sim.project(blob(dx, dy, dz));
      const peak = analyticProjection(0);
      anglesDeg.forEach((deg, t) => {
        const a = radians(deg);
        // R_y(α) moves (x, z) to x′ = cos α·x + sin α·z
        const px = c + Math.cos(a) * dx + Math.sin(a) * dz;
        const py = c + dy;
        let maxErr = 0;
        for (let y = 0; y < N; y++) {
          for (let x = 0; x < N; x++) {
            const expected = analyticProjection((x - px) ** 2 + (y - py) ** 2);
            maxErr = Math.max(maxErr, Math.abs(series.images[t * N * N + y * N + x] - expected));
          }
        }
        expect(maxErr / peak).toBeLessThan(0.02);
      });
    }
  });
});

describe('weighted back-projection and the missing wedge', () => {
  const recon = (deg: number): Volume => {
    const sim = pureSimulator(deg);
    return sim.reconstruct(sim.project(reference));
  };
  const r90 = recon(90);
  const r60 = recon(60);
  const r40 = recon(40);

  it('reconstructs the phantom from ±90° noise-free projections (interior CCC > 0.95) at the right scale', () => {
    const ccc = constrainedCCC(reference, r90, { mask: interior });
    expect(ccc).toBeGreaterThan(0.95);
    let num = 0, den = 0;
    for (let i = 0; i < reference.data.length; i++) {
      num += interior[i] * r90.data[i] * reference.data[i];
      den += interior[i] * reference.data[i] * reference.data[i];
    }
    expect(num / den).toBeGreaterThan(0.9);
    expect(num / den).toBeLessThan(1.1);
  });

  /** Fourier energy (k ≠ 0) of `v` inside the missing wedge of ±deg, beyond `margin` Fourier voxels of its edge, and outside it. */
  function wedgeEnergy(v: Volume, deg: number, margin = 0): { missing: number; observed: number } {
    const spec = fft3(v.data, N);
    const mask = wedgeMask(N, symmetricTilt(deg));
    const theta = radians(deg);
    let missing = 0, observed = 0;
    for (let z = 0, i = 0; z < N; z++) {
      for (let y = 0; y < N; y++) {
        for (let x = 0; x < N; x++, i++) {
          if (i === 0) continue;
          const e = spec[2 * i] ** 2 + spec[2 * i + 1] ** 2;
          if (mask[i]) {
            observed += e;
            continue;
          }
          const kx = Math.abs(freqOf(x, N)), kz = Math.abs(freqOf(z, N));
          const distance = Math.hypot(kx, kz) * Math.sin(Math.atan2(kz, kx) - theta);
          if (distance > margin) missing += e;
        }
      }
    }
    return { missing, observed };
  }

  it('±60°: Fourier energy inside the missing wedge is < 2 % of the energy outside it', () => {
    const e = wedgeEnergy(r60, 60);
    expect(e.missing / e.observed).toBeLessThan(0.02);
  });

  it('±40°: a larger wedge is missing, and beyond the grid-sampled edge it stays empty', () => {
    // at |k| ≈ 1–2 the lattice points next to a 40° edge (e.g. kx = kz = 1, at 45°) sit a fraction of a
    // Fourier voxel from the last slice and pick up its finite-box spread; one voxel further in, nothing
    const e40 = wedgeEnergy(r40, 40, 1);
    expect(e40.missing / e40.observed).toBeLessThan(0.02);
    expect(1 - observedFraction(wedgeMask(N, symmetricTilt(40)))).toBeGreaterThan(1 - observedFraction(wedgeMask(N, symmetricTilt(60))) + 0.2);
    const truth40 = wedgeEnergy(reference, 40);
    const truth60 = wedgeEnergy(reference, 60);
    const missingFraction = (e: { missing: number; observed: number }): number => e.missing / (e.missing + e.observed);
    expect(missingFraction(truth40)).toBeGreaterThan(missingFraction(truth60) + 0.1);
    const ccc40 = constrainedCCC(reference, r40, { mask: interior });
    const ccc60 = constrainedCCC(reference, r60, { mask: interior });
    expect(ccc40).toBeLessThan(ccc60 - 0.03);
    expect(ccc60).toBeLessThan(constrainedCCC(reference, r90, { mask: interior }) - 0.03);
  });
});

describe('optics', () => {
  it('has the relativistic wavelength 0.019688 Å at 300 kV (design.md quotes it truncated, 0.019687)', () => {
    expect(electronWavelength(300)).toBeCloseTo(0.019688, 6);
  });

  it('puts the zeros at k² = n/(λΔf) without Cs and amplitude contrast', () => {
    const p = { ...CTF_DEFAULTS, csMillimetre: 0, amplitudeContrast: 0 };
    const lambda = electronWavelength(300);
    const z = ctfZeros(p, 1 / 12);
    expect(z).toHaveLength(8); // ~8 zeros before Nyquist at 6 Å and 6 µm
    z.forEach((k, i) => expect(k).toBeCloseTo(Math.sqrt((i + 1) / (lambda * 60000)), 7));
  });

  it('with Cs and amplitude contrast, zeros solve π λ Δf k² − (π/2) Cs λ³ k⁴ = nπ − atan(A/√(1−A²))', () => {
    const lambda = electronWavelength(300);
    const cs = 2e7;
    const a = CTF_DEFAULTS.amplitudeContrast;
    const phase = Math.atan(a / Math.sqrt(1 - a * a));
    const z = ctfZeros(CTF_DEFAULTS, 1 / 12);
    expect(z).toHaveLength(8);
    expect(1 / z[0]).toBeGreaterThan(33);
    expect(1 / z[0]).toBeLessThan(35.5);
    z.forEach((k, i) => {
      const b = Math.PI * lambda * 60000;
      const qa = (Math.PI / 2) * cs * lambda ** 3;
      const rhs = (i + 1) * Math.PI - phase;
      const k2 = (b - Math.sqrt(b * b - 4 * qa * rhs)) / (2 * qa);
      expect(k).toBeCloseTo(Math.sqrt(k2), 7);
    });
  });

  it('filters projections with the CTF on the 2×-padded grid exactly as a naive DFT does', () => {
    const n = 16;
    const m = 2 * n;
    const sim = new TomographySimulator(n, 6, Float64Array.of(0, 0.1, 0.2), { ctf: CTF_DEFAULTS, mtf: false });
    const rng = new Rng(3);
    const images = Float32Array.from({ length: 3 * n * n }, () => rng.gaussian());
    const series: TiltSeries = { n, pixelSize: 6, angles: sim.angles, images: images.slice() };
    sim.applyCtf(series);
    for (let t = 0; t < 3; t++) {
      // padded image with the n×n block at offset n/2; spectrum by direct summation
      const re = new Float64Array(m * m), im = new Float64Array(m * m);
      for (let ky = 0; ky < m; ky++) {
        for (let kx = 0; kx < m; kx++) {
          let sr = 0, si = 0;
          for (let y = 0; y < n; y++) {
            for (let x = 0; x < n; x++) {
              const ang = (-2 * Math.PI * (kx * (x + n / 2) + ky * (y + n / 2))) / m;
              const v = images[t * n * n + y * n + x];
              sr += v * Math.cos(ang);
              si += v * Math.sin(ang);
            }
          }
          const h = ctfValue(Math.hypot(freqOf(kx, m), freqOf(ky, m)) / (m * 6), CTF_DEFAULTS);
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
              const ang = (2 * Math.PI * (kx * (x + n / 2) + ky * (y + n / 2))) / m;
              s += re[ky * m + kx] * Math.cos(ang) - im[ky * m + kx] * Math.sin(ang);
            }
          }
          s /= m * m;
          maxVal = Math.max(maxVal, Math.abs(s));
          maxErr = Math.max(maxErr, Math.abs(series.images[t * n * n + y * n + x] - s));
        }
      }
      expect(maxErr / maxVal).toBeLessThan(1e-5);
    }
  });

  it('the detector MTF is sinc(πω/2): 1 at DC, 2/π at Nyquist', () => {
    expect(detectorMtf(0)).toBe(1);
    expect(detectorMtf(1)).toBeCloseTo(2 / Math.PI, 12);
  });
});

describe('noise', () => {
  const sim = new TomographySimulator(N, VOXEL, tiltAngles(symmetricTilt(60), radians(1)), { ctf: CTF_DEFAULTS, mtf: true });
  const clean = sim.project(reference);
  sim.applyCtf(clean);
  const noisy = (snr: number, seed: number): TiltSeries => {
    const s = { ...clean, images: clean.images.slice() };
    sim.addNoise(s, snr, new Rng(seed));
    return s;
  };

  it('two realisations with independent noise give ρ/(1−ρ) within 10 % of the requested per-projection SNR', () => {
    for (const snr of [1, 0.1]) {
      const a = noisy(snr, 11);
      const b = noisy(snr, 12);
      const measured = snrFromTwoRealisations(a.images, b.images, N * N);
      expect(Math.abs(measured / snr - 1)).toBeLessThan(0.1);
      // the detector MTF damps white noise more than the low-pass signal, so the SNR after it is higher
      sim.applyMtf(a);
      sim.applyMtf(b);
      expect(snrFromTwoRealisations(a.images, b.images, N * N)).toBeGreaterThan(1.2 * snr);
    }
  });

  it('SNR = ∞ adds no noise; SNR ≤ 0 is refused', () => {
    const s = noisy(Infinity, 1);
    expect(s.images).toEqual(clean.images);
    expect(() => sim.addNoise(s, -1, new Rng(1))).toThrow(/SNR must be positive/);
  });
});

describe('data sets', () => {
  const config: SimulationConfig = {
    n: N,
    voxelSize: VOXEL,
    resolution: RESOLUTION,
    tilt: symmetricTilt(60),
    tiltStep: radians(2),
    snr: Infinity,
    maxShift: 2,
    seed: 7,
    imaging: { ctf: { ...CTF_DEFAULTS }, mtf: true },
  };

  it('particle i is reproducible bit for bit and independent of the other particles', () => {
    const a = new DatasetSimulator(phantom, { ...config, snr: 0.01 });
    const b = new DatasetSimulator(phantom, { ...config, snr: 0.01 });
    const a0 = a.particle(0);
    const a1 = a.particle(1);
    const b1 = b.particle(1);
    expect(b1.volume.data).toEqual(a1.volume.data);
    expect(b1.pose).toEqual(a1.pose);
    expect(b.particle(0).volume.data).toEqual(a0.volume.data);
    expect(a1.volume.data).not.toEqual(a0.volume.data);
  });

  it('at SNR ∞ the true pose re-creates each particle from the reference (wedge-constrained CCC > 0.9)', () => {
    const sim = new DatasetSimulator(phantom, config);
    const ref = sim.reference();
    // the particle carries the CTF·MTF of its projections (a radial 3D filter) and is written protein-white
    const optics = opticsTransfer(N, VOXEL, -1);
    const wedge = wedgeMask(N, config.tilt);
    for (let i = 0; i < 3; i++) {
      const p = sim.particle(i);
      const expected = applyFourierFilter(transformVolume(ref, p.pose), optics);
      const ccc = constrainedCCC(p.volume, expected, { wedgeF: wedge, mask: interior });
      expect(ccc).toBeGreaterThan(0.9);
      const wrong = applyFourierFilter(transformVolume(ref, { ...p.pose, psi: p.pose.psi + 0.5 }), optics);
      expect(constrainedCCC(p.volume, wrong, { wedgeF: wedge, mask: interior })).toBeLessThan(ccc - 0.2);
    }
  });
});

describe('subtomo simulate (CLI)', () => {
  const run = (out: string, ...flags: string[]): Promise<void> =>
    simulateCommand.run(new Args(['--n', '2', '--size', '32', '--voxel', '10', '--resolution', '25', '--tilt-step', '3', '--max-shift', '2', '--seed', '3', '--out', out, ...flags]));

  it('simulates a mixture: shares by fraction, the true class in the STAR, a reference per model (1BXN and its asymmetric unit)', async () => {
    const out = join(tmp, 'mixture');
    const rubisco = join(import.meta.dirname, '..', '..', 'shared', 'data', '1BXN.pdb');
    await run(out, '--snr', 'inf', '--n', '4', '--voxel', '12', '--no-ctf', '--pdb', `${rubisco}:3,${rubisco}:1:asu`);
    const star = starBlock(await readStar(join(out, 'particles.star')), 'particles', 'particles.star');
    const labels = star.rows.map((r) => String(r[star.columns.indexOf('subtomoTrueClass')])).sort();
    expect(labels).toEqual(['1BXN', '1BXN', '1BXN', '1BXN-asu']);
    const meta = JSON.parse(readFileSync(join(out, 'particles.json'), 'utf8'));
    expect(meta.mixture.map((m: { label: string; particles: number }) => [m.label, m.particles])).toEqual([['1BXN', 3], ['1BXN-asu', 1]]);
    // The assembly (BIOMT: two copies) carries twice the density of the file's atoms alone.
    const sum = async (f: string) => (await readMrc(join(out, f))).data.reduce((a, b) => a + b, 0);
    expect((await sum('reference_1BXN.mrc')) / (await sum('reference_1BXN-asu.mrc'))).toBeCloseTo(2, 1);
    // Each particle is its model's: the same seed and index give the same particle as a one-model data set.
    const single = join(tmp, 'mixture-single');
    await run(single, '--snr', 'inf', '--n', '4', '--voxel', '12', '--no-ctf', '--pdb', rubisco);
    const first = star.rows.findIndex((r) => r[star.columns.indexOf('subtomoTrueClass')] === '1BXN');
    const file = String(star.rows[first][0]);
    expect(Array.from((await readMrc(join(out, file))).data)).toEqual(Array.from((await readMrc(join(single, file))).data));
    await expect(run(join(tmp, 'bad-mixture'), '--snr', 'inf', '--pdb', `${rubisco}:-1`)).rejects.toThrow(/--pdb: '-1' .* is neither a positive fraction nor 'asu'/);
  });

  it('writes particles, the reference, STAR and JSON whose poses re-create the particles, reproducibly', async () => {
    const out1 = join(tmp, 'set1');
    const out2 = join(tmp, 'set2');
    await run(out1, '--snr', 'inf');
    await run(out2, '--snr', 'inf');
    // With a CTF the set is a RELION 5 one: its tomogram set and the per-tilt STAR of its one tomogram beside the particles.
    expect(readdirSync(out1).sort()).toEqual([
      'particle_0001.mrc', 'particle_0002.mrc', 'particles.json', 'particles.star', 'reference.mrc', 'tilt_series', 'tomograms.star',
    ]);
    for (const f of ['particle_0001.mrc', 'particle_0002.mrc', 'reference.mrc']) {
      // the data blocks are identical; the headers differ only in the creation-time label
      expect(readFileSync(join(out2, f)).subarray(1024)).toEqual(readFileSync(join(out1, f)).subarray(1024));
    }
    expect(readFileSync(join(out2, 'particles.star'))).toEqual(readFileSync(join(out1, 'particles.star')));
    const meta = JSON.parse(readFileSync(join(out1, 'particles.json'), 'utf8'));
    expect(meta.snr).toBe('inf');
    expect(meta.tilt).toMatchObject({ minDeg: -60, maxDeg: 60, stepDeg: 3, count: 41 });

    const ref = await readMrc(join(out1, 'reference.mrc'));
    const star = starBlock(await readStar(join(out1, 'particles.star')), 'particles', 'particles.star');
    const optics = opticsTransfer(N, VOXEL, -1);
    const wedge = wedgeMask(N, symmetricTilt(60));
    for (let i = 0; i < 2; i++) {
      const pose = poseFromRelion(star, i, VOXEL, 'particles.star');
      const particle = await readMrc(join(out1, String(star.rows[i][0])));
      const expected = applyFourierFilter(transformVolumeByMatrix(ref, eulerToMatrix(pose), [pose.tx, pose.ty, pose.tz]), optics);
      expect(constrainedCCC(particle, expected, { wedgeF: wedge, mask: interior })).toBeGreaterThan(0.9);
      expect(meta.particles[i].shiftVoxels[0]).toBeCloseTo(pose.tx, 9);
    }
  });

  it('refuses bad input with a message naming the flag or file and writes nothing', async () => {
    const pdb = join(tmp, 'alien.pdb');
    writeFileSync(pdb, 'ATOM      1  XX  ALA A   1       1.000   2.000   3.000  1.00 10.00          Xx\n');
    const cases: [string[], RegExp][] = [
      [['--snr', '0.1', '--pdb', pdb], /alien\.pdb:1: unknown element 'Xx'/],
      [['--snr', '-0.5'], /--snr: SNR must be positive/],
      [['--snr', '0.1', '--tilt', '95'], /--tilt: tilt angles must lie within \[−90°, 90°\]/],
      [['--snr', '0.1', '--size', '33'], /--size: box size must be an even integer/],
    ];
    for (const [flags, message] of cases) {
      const out = join(tmp, 'bad');
      const before = readdirSync(tmp).sort();
      await expect(run(out, ...flags)).rejects.toThrow(message);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(tmp).sort()).toEqual(before);
    }
    await expect(run(join(tmp, 'bad'), '--snr', '-0.5')).rejects.toBeInstanceOf(UsageError);
    await expect(run(join(tmp, 'set-x'), '--snr', '0.1', '--n', '1', '--out', join(tmp, 'set1'))).rejects.toThrow(/already exists and is not empty/);
  });
});
