import { describe, expect, it } from 'vitest';
import {
  AlignmentReference,
  ParticleContext,
  type RefineJob,
  alignBoxFor,
  alignParticle,
  refineCandidate,
} from '../core/align.ts';
import { ConstrainedObjective } from '../core/alignobjective.ts';
import { EulerChart } from '../core/eulerchart.ts';
import { lowpass } from '../core/filters.ts';
import { Rng } from '../core/random.ts';
import { fourierCrop, fourierPad, resampleMask } from '../core/resample.ts';
import { type Mat3, randomRotation, rotationAngle, sampleTrilinear, transformVolumeByMatrix } from '../core/rotate.ts';
import { Volume } from '../core/volume.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { alignmentCase, poseErrors, rotateAway } from './helpers/alignment-case.ts';

const degrees = (R: ArrayLike<number>, S: ArrayLike<number>): number =>
  (rotationAngle(Float64Array.from(R), Float64Array.from(S)) * 180) / Math.PI;

describe('transformVolumeByMatrix onto a coarser grid', () => {
  it('reads the fine volume at s·(R⁻¹(x − c − t) + c), like sampling it point by point', () => {
    const rng = new Rng(1);
    const fine = new Volume(24);
    for (let i = 0; i < fine.data.length; i++) fine.data[i] = rng.gaussian();
    const R = randomRotation(rng);
    const t = [0.7, -1.3, 0.4];
    const coarse = transformVolumeByMatrix(fine, R, t, new Volume(8, 3));
    let worst = 0;
    for (let z = 0; z < 8; z++) for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
      const u = [x - 4 - t[0], y - 4 - t[1], z - 4 - t[2]];
      // Rᵀu, then back to fine voxels about the fine centre 12
      const p = [0, 1, 2].map((a) => 12 + 3 * (R[a] * u[0] + R[3 + a] * u[1] + R[6 + a] * u[2]));
      worst = Math.max(worst, Math.abs(coarse.get(x, y, z) - sampleTrilinear(fine.data, 24, p[0], p[1], p[2])));
    }
    expect(worst).toBeLessThan(1e-5);
    expect(() => transformVolumeByMatrix(fine, R, t, new Volume(10))).toThrow(/output volume is 10³ but the input is 24³/);
  });
});

describe('refinement objective with the reference on a 2× finer grid', () => {
  // A binned particle (16³) and its reference oversampled to 32³, as core/align.ts builds them.
  const wedge = symmetricTilt(50);
  const c = alignmentCase(32, 21, { wedge });
  const particle = fourierCrop(lowpass(c.particle, 6, 2), 16);
  const fineRef = fourierPad(fourierCrop(lowpass(c.reference, 6, 2), 16), 32);
  const mask = resampleMask(c.mask, 32, 16);
  const objective = new ConstrainedObjective(fineRef, particle, { mask, wedgeParticle: wedge });
  const chart = new EulerChart(c.startR);
  const pose = (d: number[]): { R: Mat3; dR: [Mat3, Mat3, Mat3] } => {
    const dR: [Mat3, Mat3, Mat3] = [new Float64Array(9), new Float64Array(9), new Float64Array(9)];
    return { R: chart.rotation(d[0], d[1], d[2], new Float64Array(9), dR), dR };
  };
  const angles = [0.02, -0.04, 0.03];
  const T = [c.trueT[0] / 2 - 0.2, c.trueT[1] / 2 + 0.15, c.trueT[2] / 2 - 0.1];
  const start = pose(angles);

  it('has slice gradients equal to central finite differences (shifts in particle voxels)', () => {
    objective.freeze(start.R, T);
    const grad = new Float64Array(6);
    const h = 1e-7;
    for (const i of [4, 8, 11]) {
      objective.sliceGradient(i, start.R, T, start.dR, grad);
      const scale = Math.max(...grad.map(Math.abs));
      expect(scale).toBeGreaterThan(0);
      for (let p = 0; p < 6; p++) {
        const a1 = angles.slice(), a2 = angles.slice(), t1 = T.slice(), t2 = T.slice();
        if (p < 3) { a1[p] += h; a2[p] -= h; } else { t1[p - 3] += h; t2[p - 3] -= h; }
        const fd = (objective.sliceValue(i, pose(a1).R, t1) - objective.sliceValue(i, pose(a2).R, t2)) / (2 * h);
        expect(Math.abs(grad[p] - fd)).toBeLessThan(1e-5 * scale + 1e-12);
      }
    }
  });

  it('anchors its loss to the literal constrained dissimilarity at the particle box', () => {
    const d = objective.freeze(start.R, T);
    expect(Math.abs(d - (2 - 2 * objective.exactCcc(start.R, T)))).toBeLessThan(1e-5);
  });
});

describe('alignment box', () => {
  it('is the smallest power of two ≥ 16 whose Nyquist lies beyond the signal, at most the box', () => {
    expect(alignBoxFor(64, 7.4)).toBe(16);
    expect(alignBoxFor(64, 8)).toBe(32);
    expect(alignBoxFor(64, 3)).toBe(16);
    expect(alignBoxFor(64, 20)).toBe(64);
    expect(alignBoxFor(48, 12)).toBe(32);
    expect(alignBoxFor(48, 16)).toBe(48);
    expect(() => alignBoxFor(64, 0)).toThrow(/low-pass shell must be a positive number/);
  });

  // Noise-free, wedged, both maps low-passed to shell 5 (edge 2: nothing beyond 6) of a 48³ box: the binned
  // box is 16³ (3 original voxels per voxel, the reference interpolated on a 32³ grid).
  const wedge = symmetricTilt(60);
  const c = alignmentCase(48, 31, { wedge, offsetDegrees: 8, shift: 3 });
  const reference = lowpass(c.reference, 5, 2);
  const particle = lowpass(c.particle, 5, 2);
  const settings = { method: 'sag' as const, maxShift: 6, mask: c.mask, wedgeParticle: wedge, seed: 2 };
  const job: RefineJob = { ...settings, reference, particle, candidate: { R: c.startR }, candidateIndex: 0 };

  it('recovers the pose found at full size, with shifts in original voxels', () => {
    const full = refineCandidate(job);
    const binned = refineCandidate({ ...job, lowpassShell: 6 });
    expect(full.alignBox).toBe(48);
    expect(binned.alignBox).toBe(16);
    const eFull = poseErrors(c, full.R, full.t);
    const eBinned = poseErrors(c, binned.R, binned.t);
    console.log(
      `48³ → 16³: full ${eFull.degrees.toFixed(2)}°/${eFull.voxels.toFixed(3)} vx in ${(1000 * full.seconds).toFixed(0)} ms, ` +
        `binned ${eBinned.degrees.toFixed(2)}°/${eBinned.voxels.toFixed(3)} vx in ${(1000 * binned.seconds).toFixed(0)} ms, ` +
        `apart ${degrees(full.R, binned.R).toFixed(2)}°`,
    );
    expect(eFull.degrees).toBeLessThan(1);
    expect(eBinned.degrees).toBeLessThan(1);
    expect(degrees(full.R, binned.R)).toBeLessThan(1);
    expect(eBinned.voxels).toBeLessThan(0.3);
    expect(Math.hypot(...full.t.map((t, k) => t - binned.t[k]))).toBeLessThan(0.3);
    // the start shift is reported in original voxels too
    expect(Math.hypot(...binned.start.t.map((t, k) => t - c.trueT[k]))).toBeLessThan(1.5);
    expect(binned.pose.tx).toBe(binned.t[0]);
  });

  it('gives the same results from a shared prepared reference as from the volume and box', () => {
    const shared = new AlignmentReference(reference, 16);
    const candidates = [{ R: c.startR }, { R: rotateAway(c.trueR, 170, new Rng(5)) }];
    const fromShared = alignParticle(shared, particle, { ...settings, candidates });
    const fromVolume = alignParticle(reference, particle, { ...settings, alignBox: 16, candidates });
    expect(fromShared.perCandidate.map((r) => r.R)).toEqual(fromVolume.perCandidate.map((r) => r.R));
    expect(fromShared.perCandidate.map((r) => r.t)).toEqual(fromVolume.perCandidate.map((r) => r.t));
    expect(fromShared.best!.candidateIndex).toBe(0);
    const context = new ParticleContext(shared, particle, settings);
    expect([context.box, context.scale, context.particle.n]).toEqual([16, 3, 16]);
    expect(context.particle.voxelSize).toBeCloseTo(3 * particle.voxelSize, 12);
  });

  it('names a bad box', () => {
    expect(() => refineCandidate({ ...job, alignBox: 15 })).toThrow(/alignment box must be an even number of voxels from 2 to the box size 48, got 15/);
    expect(() => refineCandidate({ ...job, alignBox: 64 })).toThrow(/got 64/);
    const shared = new AlignmentReference(reference, 16);
    expect(() => new ParticleContext(shared, particle, { alignBox: 24 })).toThrow(/alignment box 24 differs from the prepared reference's box 16/);
    const context = new ParticleContext(shared, particle, {});
    expect(() => refineCandidate({ ...job, alignBox: 48 }, context)).toThrow(/asks for alignment box 48 but its particle context aligns at 16/);
  });
});
