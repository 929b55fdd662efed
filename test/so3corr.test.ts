import { describe, expect, it } from 'vitest';
import { Rng } from '../core/random.ts';
import { type Euler, applyMat, eulerToMatrix, randomRotation, rotationAngle, transpose, type Mat3 } from '../core/rotate.ts';
import {
  CrossPower,
  findRotationPeaks,
  gridEuler,
  so3Correlation,
  so3CorrelationPair,
  so3Step,
} from '../core/so3corr.ts';
import { forwardSHTReal, shIndex, sphereGrid, wignerDHalfPi } from '../core/sphharm.ts';
import { synthesizeAt, wignerDExplicit } from './helpers/sphere-reference.ts';

function randomComplexCoefficients(B: number, rng: Rng): Float64Array {
  const c = new Float64Array(2 * B * B);
  for (let i = 0; i < c.length; i++) c[i] = rng.gaussian();
  return c;
}

/** Real band-limited function: f_{l,−m} = (−1)^m conj f_lm, amplitude ∝ 1/(1 + l/4). */
function randomRealCoefficients(B: number, rng: Rng): Float64Array {
  const c = new Float64Array(2 * B * B);
  for (let l = 0; l < B; l++) {
    const a = 1 / (1 + l / 4);
    c[2 * shIndex(l, 0)] = a * rng.gaussian();
    for (let m = 1; m <= l; m++) {
      const re = a * rng.gaussian();
      const im = a * rng.gaussian();
      const sign = m % 2 === 0 ? 1 : -1;
      c[2 * shIndex(l, m)] = re;
      c[2 * shIndex(l, m) + 1] = im;
      c[2 * shIndex(l, -m)] = sign * re;
      c[2 * shIndex(l, -m) + 1] = -sign * im;
    }
  }
  return c;
}

/** Samples of g(x) = f(Rᵀx) = (Λ_R f)(x) on the sphere grid, by direct synthesis at the rotated points. */
function sampleRotated(coeffs: Float64Array, B: number, R: Mat3): Float64Array {
  const grid = sphereGrid(B);
  const Rt = transpose(R);
  const out = new Float64Array(grid.size * grid.size);
  const y = new Float64Array(3);
  for (let i = 0; i < out.length; i++) {
    applyMat(Rt, grid.directions.subarray(3 * i, 3 * i + 3), y);
    const theta = Math.acos(Math.max(-1, Math.min(1, y[2])));
    out[i] = synthesizeAt(coeffs, B, theta, Math.atan2(y[1], y[0]))[0];
  }
  return out;
}

/** Σ_l Σ_mn conj(g_lm) f_ln D^l_mn(R) with D from the explicit Wigner sum. */
function directCorrelation(f: Float64Array, g: Float64Array, B: number, e: Euler): number {
  let re = 0;
  for (let l = 0; l < B; l++) {
    for (let m = -l; m <= l; m++) {
      const gr = g[2 * shIndex(l, m)], gi = -g[2 * shIndex(l, m) + 1];
      for (let n = -l; n <= l; n++) {
        const fr = f[2 * shIndex(l, n)], fi = f[2 * shIndex(l, n) + 1];
        const d = wignerDExplicit(l, m, n, e.theta);
        const ang = -m * e.phi - n * e.psi;
        const pr = gr * fr - gi * fi, pi = gr * fi + gi * fr;
        re += d * (pr * Math.cos(ang) - pi * Math.sin(ang));
      }
    }
  }
  return re;
}

describe('Kovacs–Wriggers factorisation', () => {
  it('d^l_mn(β) = i^{n−m} Σ_h Δ_mh Δ_nh e^{−ihβ} with Δ = d(π/2)', () => {
    const rng = new Rng(2);
    let worst = 0;
    for (let l = 0; l <= 10; l++) {
      const D = wignerDHalfPi(l);
      const w = 2 * l + 1;
      const beta = rng.range(0, 2 * Math.PI);
      for (let m = -l; m <= l; m++) {
        for (let n = -l; n <= l; n++) {
          let re = 0, im = 0;
          for (let h = -l; h <= l; h++) {
            const p = D[(m + l) * w + h + l] * D[(n + l) * w + h + l];
            re += p * Math.cos(h * beta);
            im -= p * Math.sin(h * beta);
          }
          const q = (((n - m) % 4) + 4) % 4; // multiply by i^q
          const [r2, i2] = q === 0 ? [re, im] : q === 1 ? [-im, re] : q === 2 ? [-re, -im] : [im, -re];
          worst = Math.max(worst, Math.abs(r2 - wignerDExplicit(l, m, n, beta)), Math.abs(i2));
        }
      }
    }
    expect(worst).toBeLessThan(1e-12);
  });
});

describe('SO(3) correlation grid', () => {
  const B = 5;
  const N = 2 * B;
  const rng = new Rng(8);
  const f = randomComplexCoefficients(B, rng);
  const g = randomComplexCoefficients(B, rng);
  const power = new CrossPower(B);
  power.accumulate(f, g, 1);

  it('equals the direct sum Σ conj(g_lm) f_ln D^l_mn at grid Euler angles, θ over the full circle', () => {
    // With complex f, g, C is complex; the real-part check covers every term's phase.
    const grid = so3Correlation(power);
    const s = so3Step(B);
    for (const [j, k, p] of [[0, 0, 0], [1, 2, 3], [7, 5, 2], [3, 8, 9], [9, 9, 4], [4, 1, 0]]) {
      const direct = directCorrelation(f, g, B, { phi: j * s, theta: k * s, psi: p * s });
      expect(grid[k + N * (j + N * p)]).toBeCloseTo(direct, 9);
    }
  });

  it('weights and sums shells linearly, and pairs two correlations in one FFT', () => {
    const f2 = randomComplexCoefficients(B, rng);
    const g2 = randomComplexCoefficients(B, rng);
    const two = new CrossPower(B);
    two.accumulate(f, g, 4);
    two.accumulate(f2, g2, 9);
    const single2 = new CrossPower(B);
    single2.accumulate(f2, g2, 1);
    const c1 = so3Correlation(power);
    const c2 = so3Correlation(single2);
    const sum = so3Correlation(two);
    for (let i = 0; i < sum.length; i += 37) expect(sum[i]).toBeCloseTo(4 * c1[i] + 9 * c2[i], 9);
    // Pairing is exact for real correlations: use real functions.
    const fr = randomRealCoefficients(B, rng), gr = randomRealCoefficients(B, rng);
    const hr = randomRealCoefficients(B, rng);
    const pa = new CrossPower(B), pb = new CrossPower(B);
    pa.accumulate(fr, gr, 1);
    pb.accumulate(hr, gr, 1);
    const [ca, cb] = so3CorrelationPair(pa, pb);
    const sa = so3Correlation(pa), sb = so3Correlation(pb);
    for (let i = 0; i < ca.length; i++) {
      expect(ca[i]).toBeCloseTo(sa[i], 10);
      expect(cb[i]).toBeCloseTo(sb[i], 10);
    }
  });

  it('is the same at the two grid points of each rotation (double cover in θ)', () => {
    const fr = randomRealCoefficients(B, rng), gr = randomRealCoefficients(B, rng);
    const pr = new CrossPower(B);
    pr.accumulate(fr, gr, 1);
    const c = so3Correlation(pr);
    for (let p = 0; p < N; p++) {
      for (let j = 0; j < N; j++) {
        for (let k = 1; k < N; k++) {
          const twin = N - k + N * ((j + B) % N + N * ((p + B) % N));
          expect(Math.abs(c[k + N * (j + N * p)] - c[twin])).toBeLessThan(1e-10);
        }
      }
    }
  });

  it('maps grid indices to Euler angles of the same rotation on both covers', () => {
    const s = so3Step(B);
    for (const [j, k, p] of [[1, 2, 3], [7, 7, 2], [0, 9, 9], [3, 5, 6]]) {
      const e = gridEuler(B, j, k, p);
      expect(e.theta).toBeGreaterThanOrEqual(0);
      expect(e.theta).toBeLessThanOrEqual(Math.PI + 1e-12);
      const raw = eulerToMatrix({ phi: j * s, theta: k * s, psi: p * s });
      expect(rotationAngle(eulerToMatrix(e), raw)).toBeLessThan(1e-12);
    }
  });

  it('rejects mismatched coefficient arrays', () => {
    expect(() => new CrossPower(B).accumulate(new Float64Array(3), g, 1)).toThrow(/bandwidth 5/);
  });
});

describe('rotation recovery', () => {
  const B = 16;
  const step = so3Step(B);
  const rng = new Rng(2024);
  const f = randomRealCoefficients(B, rng);
  const fSamples = sampleRotated(f, B, eulerToMatrix({ phi: 0, theta: 0, psi: 0 }));
  const fCoeffs = forwardSHTReal(fSamples, B);

  const rotations: Mat3[] = [
    randomRotation(rng),
    randomRotation(rng),
    randomRotation(rng),
    eulerToMatrix({ phi: 0.7, theta: 0.03, psi: -1.9 }),
    eulerToMatrix({ phi: -2.2, theta: Math.PI - 0.05, psi: 0.4 }),
    eulerToMatrix({ phi: 1.0, theta: Math.PI, psi: 0.2 }),
    eulerToMatrix({ phi: 0.31, theta: 0, psi: 0.1 }),
  ];

  it.each(rotations.map((R, i) => [i, R] as const))('recovers rotation %i within one angular step', (_i, R) => {
    const gCoeffs = forwardSHTReal(sampleRotated(f, B, R), B);
    const power = new CrossPower(B);
    power.accumulate(fCoeffs, gCoeffs, 1);
    const grid = so3Correlation(power);
    const peaks = findRotationPeaks(grid, B, { topN: 5 });
    const err = rotationAngle(peaks[0].R, R);
    expect(err).toBeLessThan(step);
    // At the true rotation C = ∫ g² = Σ|f_lm|²; the grid peak is close to it and above every other peak.
    let energy = 0;
    for (let i = 0; i < f.length; i++) energy += f[i] * f[i];
    expect(peaks[0].value).toBeLessThanOrEqual(energy * (1 + 1e-9));
    expect(peaks[0].value).toBeGreaterThan(0.5 * energy);
    for (const q of peaks.slice(1)) expect(q.value).toBeLessThanOrEqual(peaks[0].value);
  });

  it('recovers the rotation from two shells weighted r²', () => {
    const f2 = randomRealCoefficients(B, rng);
    const R = randomRotation(rng);
    const power = new CrossPower(B);
    power.accumulate(fCoeffs, forwardSHTReal(sampleRotated(f, B, R), B), 1);
    power.accumulate(f2, forwardSHTReal(sampleRotated(f2, B, R), B), 4);
    const peaks = findRotationPeaks(so3Correlation(power), B, { topN: 1 });
    expect(peaks).toHaveLength(1);
    expect(rotationAngle(peaks[0].R, R)).toBeLessThan(step);
  });
});

describe('peak picking', () => {
  it('finds separated bumps in order, drops near-duplicates, wraps across θ = 0', () => {
    const B = 8;
    const N = 2 * B;
    const grid = new Float64Array(N * N * N);
    const bumps: [number, number, number, number][] = [
      [3, 4, 5, 5], // j, k, p, height
      [10, 0, 2, 3], // on θ = 0: its twins (j + p = 12) are equal and must collapse to one peak
      [12, 8, 1, 4], // θ = π
    ];
    for (const [j, k, p, h] of bumps) {
      grid[k + N * (j + N * p)] = h;
      if (k === 0) {
        for (let jj = 0; jj < N; jj++) grid[N * (jj + N * ((12 - jj + N) % N))] = h;
      }
    }
    const peaks = findRotationPeaks(grid, B, { topN: 10 });
    expect(peaks.map((q) => q.value).slice(0, 3)).toEqual([5, 4, 3]);
    const s = so3Step(B);
    expect(rotationAngle(peaks[0].R, eulerToMatrix({ phi: 3 * s, theta: 4 * s, psi: 5 * s }))).toBeLessThan(1e-12);
    expect(rotationAngle(peaks[2].R, eulerToMatrix({ phi: 10 * s, theta: 0, psi: 2 * s }))).toBeLessThan(1e-12);
    // Remaining maxima are the flat zero background, each at least 2 steps from every other peak.
    for (let a = 0; a < peaks.length; a++) {
      for (let b = a + 1; b < peaks.length; b++) expect(rotationAngle(peaks[a].R, peaks[b].R)).toBeGreaterThanOrEqual(2 * s - 1e-12);
    }
    expect(peaks.filter((q) => q.value === 3)).toHaveLength(1);
    expect(() => findRotationPeaks(grid, B, { topN: 0 })).toThrow(/positive integer/);
    expect(() => findRotationPeaks(new Float64Array(5), B)).toThrow(/4096 values/);
  });
});
