import { beforeAll, describe, expect, it } from 'vitest';
import { AverageAccumulator } from '../core/average.ts';
import { constrainedCCC } from '../core/ccc.ts';
import { ctfModel } from '../core/ctf.ts';
import { fft3, ifft3Real } from '../core/fft.ts';
import { groelPhantom } from '../core/phantom.ts';
import { Rng } from '../core/random.ts';
import { type Mat3, eulerToMatrix, identity, multiply, poseFromMatrix, radians, rotationX, rotationY, rotationZ, transformVolume } from '../core/rotate.ts';
import type { Pose } from '../core/rotate.ts';
import { DatasetSimulator, TomographySimulator, densityModel, renderDensity, tiltAngles } from '../core/simulate.ts';
import type { SimulatedParticle, SimulationConfig } from '../core/simulate.ts';
import { poseErrorUnderSymmetry, symmetrise, symmetryOperators } from '../core/symmetry.ts';
import { Volume, freqOf } from '../core/volume.ts';
import { symmetricTilt, wedgeMask } from '../core/wedge.ts';
import { WEIGHT_FLOOR_FRACTION } from '../model/defaults.ts';
import type { ParticleCtf } from '../model/particles.ts';

// 32³ at 8 Å with a 16 Å density: the D7 phantom's features are resolved (so symmetry axes matter) and,
// with shifts up to 1 voxel, it stays inside the projected inscribed sphere. Noise-free, no CTF or MTF.
const N = 32;
const VOXEL = 8;
const TILT = symmetricTilt(60);
const PARTICLES = 24;
const config: SimulationConfig = {
  n: N,
  voxelSize: VOXEL,
  resolution: 16,
  tilt: TILT,
  tiltStep: radians(1),
  snr: Infinity,
  maxShift: 1,
  seed: 7,
  imaging: { ctf: null, mtf: false },
};
const model = densityModel(groelPhantom());

let reference: Volume;
let particles: SimulatedParticle[];
let average: Volume;

beforeAll(() => {
  const sim = new DatasetSimulator(model, config);
  reference = sim.reference();
  particles = Array.from({ length: PARTICLES }, (_, i) => sim.particle(i));
  average = averageOf(particles.map((p) => p.pose));
});

function averageOf(poses: Pose[]): Volume {
  const acc = new AverageAccumulator(N, VOXEL);
  particles.forEach((p, i) => acc.add(p.volume, poses[i], { tilt: TILT }));
  return acc.finish();
}

/** Fourier energy per shell round(|k|) (k ≠ 0) inside or outside the unrotated ±60° wedge's missing region. */
function shellEnergy(v: Volume, missing: boolean): Float64Array {
  const mask = wedgeMask(N, TILT);
  const spec = fft3(v.data, N);
  const energy = new Float64Array(N);
  for (let z = 0, i = 0; z < N; z++) {
    for (let y = 0; y < N; y++) {
      for (let x = 0; x < N; x++, i++) {
        if (i === 0 || (mask[i] === 0) !== missing) continue;
        const r = Math.round(Math.hypot(freqOf(x, N), freqOf(y, N), freqOf(z, N)));
        if (r < N / 2) energy[r] += spec[2 * i] ** 2 + spec[2 * i + 1] ** 2;
      }
    }
  }
  return energy;
}

/**
 * Energy of `v` in the missing region of an unrotated ±60° tilt series, as a fraction of the isotropic
 * reference's. Each shell is first rescaled by reference/v energy in the observed region of that shell:
 * that removes isotropic gains that have nothing to do with the wedge (the simulator's WBP scale, the
 * low-pass of trilinear interpolation when particles are rotated back).
 */
function wedgeFill(v: Volume): number {
  const missingV = shellEnergy(v, true);
  const observedV = shellEnergy(v, false);
  const missingRef = shellEnergy(reference, true);
  const observedRef = shellEnergy(reference, false);
  let filled = 0;
  let total = 0;
  for (let r = 1; r < N / 2; r++) {
    filled += (missingV[r] * observedRef[r]) / observedV[r];
    total += missingRef[r];
  }
  return filled / total;
}

describe('wedge-normalised averaging', () => {
  it(`of ${PARTICLES} noise-free ±60° particles in random poses fills the missing wedge (weight floor max(1, ${WEIGHT_FLOOR_FRACTION} × N), WEIGHT_FLOOR_FRACTION)`, () => {
    const fill = wedgeFill(average);
    expect(fill).toBeGreaterThan(0.5);
    // control: one particle in the reference orientation leaves the wedge (nearly) empty
    const still = new TomographySimulator(N, VOXEL, tiltAngles(TILT, config.tiltStep), config.imaging).simulate(
      renderDensity(model, config),
      Infinity,
      new Rng(1),
    );
    const acc = new AverageAccumulator(N, VOXEL);
    acc.add(still, { phi: 0, theta: 0, psi: 0, tx: 0, ty: 0, tz: 0 }, { tilt: TILT });
    const stillFill = wedgeFill(acc.finish());
    expect(stillFill).toBeLessThan(0.15);
    expect(constrainedCCC(average, reference)).toBeGreaterThan(0.97);
  });

  it('gives clear, distinct errors for a wrong box size, a wrong voxel size, no particles and no observed wedge', () => {
    const acc = new AverageAccumulator(N, VOXEL);
    const pose = particles[0].pose;
    expect(() => acc.add(new Volume(16, VOXEL), pose, { tilt: TILT })).toThrow('particle box 16³ does not match the average\'s 32³');
    expect(() => acc.add(new Volume(N, 6), pose, { tilt: TILT })).toThrow('particle voxel size 6 Å does not match the average\'s 8 Å');
    expect(() => acc.finish()).toThrow('cannot average zero particles');
    // add() always observes the tilt axis, so an empty wedge sum can only arrive as a partial sum from elsewhere
    // (e.g. an MPI rank's share): one whose weights are all zero is refused, not divided by the floor
    const share = new AverageAccumulator(N, VOXEL);
    share.count = 3;
    acc.merge(share);
    expect(() => acc.finish()).toThrow('all particle wedges are empty: no Fourier component was observed');
  });
});

describe('averaging a D7 structure', () => {
  it('symmetrising the D7 phantom with the declared D7 axes returns the phantom (CCC > 0.99)', () => {
    expect(constrainedCCC(symmetrise(reference, 'D7'), reference)).toBeGreaterThan(0.99);
  });

  it('gives an average that is D7-symmetric about the declared axes: symmetrising changes it by < 1%', () => {
    expect(constrainedCCC(symmetrise(average, 'D7'), average)).toBeGreaterThan(0.99);
  });

  it('scores 0 rotation error (< 1e-9) for each of the 14 D7-equivalent poses R·S, and averages them identically', () => {
    const d7 = symmetryOperators('D7');
    expect(d7).toHaveLength(14);
    for (const p of particles) {
      for (const S of d7) {
        const mate = poseFromMatrix(multiply(eulerToMatrix(p.pose), S), [p.pose.tx, p.pose.ty, p.pose.tz]);
        const err = poseErrorUnderSymmetry(mate, p.pose, 'D7');
        expect(err.rotationDeg).toBeLessThan(1e-9);
        expect(err.translationVoxels).toBe(0);
      }
    }
    // each particle given a different symmetry mate of its true pose: the same average, up to interpolation
    const mates = particles.map((p, i) =>
      poseFromMatrix(multiply(eulerToMatrix(p.pose), d7[(i * 5) % 14]), [p.pose.tx, p.pose.ty, p.pose.tz]),
    );
    expect(constrainedCCC(averageOf(mates), average)).toBeGreaterThan(0.99);
  });
});

describe('CTF-weighted (Wiener-type) averaging', () => {
  const optics = { voltageKv: 300, csMillimetre: 2.7, amplitudeContrast: 0.07 };
  const ctfAt = (defocus: number): ParticleCtf => ({
    optics,
    tilts: Array.from(tiltAngles(TILT, radians(3)), (angle) => ({ angle, defocusU: defocus, defocusV: defocus, astigmatismAngle: 0 })),
  });
  // Quarter turns move voxel centres onto voxel centres: no interpolation.
  const quarterTurns = [identity(), rotationZ(Math.PI / 2), rotationX(Math.PI / 2), rotationY(Math.PI / 2), rotationZ(Math.PI), rotationX(-Math.PI / 2)];

  /** Particles Λ_R ref carrying their CTF exactly: F⁻¹(M_i · F(Λ_R ref)). */
  function ctfParticles(ref: Volume, defoci: number[], turns: readonly Mat3[] = [identity()]): { volume: Volume; pose: Pose; ctf: ParticleCtf }[] {
    return defoci.map((defocus, i) => {
      const pose = poseFromMatrix(turns[i % turns.length], [0, 0, 0]);
      const ctf = ctfAt(defocus);
      const turned = transformVolume(ref, pose);
      const spec = fft3(turned.data, N);
      const m = ctfModel(N, VOXEL, ctf);
      for (let k = 0; k < m.length; k++) [spec[2 * k], spec[2 * k + 1]] = [spec[2 * k] * m[k], spec[2 * k + 1] * m[k]];
      return { volume: turned.withData(ifft3Real(spec, N)), pose, ctf };
    });
  }

  /** max |F(avg) − gain·F(ref)| / max |F(ref)|, gain = Σ M² / max(Σ M², floor); and the fraction of Fourier space restored. */
  function wienerError(turns: readonly Mat3[], defoci: number[]): { error: number; restored: number } {
    const data = ctfParticles(reference, defoci, turns);
    const acc = new AverageAccumulator(N, VOXEL);
    for (const p of data) acc.add(p.volume, p.pose, { tilt: TILT, ctf: p.ctf });
    const avg = fft3(acc.finish().data, N);
    const ref = fft3(reference.data, N);
    const floor = Math.max(1, WEIGHT_FLOOR_FRACTION * defoci.length);
    let worst = 0;
    let scale = 0;
    let restored = 0;
    for (let k = 0; k < N ** 3; k++) {
      scale = Math.max(scale, Math.hypot(ref[2 * k], ref[2 * k + 1]));
      // Where Σ M² is below the floor the estimate is damped by Σ M² / floor: the regulariser, by design.
      const gain = acc.weight[k] / Math.max(acc.weight[k], floor);
      if (gain === 1) restored++;
      worst = Math.max(worst, Math.hypot(avg[2 * k] - gain * ref[2 * k], avg[2 * k + 1] - gain * ref[2 * k + 1]));
    }
    return { error: worst / scale, restored: restored / N ** 3 };
  }

  it('of noise-free particles with different defoci equals the model wherever Σ M² reaches the floor', () => {
    const defoci = [20000, 30000, 40000, 50000, 60000, 70000];
    const same = wienerError([identity()], defoci);
    expect(same.error).toBeLessThan(1e-6);
    // The defocus spread fills the CTF zeros: most of Fourier space is restored exactly.
    expect(same.restored).toBeGreaterThan(0.5);
    // Quarter turns: the transfer is rotated with the particle. Measured 5e-3: the CTF-filtered particles
    // reach the box edge, and a quarter turn about the centre voxel moves one edge plane out of the box.
    expect(wienerError(quarterTurns, defoci).error).toBeLessThan(1e-2);
  });

  it('from sampled CTF volumes (rlnCtfImage) equals the per-tilt model: a transfer, or Σ CTF² of premultiplied data', () => {
    const defoci = [20000, 35000, 50000, 65000];
    const data = ctfParticles(reference, defoci);
    const averageOf = (add: (acc: AverageAccumulator, p: (typeof data)[number]) => void) => {
      const acc = new AverageAccumulator(N, VOXEL);
      for (const p of data) add(acc, p);
      return acc.finish().data;
    };
    const parametric = averageOf((acc, p) => acc.add(p.volume, p.pose, { tilt: TILT, ctf: p.ctf }));
    const sampled = averageOf((acc, p) => acc.add(p.volume, p.pose, { tilt: TILT, sampled: { kind: 'transfer', values: ctfModel(N, VOXEL, p.ctf) } }));
    // Premultiplied data (RELION 4/5 pseudo-subtomograms) are M·X = M²·S and come with W = M².
    const premultiplied = averageOf((acc, p) => {
      const m = ctfModel(N, VOXEL, p.ctf);
      const spec = fft3(p.volume.data, N);
      for (let k = 0; k < m.length; k++) [spec[2 * k], spec[2 * k + 1]] = [spec[2 * k] * m[k], spec[2 * k + 1] * m[k]];
      acc.add(p.volume.withData(ifft3Real(spec, N)), p.pose, { tilt: TILT, sampled: { kind: 'squared', values: m.map((x) => x * x) } });
    });
    const scale = Math.max(...parametric.map(Math.abs));
    for (const other of [sampled, premultiplied]) {
      let worst = 0;
      for (let i = 0; i < parametric.length; i++) worst = Math.max(worst, Math.abs(other[i] - parametric[i]));
      expect(worst / scale).toBeLessThan(1e-5);
    }
  });

  it('with one defocus cannot restore its CTF zeros; with the binary wedge it is the wedge-normalised mean', () => {
    const same = ctfParticles(reference, Array(6).fill(40000));
    const spread = ctfParticles(reference, [20000, 30000, 40000, 50000, 60000, 70000]);
    const restoredOf = (data: typeof same) => {
      const acc = new AverageAccumulator(N, VOXEL);
      for (const p of data) acc.add(p.volume, p.pose, { tilt: TILT, ctf: p.ctf });
      return acc.weight.filter((w) => w >= Math.max(1, WEIGHT_FLOOR_FRACTION * data.length)).length;
    };
    expect(restoredOf(same)).toBeLessThan(0.9 * restoredOf(spread));

    const wedge = new AverageAccumulator(N, VOXEL);
    const plain = new AverageAccumulator(N, VOXEL);
    for (const p of particles.slice(0, 4)) {
      wedge.add(p.volume, p.pose, { tilt: TILT });
      plain.add(p.volume, p.pose, { tilt: TILT });
    }
    expect(Array.from(wedge.finish().data)).toEqual(Array.from(plain.finish().data));
  });
});
