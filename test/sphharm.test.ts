import { describe, expect, it } from 'vitest';
import { Rng } from '../core/random.ts';
import { applyMat, eulerToMatrix, transpose } from '../core/rotate.ts';
import { forwardSHT, forwardSHTReal, shIndex, sphereGrid, wignerDHalfPi } from '../core/sphharm.ts';
import { sphericalHarmonic, synthesizeAt, wignerDExplicit } from './helpers/sphere-reference.ts';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Random coefficients of a real function (f_{l,−m} = (−1)^m conj f_lm); only even l if asked. */
function randomRealCoefficients(B: number, rng: Rng, evenOnly = false): Float64Array {
  const c = new Float64Array(2 * B * B);
  for (let l = 0; l < B; l++) {
    if (evenOnly && l % 2 === 1) continue;
    c[2 * shIndex(l, 0)] = rng.gaussian();
    for (let m = 1; m <= l; m++) {
      const re = rng.gaussian();
      const im = rng.gaussian();
      const sign = m % 2 === 0 ? 1 : -1;
      c[2 * shIndex(l, m)] = re;
      c[2 * shIndex(l, m) + 1] = im;
      c[2 * shIndex(l, -m)] = sign * re;
      c[2 * shIndex(l, -m) + 1] = -sign * im;
    }
  }
  return c;
}

function sampleReal(coeffs: Float64Array, B: number): Float64Array {
  const grid = sphereGrid(B);
  const out = new Float64Array(grid.size * grid.size);
  for (let j = 0; j < grid.size; j++) {
    for (let k = 0; k < grid.size; k++) out[k + grid.size * j] = synthesizeAt(coeffs, B, grid.theta[j], grid.phi[k])[0];
  }
  return out;
}

/** P_k(x) by Bonnet's recursion (stable; the explicit sums lose digits at degree ~30). */
function legendreBonnet(k: number, x: number): number {
  let p0 = 1;
  let p1 = x;
  if (k === 0) return p0;
  for (let n = 1; n < k; n++) [p0, p1] = [p1, ((2 * n + 1) * x * p1 - n * p0) / (n + 1)];
  return p1;
}

describe('sphere grid', () => {
  it("Fejér weights integrate Legendre polynomials of degree < 2B exactly", () => {
    for (const B of [2, 5, 8, 16]) {
      const { theta, weights } = sphereGrid(B);
      for (let k = 0; k < 2 * B; k++) {
        let s = 0;
        for (let j = 0; j < 2 * B; j++) s += weights[j] * legendreBonnet(k, Math.cos(theta[j]));
        expect(Math.abs(s - (k === 0 ? 2 : 0))).toBeLessThan(1e-12);
      }
    }
  });

  it('directions are unit vectors at (θ_j, φ_k)', () => {
    const g = sphereGrid(4);
    const j = 3, k = 5;
    const o = 3 * (k + g.size * j);
    expect(g.directions[o]).toBeCloseTo(Math.sin(g.theta[j]) * Math.cos(g.phi[k]), 14);
    expect(g.directions[o + 1]).toBeCloseTo(Math.sin(g.theta[j]) * Math.sin(g.phi[k]), 14);
    expect(g.directions[o + 2]).toBeCloseTo(Math.cos(g.theta[j]), 14);
  });

  it('rejects bandwidths the transforms cannot handle', () => {
    expect(() => sphereGrid(1)).toThrow(/bandwidth/);
    expect(() => sphereGrid(2.5)).toThrow(/bandwidth/);
    expect(() => forwardSHTReal(new Float64Array(10), 4)).toThrow(/64 values, got 10/);
  });
});

describe('reference spherical harmonics', () => {
  it('match textbook closed forms (Condon–Shortley phase)', () => {
    const th = 0.7, ph = 1.3;
    const s = Math.sin(th), c = Math.cos(th);
    const cases: [number, number, number, number][] = [
      [1, 1, -Math.sqrt(3 / (8 * Math.PI)) * s, 1],
      [2, 0, Math.sqrt(5 / (16 * Math.PI)) * (3 * c * c - 1), 0],
      [2, 2, 0.25 * Math.sqrt(15 / (2 * Math.PI)) * s * s, 2],
      [3, -2, 0.25 * Math.sqrt(105 / (2 * Math.PI)) * s * s * c, -2],
      [3, -1, 0.125 * Math.sqrt(21 / Math.PI) * s * (5 * c * c - 1), -1],
    ];
    for (const [l, m, amp, phase] of cases) {
      const [re, im] = sphericalHarmonic(l, m, th, ph);
      expect(re).toBeCloseTo(amp * Math.cos(phase * ph), 13);
      expect(im).toBeCloseTo(amp * Math.sin(phase * ph), 13);
    }
  });
});

describe('forward spherical-harmonic transform', () => {
  it('maps each sampled Y_lm to a delta at (l, m)', () => {
    const B = 8;
    const g = sphereGrid(B);
    const samples = new Float64Array(2 * g.size * g.size);
    let worst = 0;
    for (let l = 0; l < B; l++) {
      for (let m = -l; m <= l; m++) {
        for (let j = 0; j < g.size; j++) {
          for (let k = 0; k < g.size; k++) {
            const [re, im] = sphericalHarmonic(l, m, g.theta[j], g.phi[k]);
            samples[2 * (k + g.size * j)] = re;
            samples[2 * (k + g.size * j) + 1] = im;
          }
        }
        const coeffs = forwardSHT(samples, B);
        const expected = new Float64Array(2 * B * B);
        expected[2 * shIndex(l, m)] = 1;
        worst = Math.max(worst, maxAbsDiff(coeffs, expected));
      }
    }
    expect(worst).toBeLessThan(1e-12);
  });

  it('equals the direct quadrature Σ_jk (π/B)·w_j·f·conj(Y_lm) for a function that is not band-limited', () => {
    const B = 6;
    const g = sphereGrid(B);
    const size = g.size;
    const real = new Float64Array(size * size);
    const complex = new Float64Array(2 * size * size);
    for (let j = 0; j < size; j++) {
      for (let k = 0; k < size; k++) {
        const o = 3 * (k + size * j);
        const [x, y, z] = [g.directions[o], g.directions[o + 1], g.directions[o + 2]];
        real[k + size * j] = Math.exp(x + 0.5 * y - z * z) + Math.abs(x * y);
        complex[2 * (k + size * j)] = real[k + size * j];
        complex[2 * (k + size * j) + 1] = Math.cos(3 * x - y + 2 * z);
      }
    }
    const fastReal = forwardSHTReal(real, B);
    const fastComplex = forwardSHT(complex, B);
    for (let l = 0; l < B; l++) {
      for (let m = -l; m <= l; m++) {
        let rr = 0, ri = 0, cr = 0, ci = 0;
        for (let j = 0; j < size; j++) {
          for (let k = 0; k < size; k++) {
            const [yr, yi] = sphericalHarmonic(l, m, g.theta[j], g.phi[k]);
            const w = (Math.PI / B) * g.weights[j];
            const f = real[k + size * j];
            const fi = complex[2 * (k + size * j) + 1];
            // f·conj(Y) with f = f + i·fi
            rr += w * f * yr;
            ri += -w * f * yi;
            cr += w * (f * yr + fi * yi);
            ci += w * (fi * yr - f * yi);
          }
        }
        const o = 2 * shIndex(l, m);
        expect(Math.abs(fastReal[o] - rr)).toBeLessThan(1e-12);
        expect(Math.abs(fastReal[o + 1] - ri)).toBeLessThan(1e-12);
        expect(Math.abs(fastComplex[o] - cr)).toBeLessThan(1e-12);
        expect(Math.abs(fastComplex[o + 1] - ci)).toBeLessThan(1e-12);
      }
    }
  });

  it('recovers the coefficients of random band-limited real functions', () => {
    const rng = new Rng(11);
    for (const B of [4, 9, 16]) {
      const coeffs = randomRealCoefficients(B, rng);
      const got = forwardSHTReal(sampleReal(coeffs, B), B);
      expect(maxAbsDiff(got, coeffs)).toBeLessThan(1e-9);
    }
  });

  it('evenDegreesOnly reproduces even functions and writes exact zeros for odd degrees', () => {
    const B = 10;
    const coeffs = randomRealCoefficients(B, new Rng(5), true);
    const samples = sampleReal(coeffs, B);
    const out = new Float64Array(2 * B * B).fill(7);
    const got = forwardSHTReal(samples, B, { evenDegreesOnly: true, out });
    expect(got).toBe(out);
    expect(maxAbsDiff(got, coeffs)).toBeLessThan(1e-9);
    for (let l = 1; l < B; l += 2) for (let m = -l; m <= l; m++) expect(Math.abs(got[2 * shIndex(l, m)])).toBe(0);
  });
});

describe('Wigner d at π/2', () => {
  it('matches the explicit Wigner sum for l ≤ 16', () => {
    let worst = 0;
    for (let l = 0; l <= 16; l++) {
      const d = wignerDHalfPi(l);
      for (let mp = -l; mp <= l; mp++) {
        for (let m = -l; m <= l; m++) {
          worst = Math.max(worst, Math.abs(d[(mp + l) * (2 * l + 1) + m + l] - wignerDExplicit(l, mp, m, Math.PI / 2)));
        }
      }
    }
    expect(worst).toBeLessThan(1e-12);
  });

  it('is orthogonal (d·dᵀ = I) at low and high degree, so the recursion is stable', () => {
    const degrees = [...Array.from({ length: 41 }, (_, l) => l), 64, 127, 200, 255];
    let worst = 0;
    for (const l of degrees) {
      const d = wignerDHalfPi(l);
      const w = 2 * l + 1;
      for (let a = 0; a < w; a++) {
        for (let b = a; b < w; b++) {
          let s = 0;
          for (let k = 0; k < w; k++) s += d[a * w + k] * d[b * w + k];
          worst = Math.max(worst, Math.abs(s - (a === b ? 1 : 0)));
        }
      }
    }
    expect(worst).toBeLessThan(1e-11);
  });

  it('rejects degrees outside the supported range', () => {
    expect(() => wignerDHalfPi(-1)).toThrow(/degree/);
    expect(() => wignerDHalfPi(256)).toThrow(/degree/);
  });
});

describe('rotation convention shared with core/rotate.ts', () => {
  it('Y_lm(R⁻¹x) = Σ_m′ Y_lm′(x)·e^{−im′φ}·d_{m′m}(θ)·e^{−imψ} for R = Rz(φ)Ry(θ)Rz(ψ)', () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 5; trial++) {
      const e = { phi: rng.range(-Math.PI, Math.PI), theta: rng.range(0, Math.PI), psi: rng.range(-Math.PI, Math.PI) };
      const Rt = transpose(eulerToMatrix(e));
      const th = rng.range(0, Math.PI), ph = rng.range(0, 2 * Math.PI);
      const x = [Math.sin(th) * Math.cos(ph), Math.sin(th) * Math.sin(ph), Math.cos(th)];
      const y = applyMat(Rt, x);
      const thR = Math.acos(Math.max(-1, Math.min(1, y[2])));
      const phR = Math.atan2(y[1], y[0]);
      for (const l of [1, 2, 5]) {
        for (let m = -l; m <= l; m++) {
          const [lr, li] = sphericalHarmonic(l, m, thR, phR);
          let rr = 0, ri = 0;
          for (let mp = -l; mp <= l; mp++) {
            const [yr, yi] = sphericalHarmonic(l, mp, th, ph);
            const ang = -mp * e.phi - m * e.psi;
            const d = wignerDExplicit(l, mp, m, e.theta);
            const dr = d * Math.cos(ang), di = d * Math.sin(ang);
            rr += yr * dr - yi * di;
            ri += yr * di + yi * dr;
          }
          expect(rr).toBeCloseTo(lr, 12);
          expect(ri).toBeCloseTo(li, 12);
        }
      }
    }
  });
});
