import { describe, expect, it } from 'vitest';
import { applyFourierFilter, gaussianFilter, lowpassMask, softSphereMask } from '../core/filters.ts';
import {
  FSC_GOLD_STANDARD,
  type FscCurve,
  crossingShell,
  fscCurve,
  goldStandardResolution,
  resolutionAt,
  resolutionAtFscHalf,
} from '../core/fsc.ts';
import { Rng } from '../core/random.ts';
import { Volume, freqOf } from '../core/volume.ts';

const n = 64;
const voxel = 6;

function noise(seed: number, sigma = 1): Volume {
  const rng = new Rng(seed);
  const v = new Volume(n, voxel);
  for (let i = 0; i < v.data.length; i++) v.data[i] = sigma * rng.gaussian();
  return v;
}

function add(a: Volume, b: Volume): Volume {
  return a.withData(a.data.map((x, i) => x + b.data[i]));
}

describe('fscCurve', () => {
  it('reports shells 1 … n/2 − 1 with their spatial frequency and full-shell voxel counts', () => {
    const a = noise(1);
    const curve = fscCurve(a, a);
    expect(curve.shell).toEqual(Array.from({ length: n / 2 - 1 }, (_, i) => i + 1));
    curve.spatialFrequency.forEach((f, i) => expect(f).toBeCloseTo(curve.shell[i] / (n * voxel), 12));
    // shell 1 = |k|² ∈ {1, 2}: 6 axis + 12 face-diagonal neighbours
    expect(curve.count[0]).toBe(18);
    // a shell of unit width holds about (4/3)π((r + ½)³ − (r − ½)³) = 4πr² + π/3 lattice points (±12%
    // lattice fluctuation at r = 9); all shells together fill the ball of radius n/2 − ½ minus |k| < ½
    for (let i = 3; i < curve.count.length; i++) {
      const r = curve.shell[i];
      expect(Math.abs(curve.count[i] / (4 * Math.PI * r * r + Math.PI / 3) - 1)).toBeLessThan(0.15);
      expect(curve.count[i] % 2).toBe(0); // k and −k are both inside shells below n/2
    }
    const total = curve.count.reduce((a, b) => a + b, 0);
    expect(Math.abs(total / ((4 / 3) * Math.PI * ((n / 2 - 0.5) ** 3 - 0.5 ** 3)) - 1)).toBeLessThan(0.005);
  });

  it('is 1 in every shell for identical halves, also after scaling and offsetting one (DC is not reported)', () => {
    const a = noise(2);
    for (const v of fscCurve(a, a).fsc) expect(v).toBeCloseTo(1, 10);
    const b = a.withData(a.data.map((x) => 2.5 * x + 3));
    for (const v of fscCurve(a, b).fsc) expect(v).toBeCloseTo(1, 6);
    for (const v of fscCurve(a, a.withData(a.data.map((x) => -x))).fsc) expect(v).toBeCloseTo(-1, 10);
  });

  it('for independent noise stays within ±4/√count of 0 in every shell, with unit spread of FSC·√count', () => {
    const curve = fscCurve(noise(3), noise(4));
    let sumZ2 = 0;
    curve.fsc.forEach((v, i) => {
      const z = v * Math.sqrt(curve.count[i]);
      expect(Math.abs(z)).toBeLessThan(4);
      sumZ2 += z * z;
    });
    const rms = Math.sqrt(sumZ2 / curve.fsc.length);
    expect(rms).toBeGreaterThan(0.6);
    expect(rms).toBeLessThan(1.4);
  });

  it('with a mask equals the FSC of the masked volumes', () => {
    const a = noise(5);
    const b = add(a, noise(6));
    const mask = softSphereMask(n, 20, 4);
    const masked = fscCurve(a, b, mask);
    const manual = fscCurve(a.withData(a.data.map((x, i) => x * mask[i])), b.withData(b.data.map((x, i) => x * mask[i])));
    masked.fsc.forEach((v, i) => expect(v).toBeCloseTo(manual.fsc[i], 12));
  });

  it('rejects volumes of different size or voxel size, and masks of the wrong size', () => {
    const a = noise(7);
    expect(() => fscCurve(a, new Volume(32, voxel))).toThrow(/same size.*64³ and 32³/);
    expect(() => fscCurve(a, new Volume(n, 5))).toThrow(/same voxel size.*6 Å and 5 Å/);
    expect(() => fscCurve(a, a, new Float32Array(5))).toThrow(/mask has 5 values/);
  });
});

describe('resolution from the FSC', () => {
  const curve: FscCurve = {
    shell: [1, 2, 3, 4, 5],
    spatialFrequency: [1, 2, 3, 4, 5].map((r) => r / (n * voxel)),
    fsc: [1, 0.9, 0.6, 0.1, 0.05],
    count: [18, 1, 1, 1, 1],
  };

  it('interpolates linearly between the shells around the first crossing and converts with n·voxel/r', () => {
    const r143 = 3 + (0.6 - 0.143) / (0.6 - 0.1);
    expect(crossingShell(curve, FSC_GOLD_STANDARD)).toBeCloseTo(r143, 12);
    expect(goldStandardResolution(curve, voxel, n)).toBeCloseTo((n * voxel) / r143, 10); // 392.2 / 3.914 = 98.1 Å
    const r05 = 3 + (0.6 - 0.5) / (0.6 - 0.1);
    expect(resolutionAtFscHalf(curve, voxel, n)).toBeCloseTo((n * voxel) / r05, 10);
  });

  it('uses the first crossing even if the curve rises again', () => {
    const bumpy = { ...curve, fsc: [1, 0.1, 0.9, 0.8, 0.05] };
    expect(crossingShell(bumpy, 0.5)).toBeCloseTo(1 + 0.5 / 0.9, 12);
  });

  it('falls back to the last shell when the FSC never drops, and to the first when it starts below', () => {
    expect(resolutionAt({ ...curve, fsc: [1, 1, 1, 1, 1] }, 0.143, voxel, n)).toBeCloseTo((n * voxel) / 5, 12);
    expect(resolutionAt({ ...curve, fsc: [0.1, 0.1, 0.1, 0.1, 0.1] }, 0.143, voxel, n)).toBeCloseTo(n * voxel, 12);
  });

  it('finds a hard cut-off (common signal up to shell s, independent noise beyond) within one shell', () => {
    const s = 12;
    const signalBand = lowpassMask(n, s + 0.5, 0); // exactly the shells round(|k|) ≤ s
    const noiseBand = signalBand.map((m) => 1 - m);
    const signal = applyFourierFilter(noise(10), signalBand);
    const a = add(signal, applyFourierFilter(noise(11), noiseBand));
    const b = add(signal, applyFourierFilter(noise(12), noiseBand));
    const fsc = fscCurve(a, b);
    expect(fsc.fsc[s - 1]).toBeCloseTo(1, 6);
    const res = goldStandardResolution(fsc, voxel, n);
    expect(res).toBeLessThanOrEqual((n * voxel) / s); // 32 Å
    expect(res).toBeGreaterThanOrEqual((n * voxel) / (s + 1)); // 29.5 Å
  });

  it('matches the predicted crossing of a Gaussian-filtered signal plus white noise, FSC = SNR/(1 + SNR)', () => {
    // signal: white noise (variance 1) through exp(−2π²σ²|k/n|²) → power ∝ G²(k); noise power ∝ σn²
    const sigma = 2;
    const sigmaNoise = 0.032;
    const signal = gaussianFilter(noise(20), sigma);
    const a = add(signal, noise(21, sigmaNoise));
    const b = add(signal, noise(22, sigmaNoise));
    const measured = fscCurve(a, b);
    // expected FSC per shell from the shell-averaged signal power
    const power = new Float64Array(n / 2);
    const count = new Float64Array(n / 2);
    for (let z = 0; z < n; z++)
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++) {
          const k2 = freqOf(x, n) ** 2 + freqOf(y, n) ** 2 + freqOf(z, n) ** 2;
          const r = Math.round(Math.sqrt(k2));
          if (r >= n / 2) continue;
          power[r] += Math.exp((-4 * Math.PI * Math.PI * sigma * sigma * k2) / (n * n));
          count[r]++;
        }
    const expected: FscCurve = { ...measured, fsc: measured.shell.map((r) => power[r] / count[r] / (power[r] / count[r] + sigmaNoise ** 2)) };
    measured.fsc.forEach((v, i) => expect(Math.abs(v - expected.fsc[i])).toBeLessThan(4 / Math.sqrt(measured.count[i]) + 0.01));
    for (const t of [0.143, 0.5]) {
      const predicted = crossingShell(expected, t);
      expect(predicted).toBeGreaterThan(10); // analytic: 15.0 for 0.143, 13.4 for 0.5
      expect(Math.abs(crossingShell(measured, t) - predicted)).toBeLessThan(0.3);
    }
  });
});
