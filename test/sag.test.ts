import { describe, expect, it } from 'vitest';
import { ConstrainedObjective } from '../core/alignobjective.ts';
import { EulerChart } from '../core/eulerchart.ts';
import { Rng } from '../core/random.ts';
import type { Mat3 } from '../core/rotate.ts';
import { type SagResult, defaultBatchSize, refineSag } from '../core/sag.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { alignmentCase, poseErrors, rotateAway } from './helpers/alignment-case.ts';

const N = 32;

/** Rotation (and its chart derivatives) at chart offsets d, in fresh arrays. */
function chartPose(chart: EulerChart, d: ArrayLike<number>): { R: Mat3; dR: [Mat3, Mat3, Mat3] } {
  const dR: [Mat3, Mat3, Mat3] = [new Float64Array(9), new Float64Array(9), new Float64Array(9)];
  const R = chart.rotation(d[0], d[1], d[2], new Float64Array(9), dR);
  return { R, dR };
}

/** Central finite difference of `value(β)` in parameter p of β = (chart angles, T). */
function centralDifference(value: (angles: number[], T: number[]) => number, angles: number[], T: number[], p: number, h: number): number {
  const a1 = angles.slice(), a2 = angles.slice(), t1 = T.slice(), t2 = T.slice();
  if (p < 3) {
    a1[p] += h;
    a2[p] -= h;
  } else {
    t1[p - 3] += h;
    t2[p - 3] -= h;
  }
  return (value(a1, t1) - value(a2, t2)) / (2 * h);
}

describe('SAG objective: analytic gradients', () => {
  // A wedge makes the literal-minus-fast correction C non-zero, so the test covers it too.
  const c = alignmentCase(N, 11, { wedge: symmetricTilt(50) });
  const objective = new ConstrainedObjective(c.reference, c.particle, { mask: c.mask, wedgeParticle: symmetricTilt(50) });
  const chart = new EulerChart(c.startR);
  const angles = [0.03, -0.05, 0.02];
  const T = [c.trueT[0] - 0.4, c.trueT[1] + 0.3, c.trueT[2] - 0.2];
  const start = chartPose(chart, angles);
  objective.freeze(start.R, T);
  // Small enough that almost no sample crosses a trilinear cell face (where the interpolant has a kink).
  const h = 1e-7;

  it('matches central finite differences per slice for all six parameters', () => {
    const grad = new Float64Array(6);
    let checked = 0;
    for (const i of [6, 11, 16, 19, 25]) {
      const value = objective.sliceGradient(i, start.R, T, start.dR, grad);
      expect(value).toBeCloseTo(objective.sliceValue(i, start.R, T), 14);
      const sliceValue = (a: number[], t: number[]): number => objective.sliceValue(i, chartPose(chart, a).R, t);
      const scale = Math.max(...grad.map(Math.abs));
      expect(scale).toBeGreaterThan(0);
      for (let p = 0; p < 6; p++) {
        const fd = centralDifference(sliceValue, angles, T, p, h);
        expect(Math.abs(grad[p] - fd)).toBeLessThan(1e-5 * scale + 1e-12);
        checked++;
      }
    }
    expect(checked).toBe(30);
  });

  it('sums to the full gradient, which matches finite differences of the full loss', () => {
    const grad = new Float64Array(6);
    const total = new Float64Array(6);
    for (let i = 0; i < N; i++) {
      objective.sliceGradient(i, start.R, T, start.dR, grad);
      for (let p = 0; p < 6; p++) total[p] += grad[p] / N;
    }
    const fullLoss = (a: number[], t: number[]): number => {
      const R = chartPose(chart, a).R;
      let s = 0;
      for (let i = 0; i < N; i++) s += objective.sliceValue(i, R, t);
      return s / N;
    };
    const scale = Math.max(...total.map(Math.abs));
    for (let p = 0; p < 6; p++) {
      expect(Math.abs(total[p] - centralDifference(fullLoss, angles, T, p, h))).toBeLessThan(1e-5 * scale);
    }
  });

  it('anchors the full loss to the literal constrained dissimilarity of core/ccc', () => {
    const d = objective.freeze(start.R, T);
    expect(Math.abs(d - (2 - 2 * objective.exactCcc(start.R, T)))).toBeLessThan(1e-5);
    // (1/n)·Σ J_i at the frozen pose is the paper's J = d/(2n)
    let s = 0;
    for (let i = 0; i < N; i++) s += objective.sliceValue(i, start.R, T);
    expect(s / N).toBeCloseTo(objective.lossOfDissimilarity(d), 12);
  });
});

describe('SAG objective: history', () => {
  it('start() rebuilds the rotation-dependent filters, so an earlier refinement leaves no trace', () => {
    const wedge = symmetricTilt(60);
    const c = alignmentCase(24, 12, { wedge });
    const T = [0.5, -0.5, 1];
    const Rb = c.startR;
    // 0.3° is below the objective's rebuild threshold: freeze() alone would keep the filters of Ra
    const Ra = rotateAway(Rb, 0.3, new Rng(13));
    const dR = chartPose(new EulerChart(Rb), [0, 0, 0]).dR;
    const fresh = new ConstrainedObjective(c.reference, c.particle, { mask: c.mask, wedgeParticle: wedge });
    const used = new ConstrainedObjective(c.reference, c.particle, { mask: c.mask, wedgeParticle: wedge });
    used.start(Ra, T);
    expect(used.start(Rb, T)).toBe(fresh.start(Rb, T));
    const a = new Float64Array(6);
    const b = new Float64Array(6);
    for (const i of [8, 12, 16]) {
      expect(used.sliceGradient(i, Rb, T, dR, a)).toBe(fresh.sliceGradient(i, Rb, T, dR, b));
      expect(a).toEqual(b);
    }
  });
});

describe('SAG refinement', () => {
  it('decreases the loss (mean over 10 noisy, wedged particles and seeds)', () => {
    const ratios: number[] = [];
    for (let k = 0; k < 10; k++) {
      const c = alignmentCase(24, 100 + k, { wedge: symmetricTilt(60), noise: 1, offsetDegrees: 8 });
      const objective = new ConstrainedObjective(c.reference, c.particle, { mask: c.mask, wedgeParticle: symmetricTilt(60) });
      const r = refineSag(objective, { R: c.startR, t: [0, 0, 0] }, { seed: k, maxEpochs: 15 });
      const first = r.lossTrace[0];
      const best = Math.min(...r.lossTrace);
      expect(best).toBeLessThan(first);
      // the returned pose is the best one seen, and its exact score agrees with the trace
      expect(Math.abs(r.dissimilarity / (2 * 24) - best)).toBeLessThan(1e-6);
      ratios.push(best / first);
    }
    const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
    console.log(`SAG loss after/before, 10 noisy ±60° particles at 24³: mean ${mean.toFixed(3)} (${ratios.map((r) => r.toFixed(3)).join(', ')})`);
    expect(mean).toBeLessThan(0.9);
  });

  it('is deterministic for a seed', () => {
    const c = alignmentCase(24, 7);
    const run = (): SagResult =>
      refineSag(new ConstrainedObjective(c.reference, c.particle, { mask: c.mask }), { R: c.startR, t: [0, 0, 0] }, { seed: 3, maxEpochs: 5 });
    const a = run();
    const b = run();
    expect(a.R).toEqual(b.R);
    expect(a.t).toEqual(b.t);
    expect(a.lossTrace).toEqual(b.lossTrace);
  });

  it('Algorithm 2 (mini-batches) reaches the same loss with fewer evaluations than Algorithm 1', () => {
    // Noisy (σ_noise = σ_signal) particles with a ±60° wedge. Target: 1 % of the way from the start loss to
    // the best loss either algorithm reaches. Cost: full passes over the masked voxels (deterministic)
    // and milliseconds at the first epoch at or below the target; a run that never gets there is charged
    // everything it spent (a lower bound on its cost).
    const wedge = symmetricTilt(60);
    const cost = { 1: { evaluations: 0, ms: 0, missed: 0 }, 2: { evaluations: 0, ms: 0, missed: 0 } };
    const lines: string[] = [];
    const problems = 8;
    for (let k = 0; k < problems; k++) {
      const c = alignmentCase(N, 300 + k, { offsetDegrees: 8, wedge, noise: 1 });
      const results = ([1, 2] as const).map((algorithm) =>
        refineSag(
          new ConstrainedObjective(c.reference, c.particle, { mask: c.mask, wedgeParticle: wedge }),
          { R: c.startR, t: [0, 0, 0] },
          { algorithm, seed: k, maxEpochs: 40, tolerance: 0 },
        ),
      );
      const floor = Math.min(...results.map((r) => Math.min(...r.lossTrace)));
      const target = floor + 0.01 * (results[0].lossTrace[0] - floor);
      const spent = results.map((r) => {
        const i = r.lossTrace.findIndex((l) => l <= target);
        const at = i >= 0 ? i : r.lossTrace.length - 1;
        return { evaluations: r.evaluationTrace[at], ms: r.timeTrace[at], missed: i < 0 ? 1 : 0 };
      });
      ([1, 2] as const).forEach((algorithm, j) => {
        cost[algorithm].evaluations += spent[j].evaluations / problems;
        cost[algorithm].ms += spent[j].ms / problems;
        cost[algorithm].missed += spent[j].missed;
      });
      lines.push(
        `  case ${k}: Alg 1 ${spent[0].evaluations.toFixed(1)} passes${spent[0].missed ? ' (missed)' : ''}, ` +
          `Alg 2 ${spent[1].evaluations.toFixed(1)} passes${spent[1].missed ? ' (missed)' : ''}`,
      );
    }
    console.log(
      `SAG ${N}³, ±60° wedge, noise σ = signal σ: mean cost to reach the target (Alg 2 batch ${defaultBatchSize(N)})\n` +
        `  Algorithm 1: ${cost[1].evaluations.toFixed(1)} passes, ${cost[1].ms.toFixed(1)} ms, missed ${cost[1].missed}/${problems}\n` +
        `  Algorithm 2: ${cost[2].evaluations.toFixed(1)} passes, ${cost[2].ms.toFixed(1)} ms, missed ${cost[2].missed}/${problems}\n` +
        lines.join('\n'),
    );
    expect(cost[2].evaluations).toBeLessThan(cost[1].evaluations);
  });

  it('rejects bad options with a readable message', () => {
    const c = alignmentCase(24, 1);
    const objective = new ConstrainedObjective(c.reference, c.particle, { mask: c.mask });
    const start = { R: c.startR, t: [0, 0, 0] };
    expect(() => refineSag(objective, start, { batchSize: 25 })).toThrow(/mini-batch size/);
    expect(() => refineSag(objective, start, { angleScale: 0 })).toThrow(/angle scale/);
  });
});

describe('Euler chart', () => {
  it('is centred on the candidate rotation', () => {
    const R0 = alignmentCase(24, 2).startR;
    const R = chartPose(new EulerChart(R0), [0, 0, 0]).R;
    for (let i = 0; i < 9; i++) expect(R[i]).toBeCloseTo(R0[i], 14);
  });

  it('has derivatives matching finite differences', () => {
    const chart = new EulerChart(alignmentCase(24, 3).startR);
    const rng = new Rng(4);
    const d = [rng.range(-1, 1), rng.range(-1, 1), rng.range(-1, 1)];
    const { dR } = chartPose(chart, d);
    for (let p = 0; p < 3; p++) {
      const plus = d.slice(), minus = d.slice();
      plus[p] += 1e-6;
      minus[p] -= 1e-6;
      const Rp = chartPose(chart, plus).R, Rm = chartPose(chart, minus).R;
      for (let i = 0; i < 9; i++) expect(dR[p][i]).toBeCloseTo((Rp[i] - Rm[i]) / 2e-6, 8);
    }
  });
});
