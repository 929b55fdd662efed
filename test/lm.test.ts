import { describe, expect, it } from 'vitest';
import { ConstrainedObjective } from '../core/alignobjective.ts';
import { ftm } from '../core/ftm.ts';
import { refineLm } from '../core/lm.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { alignmentCase, poseErrors } from './helpers/alignment-case.ts';

const N = 32;

describe("Xu's Levenberg–Marquardt refinement", () => {
  // Bounds: 3× the worst case measured when they were set (0.050°/0.0033 voxel from 10°, 0.033°/0.0017 wedged,
  // 0.053°/0.0028 from the truth itself).
  it('recovers random poses from 10° away (noise free, full tilt) to < 0.15° and < 0.01 voxel', () => {
    const errors: string[] = [];
    for (let k = 0; k < 5; k++) {
      const c = alignmentCase(N, 40 + k, { offsetDegrees: 10 });
      const t = ftm(c.reference, c.particle, c.startR, { maxShift: 6 }).t;
      const objective = new ConstrainedObjective(c.reference, c.particle, { mask: c.mask });
      const r = refineLm(objective, { R: c.startR, t });
      const e = poseErrors(c, r.R, r.t);
      errors.push(`${e.degrees.toFixed(3)}°/${e.voxels.toFixed(3)} vx in ${r.iterations} it, ${r.evaluations.toFixed(0)} passes`);
      expect(e.degrees).toBeLessThan(0.15);
      expect(e.voxels).toBeLessThan(0.01);
      expect(r.capped).toBe(false);
      expect(r.ccc).toBeGreaterThan(0.99);
      // only descent steps are accepted, and without wedges every d in the trace is literal
      for (let i = 1; i < r.lossTrace.length; i++) expect(r.lossTrace[i]).toBeLessThan(r.lossTrace[i - 1]);
      expect(r.dissimilarity).toBeCloseTo(r.lossTrace[r.lossTrace.length - 1], 5);
    }
    console.log(`LM ${N}³ from 10°: ${errors.join('; ')}`);
  });

  it('recovers a pose of a wedged (±60°) particle to < 0.1° and < 0.006 voxel', () => {
    const wedge = symmetricTilt(60);
    const c = alignmentCase(N, 50, { offsetDegrees: 10, wedge });
    const t = ftm(c.reference, c.particle, c.startR, { maxShift: 6, wedgeParticle: wedge }).t;
    const r = refineLm(new ConstrainedObjective(c.reference, c.particle, { mask: c.mask, wedgeParticle: wedge }), { R: c.startR, t });
    const e = poseErrors(c, r.R, r.t);
    expect(e.degrees).toBeLessThan(0.1);
    expect(e.voxels).toBeLessThan(0.006);
  });

  it('stays at the true pose', () => {
    const c = alignmentCase(N, 51);
    const r = refineLm(new ConstrainedObjective(c.reference, c.particle, { mask: c.mask }), { R: c.trueR, t: c.trueT });
    const e = poseErrors(c, r.R, r.t);
    expect(e.degrees).toBeLessThan(0.16);
    expect(e.voxels).toBeLessThan(0.009);
  });

  it('rejects bad options with a readable message', () => {
    const c = alignmentCase(24, 52);
    const objective = new ConstrainedObjective(c.reference, c.particle, { mask: c.mask });
    expect(() => refineLm(objective, { R: c.startR, t: [0, 0, 0] }, { lambda: 0 })).toThrow(/λ/);
    expect(() => refineLm(objective, { R: c.startR, t: [0, 0, 0] }, { maxIterations: 1.5 })).toThrow(/maxIterations/);
  });
});
