/**
 * The CTF and the 3D transfer model of a subtomogram (core/ctf.ts), against the simulator's explicit
 * projection → CTF → weighted back-projection of a point object, and against the formulas they cite.
 */
import { describe, expect, it } from 'vitest';
import { astigmaticCtf, criticalExposure, ctfModel, ctfValue, doseWeight, rotatedFourierVolume, validateParticleCtf } from '../core/ctf.ts';
import { fft3 } from '../core/fft.ts';
import { eulerToMatrix, radians, rotationZ } from '../core/rotate.ts';
import { TomographySimulator, tiltAngles } from '../core/simulate.ts';
import { Volume, centreOf, freqOf } from '../core/volume.ts';
import { symmetricTilt, wedgeMask } from '../core/wedge.ts';
import { CTF_DEFAULTS } from '../model/defaults.ts';
import type { ParticleCtf } from '../model/particles.ts';

const optics = { voltageKv: 300, csMillimetre: 2.7, amplitudeContrast: 0.07 };

function series(tiltDeg: number, stepDeg: number, defocus: (angle: number) => number): ParticleCtf {
  return {
    optics,
    tilts: Array.from(tiltAngles(symmetricTilt(tiltDeg), radians(stepDeg)), (angle) => ({
      angle, defocusU: defocus(angle), defocusV: defocus(angle), astigmatismAngle: 0,
    })),
  };
}

describe('CTF formulas', () => {
  it('an astigmatic CTF with U = V is the radial CTF; along U it uses defocus U, across it V', () => {
    const k = 0.03;
    const round = { defocusU: 40000, defocusV: 40000, astigmatismAngle: 0.3 };
    expect(astigmaticCtf(k * Math.cos(1), k * Math.sin(1), round, optics)).toBeCloseTo(ctfValue(k, { ...optics, defocusAngstrom: 40000 }), 12);
    const astig = { defocusU: 45000, defocusV: 35000, astigmatismAngle: 0.3 };
    expect(astigmaticCtf(k * Math.cos(0.3), k * Math.sin(0.3), astig, optics)).toBeCloseTo(ctfValue(k, { ...optics, defocusAngstrom: 45000 }), 12);
    const across = 0.3 + Math.PI / 2;
    expect(astigmaticCtf(k * Math.cos(across), k * Math.sin(across), astig, optics)).toBeCloseTo(ctfValue(k, { ...optics, defocusAngstrom: 35000 }), 12);
  });

  it("dose weights follow Grant & Grigorieff's critical exposure", () => {
    // N_e(1/10 Å) = 0.245·10^1.665 + 2.81 = 14.04 e/Å² at 300 kV.
    expect(criticalExposure(0.1, 300)).toBeCloseTo(0.245 * Math.pow(10, 1.665) + 2.81, 10);
    expect(doseWeight(0.1, 30, 300)).toBeCloseTo(Math.exp(-30 / (2 * criticalExposure(0.1, 300))), 12);
    expect(doseWeight(0.1, 0, 300)).toBe(1);
    expect(criticalExposure(0.1, 200)).toBeCloseTo(0.8 * criticalExposure(0.1, 300), 12);
  });

  it('refuses a tilt series it cannot model, naming the tilt', () => {
    const good = series(60, 30, () => 30000);
    expect(() => validateParticleCtf(good)).not.toThrow();
    expect(() => validateParticleCtf({ ...good, tilts: [] })).toThrow(/no tilt images/);
    expect(() => validateParticleCtf({ ...good, tilts: [good.tilts[1], good.tilts[0]] })).toThrow(/tilt 2: angles must ascend/);
    expect(() => validateParticleCtf({ ...good, tilts: [{ ...good.tilts[0], defocusU: NaN }] })).toThrow(/tilt 1 \(-60\.00°\): defocus NaN/);
    expect(() => validateParticleCtf({ ...good, optics: { ...optics, voltageKv: 0 } })).toThrow(/invalid optics: 0 kV/);
  });
});

describe('ctfModel', () => {
  const n = 32;
  const voxel = 8;

  it('is zero exactly outside the wedge of its tilt range and nowhere else but at CTF zeros', () => {
    const m = ctfModel(n, voxel, series(50, 5, () => 30000));
    const w = wedgeMask(n, symmetricTilt(50));
    let inside = 0;
    let zeroInside = 0;
    for (let i = 0; i < m.length; i++) {
      if (w[i] === 0) expect(m[i]).toBe(0);
      else {
        inside++;
        if (m[i] === 0) zeroInside++;
      }
    }
    expect(zeroInside / inside).toBeLessThan(1e-3);
    // At k = 0 the transfer is the amplitude contrast (protein-white sign).
    expect(m[0]).toBeCloseTo(optics.amplitudeContrast, 6);
  });

  it('takes each frequency\'s CTF from its nearest tilt plane, dose-weighted', () => {
    const tilts = series(60, 20, (a) => 30000 + 10000 * a);
    tilts.tilts.forEach((t, i) => (t.preExposure = 3 * i));
    const m = ctfModel(n, voxel, tilts);
    // A frequency on the 20° plane: (kx, kz) ∝ (cos 20°, sin 20°) is not on the grid, so check kz = 0 (the 0° plane) and a 40° point.
    const k = 0.02;
    const at = (ix: number, iy: number, iz: number) => m[ix + n * (iy + n * iz)];
    const ix = Math.round(k * n * voxel);
    const plane0 = tilts.tilts[3];
    const kx = ix / (n * voxel);
    expect(at(ix, 0, 0)).toBeCloseTo(-astigmaticCtf(kx, 0, plane0, optics) * doseWeight(kx, plane0.preExposure!, 300), 6);
    // (kx, kz) = (5, 4)/(n·voxel): 38.7°, nearest plane 40°; its in-plane frequency u = kx cos 40° + kz sin 40°.
    const plane40 = tilts.tilts[5];
    const [px, pz] = [5 / (n * voxel), 4 / (n * voxel)];
    const u = px * Math.cos(plane40.angle) + pz * Math.sin(plane40.angle);
    expect(at(5, 0, 4)).toBeCloseTo(-astigmaticCtf(u, 0, plane40, optics) * doseWeight(u, plane40.preExposure!, 300), 6);
  });

  it('of rotated data is the model at the rotated frequency: M_R(k) = M(Rᵀk)', () => {
    const ctf = series(60, 10, (a) => 30000 + 8000 * a);
    ctf.tilts.forEach((t) => ((t.defocusV = t.defocusU - 3000), (t.astigmatismAngle = 0.4)));
    const plain = ctfModel(n, voxel, ctf);
    // Rz(90°) maps grid frequencies onto grid frequencies: Rᵀ(kx, ky, kz) = (ky, −kx, kz).
    const R = rotationZ(Math.PI / 2);
    const rotated = ctfModel(n, voxel, ctf, R);
    const index = (f: number) => ((f % n) + n) % n;
    for (let iz = 0; iz < n; iz++) {
      for (let iy = 0; iy < n; iy++) {
        for (let ix = 0; ix < n; ix++) {
          const [kx, ky] = [freqOf(ix, n), freqOf(iy, n)];
          if (Math.abs(kx) === n / 2 || Math.abs(ky) === n / 2) continue; // Nyquist: −n/2 has no +n/2 twin
          const expected = plain[index(ky) + n * (index(-kx) + n * iz)];
          expect(rotated[ix + n * (iy + n * iz)]).toBeCloseTo(expected, 5);
        }
      }
    }
  });

  it('sampled on the grid and rotated (rlnCtfImage volumes) follows the analytic rotation', () => {
    const ctf = series(60, 5, () => 15000);
    const plain = ctfModel(n, voxel, ctf);
    const quarter = rotationZ(Math.PI / 2);
    const exact = rotatedFourierVolume(plain, n, quarter);
    const analytic = ctfModel(n, voxel, ctf, quarter);
    let worst = 0;
    for (let i = 0; i < exact.length; i++) {
      const [x, y] = [i % n, Math.floor(i / n) % n];
      if (x === n / 2 || y === n / 2) continue; // Nyquist: −n/2 has no +n/2 twin
      worst = Math.max(worst, Math.abs(exact[i] - analytic[i]));
    }
    expect(worst).toBeLessThan(1e-5);
    // An off-grid rotation: trilinear interpolation blurs the wedge edge and the steps between tilt planes.
    // Measured: correlation 0.925 with the analytic model.
    const R = eulerToMatrix({ phi: 0.3, theta: 0.2, psi: -0.1 });
    const a = rotatedFourierVolume(plain, n, R);
    const b = ctfModel(n, voxel, ctf, R);
    let [ab, aa, bb] = [0, 0, 0];
    for (let i = 0; i < a.length; i++) [ab, aa, bb] = [ab + a[i] * b[i], aa + a[i] * a[i], bb + b[i] * b[i]];
    expect(ab / Math.sqrt(aa * bb)).toBeGreaterThan(0.91);
  });

  it('matches the explicit reconstruction of a point object (projection, CTF, weighted back-projection)', () => {
    const defocus = 40000;
    const stepDeg = 2;
    const angles = tiltAngles(symmetricTilt(60), radians(stepDeg));
    const sim = new TomographySimulator(n, voxel, angles, { ctf: { ...CTF_DEFAULTS, ...optics, defocusAngstrom: defocus }, mtf: false });
    const c = centreOf(n);
    const sigma = 0.8;
    const point = new Volume(n, voxel);
    for (let z = 0, i = 0; z < n; z++) {
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++, i++) point.data[i] = Math.exp(-((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2) / (2 * sigma * sigma));
      }
    }
    const projections = sim.project(point);
    sim.applyCtf(projections);
    const recon = sim.reconstruct(projections);
    for (let i = 0; i < recon.data.length; i++) recon.data[i] = -recon.data[i];
    const R = fft3(recon.data, n);
    const P = fft3(point.data, n);
    const model = ctfModel(n, voxel, series(60, stepDeg, () => defocus));
    // Transfer = recon / object per Fourier shell where the object has signal (|k| ≤ 0.35 cycles per voxel):
    // the model must have its shape (correlation) and, at low frequencies, its scale. Beyond, the linear
    // interpolation of projection and back-projection dims every particle alike (not the CTF's business).
    const shells = new Map<number, { tm: number; mm: number; tt: number }>();
    for (let z = 0, i = 0; z < n; z++) {
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++, i++) {
          const r = Math.round(Math.hypot(freqOf(x, n), freqOf(y, n), freqOf(z, n)));
          if (r === 0 || r > 0.35 * n || model[i] === 0) continue;
          const transfer = (R[2 * i] * P[2 * i] + R[2 * i + 1] * P[2 * i + 1]) / (P[2 * i] ** 2 + P[2 * i + 1] ** 2);
          const s = shells.get(r) ?? { tm: 0, mm: 0, tt: 0 };
          s.tm += transfer * model[i];
          s.mm += model[i] ** 2;
          s.tt += transfer ** 2;
          shells.set(r, s);
        }
      }
    }
    // Measured: correlation ≥ 0.983 in every shell, scale 0.983–0.989 in shells 1–3.
    for (const [r, s] of shells) {
      expect(s.tm / Math.sqrt(s.mm * s.tt), `shell ${r}`).toBeGreaterThan(0.98);
      if (r <= 3) expect(s.tm / s.mm, `shell ${r}`).toBeCloseTo(1, 1);
    }
  });
});
