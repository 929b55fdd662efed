import { describe, expect, it } from 'vitest';
import { fitGlobalFrame } from '../core/frame.ts';
import { Rng } from '../core/random.ts';
import { type Mat3, degrees, matrixToQuaternion, multiply, quaternionToMatrix, randomRotation, rotationAngle, transpose } from '../core/rotate.ts';
import { parseSymmetry } from '../core/symmetry.ts';

/** A rotation by exactly `deg` degrees about a random axis. */
function perturbation(rng: Rng, deg: number): Mat3 {
  const axis = [rng.gaussian(), rng.gaussian(), rng.gaussian()];
  const norm = Math.hypot(...axis);
  const half = (deg * Math.PI) / 360;
  return quaternionToMatrix([Math.cos(half), ...axis.map((a) => (Math.sin(half) * a) / norm)]);
}

describe('matrixToQuaternion', () => {
  it('inverts quaternionToMatrix for random rotations, including angles near π', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 200; i++) {
      const R = i % 4 === 0 ? perturbation(rng, 179.9) : randomRotation(rng);
      const back = quaternionToMatrix(matrixToQuaternion(R));
      expect(rotationAngle(R, back)).toBeLessThan(1e-12);
      expect(matrixToQuaternion(R)[0]).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('fitGlobalFrame', () => {
  const d7 = parseSymmetry('D7');

  it('recovers the global rotation and each particle error under D7, ignoring outliers', () => {
    const rng = new Rng(11);
    const G = randomRotation(rng);
    const truths: Mat3[] = [];
    const estimates: Mat3[] = [];
    const planted: number[] = [];
    for (let i = 0; i < 30; i++) {
      const Rtrue = randomRotation(rng);
      const S = d7.operators[Math.floor(rng.uniform() * d7.operators.length)];
      const outlier = i % 10 === 9;
      const err = outlier ? 0 : 0.5 + 4 * rng.uniform();
      // R_est = R_true·S·G⁻¹ perturbed by exactly `err` degrees (on the left, so the error is err in any frame).
      const exact = multiply(Rtrue, multiply(S, transpose(G)));
      estimates.push(outlier ? randomRotation(rng) : multiply(perturbation(rng, err), exact));
      truths.push(Rtrue);
      planted.push(outlier ? NaN : err);
    }
    const fit = fitGlobalFrame(estimates, truths, d7);
    expect(fit.inliers).toBe(27);
    // G is found up to the symmetry (G·S is as good a frame as G).
    const frameError = Math.min(...d7.operators.map((S) => degrees(rotationAngle(fit.frame, multiply(G, S)))));
    expect(frameError).toBeLessThan(1.5);
    planted.forEach((err, i) => {
      if (Number.isNaN(err)) expect(fit.errorsDeg[i]).toBeGreaterThan(5);
      else expect(Math.abs(fit.errorsDeg[i] - err)).toBeLessThan(frameError + 1e-6);
    });
  });

  it('gives zero errors for an exact alignment in a rotated frame', () => {
    const rng = new Rng(5);
    const G = randomRotation(rng);
    const truths = Array.from({ length: 8 }, () => randomRotation(rng));
    const fit = fitGlobalFrame(truths.map((R) => multiply(R, transpose(G))), truths, 'C1');
    expect(Math.max(...fit.errorsDeg)).toBeLessThan(1e-6);
    expect(degrees(rotationAngle(fit.frame, G))).toBeLessThan(1e-6);
  });
});
