import { describe, expect, it } from 'vitest';
import { lowpass } from '../core/filters.ts';
import { Rng } from '../core/random.ts';
import { fourierCrop, fourierPad, fourierResize, resampleMask } from '../core/resample.ts';
import { Volume, freqOf } from '../core/volume.ts';
import { fourierResample } from '../io/volumes.ts';

function noise(n: number, seed: number, voxelSize = 1): Volume {
  const rng = new Rng(seed);
  const v = new Volume(n, voxelSize);
  for (let i = 0; i < v.data.length; i++) v.data[i] = rng.gaussian();
  return v;
}

/**
 * The module's definition evaluated by brute force: naive DFT of v, then
 * out(j) = Re (1/n³) Σ_{k : |k_a| ≤ m/2} F(k)·exp(2πi k·j/m).
 */
function naiveResize(v: Volume, m: number): Float64Array {
  const n = v.n;
  const keep: { k: number[]; re: number; im: number }[] = [];
  for (let kz = 0; kz < n; kz++) for (let ky = 0; ky < n; ky++) for (let kx = 0; kx < n; kx++) {
    const k = [freqOf(kx, n), freqOf(ky, n), freqOf(kz, n)];
    if (k.some((c) => Math.abs(c) > m / 2)) continue;
    let re = 0, im = 0;
    for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
      const a = (-2 * Math.PI * (k[0] * x + k[1] * y + k[2] * z)) / n;
      const f = v.get(x, y, z);
      re += f * Math.cos(a);
      im += f * Math.sin(a);
    }
    keep.push({ k, re, im });
  }
  const out = new Float64Array(m * m * m);
  for (let z = 0, o = 0; z < m; z++) for (let y = 0; y < m; y++) for (let x = 0; x < m; x++, o++) {
    let s = 0;
    for (const { k, re, im } of keep) {
      const a = (2 * Math.PI * (k[0] * x + k[1] * y + k[2] * z)) / m;
      s += re * Math.cos(a) - im * Math.sin(a);
    }
    out[o] = s / n ** 3;
  }
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('Fourier crop and pad against a naive DFT', () => {
  for (const [n, m] of [[8, 4], [8, 6], [10, 4]]) {
    it(`crops ${n}³ noise to ${m}³ (both Nyquist components kept, values preserved)`, () => {
      const v = noise(n, n + m, 3);
      const cropped = fourierCrop(v, m);
      expect(cropped.n).toBe(m);
      expect(cropped.voxelSize).toBeCloseTo((3 * n) / m, 12);
      expect(maxDiff(cropped.data, naiveResize(v, m))).toBeLessThan(1e-5);
    });
  }

  it('pads 6³ noise to 10³: the trigonometric interpolant, old samples kept where the grids meet', () => {
    const v = noise(6, 5, 2);
    const padded = fourierPad(v, 10);
    expect(padded.voxelSize).toBeCloseTo(1.2, 12);
    expect(maxDiff(padded.data, naiveResize(v, 10))).toBeLessThan(1e-5);
    // 6 → 10 meet every 3 old / 5 new voxels
    expect(padded.get(5, 5, 5)).toBeCloseTo(v.get(3, 3, 3), 5);
    expect(padded.get(0, 5, 0)).toBeCloseTo(v.get(0, 3, 0), 5);
  });

  it('crop undoes pad, and a volume band-limited below the new Nyquist survives crop + pad unchanged', () => {
    const v = noise(8, 9);
    expect(maxDiff(fourierCrop(fourierPad(v, 16), 8).data, v.data)).toBeLessThan(1e-5);
    // low-passed well inside shell 6 of 32: nothing beyond m/2 = 8 to lose
    const smooth = lowpass(noise(32, 10), 5, 2);
    const back = fourierPad(fourierCrop(smooth, 16), 32);
    let scale = 0;
    for (const x of smooth.data) scale = Math.max(scale, Math.abs(x));
    expect(maxDiff(back.data, smooth.data)).toBeLessThan(1e-5 * scale);
  });

  it('keeps the box centre: a centred point maps to the new centre', () => {
    const v = new Volume(32);
    v.set(16, 16, 16, 1);
    const blob = lowpass(v, 6, 2);
    const cropped = fourierCrop(blob, 16);
    let best = 0, at = -1;
    cropped.data.forEach((x, i) => { if (x > best) { best = x; at = i; } });
    expect(at).toBe(8 + 16 * (8 + 16 * 8));
  });

  it('is the resampling io/volumes.ts uses for pixel sizes', () => {
    const v = noise(8, 11, 3);
    expect(Array.from(fourierResample(v, 6).data)).toEqual(Array.from(fourierResize(v, 4).data));
  });

  it('names bad boxes', () => {
    const v = noise(8, 1);
    expect(() => fourierResize(v, 5)).toThrow(/even box of at least 2 voxels, got 5/);
    expect(() => fourierCrop(v, 10)).toThrow(/crop of a 8³ volume needs a box ≤ 8, got 10 \(pad instead\)/);
    expect(() => fourierPad(v, 4)).toThrow(/padding of a 8³ volume needs a box ≥ 8, got 4 \(crop instead\)/);
  });
});

describe('resampleMask', () => {
  it('samples the mask at the corresponding points, staying within its range', () => {
    const n = 16;
    const rng = new Rng(3);
    const mask = new Float32Array(n ** 3).map(() => rng.uniform());
    const half = resampleMask(mask, n, 8);
    for (let z = 0; z < 8; z++) for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
      expect(half[x + 8 * (y + 8 * z)]).toBe(mask[2 * x + n * (2 * y + n * 2 * z)]);
    }
    const odd = resampleMask(mask, n, 12);
    for (const v of odd) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    // x = 3 of 12 is x = 4 of 16
    expect(odd[3 + 12 * (6 + 12 * 9)]).toBeCloseTo(mask[4 + n * (8 + n * 12)], 6);
  });
});
