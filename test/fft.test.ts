import { describe, expect, it } from 'vitest';
import {
  fft1InPlace,
  fft2InPlace,
  fft3,
  fft3InPlace,
  fftshift3,
  ifft3Real,
  ifftshift3,
  plan1d,
} from '../core/fft.ts';
import { Rng } from '../core/random.ts';

/** Direct O(N²) DFT over a grid of the given dims (x fastest), interleaved complex, unnormalised. */
function naiveDft(data: Float64Array, dims: readonly number[], inverse: boolean): Float64Array {
  const total = dims.reduce((a, b) => a * b, 1);
  const out = new Float64Array(2 * total);
  const sign = inverse ? 1 : -1;
  const coords = (i: number): number[] => {
    const c: number[] = [];
    for (const d of dims) {
      c.push(i % d);
      i = Math.floor(i / d);
    }
    return c;
  };
  const all = Array.from({ length: total }, (_, i) => coords(i));
  for (let k = 0; k < total; k++) {
    const kc = all[k];
    let re = 0;
    let im = 0;
    for (let j = 0; j < total; j++) {
      const jc = all[j];
      let phase = 0;
      for (let a = 0; a < dims.length; a++) phase += ((kc[a] * jc[a]) % dims[a]) / dims[a];
      const ang = sign * 2 * Math.PI * phase;
      const c = Math.cos(ang);
      const s = Math.sin(ang);
      re += data[2 * j] * c - data[2 * j + 1] * s;
      im += data[2 * j] * s + data[2 * j + 1] * c;
    }
    out[2 * k] = inverse ? re / total : re;
    out[2 * k + 1] = inverse ? im / total : im;
  }
  return out;
}

/** Separable reference: naive 1D DFT along each axis in turn (for sizes where a full naive DFT is too slow). */
function separableNaiveDft3(data: Float64Array, n: number, inverse = false): Float64Array {
  const out = data.slice();
  const line = new Float64Array(2 * n);
  const strides = [1, n, n * n];
  for (const stride of strides) {
    for (let start = 0; start < n * n * n; start++) {
      // visit each line once: start must have coordinate 0 along this axis
      if (Math.floor(start / stride) % n !== 0) continue;
      for (let k = 0; k < n; k++) {
        line[2 * k] = out[2 * (start + k * stride)];
        line[2 * k + 1] = out[2 * (start + k * stride) + 1];
      }
      const t = naiveDft(line, [n], inverse);
      for (let k = 0; k < n; k++) {
        out[2 * (start + k * stride)] = t[2 * k];
        out[2 * (start + k * stride) + 1] = t[2 * k + 1];
      }
    }
  }
  return out;
}

function randomComplex(len: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const d = new Float64Array(2 * len);
  for (let i = 0; i < d.length; i++) d[i] = rng.gaussian();
  return d;
}

function randomReal(len: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const d = new Float32Array(len);
  for (let i = 0; i < len; i++) d[i] = rng.gaussian();
  return d;
}

function realAsComplex(real: ArrayLike<number>): Float64Array {
  const c = new Float64Array(2 * real.length);
  for (let i = 0; i < real.length; i++) c[2 * i] = real[i];
  return c;
}

/** max |a − b| / max |b|: the error relative to the size of the reference. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

// Double-precision transforms agree with the naive DFT far below the 1e-4 the callers need.
const TOL = 1e-10;
// What the kernels actually achieve: rounding grows like ε·log n (≈ 1e-15 here); the rest is headroom for the
// naive reference's own error.
const TIGHT = 1e-13;
// ifft3Real returns float32: its rounding (2⁻²⁴ ≈ 6e-8 of the value) dominates.
const FLOAT32 = 1e-7;

/** The kernel core/fft.ts runs for length n (for test names). */
function kernelOf(n: number): string {
  let m = n;
  for (const p of [2, 3, 5]) while (m % p === 0) m /= p;
  return (n & (n - 1)) === 0 ? 'power of two' : m === 1 ? 'mixed radix' : 'Bluestein';
}

describe('fft3 against a naive DFT', () => {
  for (const n of [2, 4, 5, 6, 8, 10, 16]) {
    it(`real forward fft3 at ${n}³ (${kernelOf(n)})`, () => {
      const v = randomReal(n * n * n, 10 + n);
      const out = new Float64Array(2 * n * n * n).fill(Number.NaN); // stale contents must be overwritten
      const spec = fft3(v, n, out);
      expect(spec).toBe(out);
      expect(relErr(spec, naiveDft(realAsComplex(v), [n, n, n], false))).toBeLessThan(TOL);
    });
  }

  for (const n of [4, 6, 8, 10]) {
    it(`complex fft3InPlace forward and inverse at ${n}³`, () => {
      const d = randomComplex(n * n * n, 20 + n);
      const fwd = d.slice();
      fft3InPlace(fwd, n, false);
      expect(relErr(fwd, naiveDft(d, [n, n, n], false))).toBeLessThan(TOL);
      const inv = d.slice();
      fft3InPlace(inv, n, true);
      expect(relErr(inv, naiveDft(d, [n, n, n], true))).toBeLessThan(TOL);
    });
  }

  for (const n of [4, 5, 6, 8, 10]) {
    it(`ifft3Real of a non-Hermitian spectrum is the real part of the naive inverse at ${n}³`, () => {
      const spec = randomComplex(n * n * n, 30 + n);
      const before = spec.slice();
      const real = ifft3Real(spec, n);
      expect(real).toBeInstanceOf(Float32Array);
      expect(spec).toEqual(before); // input untouched
      const ref = naiveDft(spec, [n, n, n], true);
      const refReal = new Float64Array(n * n * n);
      for (let i = 0; i < refReal.length; i++) refReal[i] = ref[2 * i];
      expect(relErr(real, refReal)).toBeLessThan(1e-6); // float32 output
    });
  }

  for (const n of [32, 64]) {
    it(`fft3 and fft3InPlace at ${n}³ match a separable naive DFT`, () => {
      const v = randomReal(n * n * n, 40 + n);
      const ref = separableNaiveDft3(realAsComplex(v), n);
      expect(relErr(fft3(v, n), ref)).toBeLessThan(TOL);
      const c = realAsComplex(v);
      fft3InPlace(c, n, false);
      expect(relErr(c, ref)).toBeLessThan(TOL);
    });
  }
});

describe('inverse(forward(v)) = v', () => {
  for (const n of [2, 5, 6, 8, 32, 64]) {
    it(`fft3 → ifft3Real at ${n}³`, () => {
      const v = randomReal(n * n * n, 50 + n);
      const back = ifft3Real(fft3(v, n), n, new Float32Array(n * n * n).fill(Number.NaN));
      expect(relErr(back, v)).toBeLessThan(1e-6);
    });
  }
  for (const n of [6, 16]) {
    it(`complex fft3InPlace at ${n}³`, () => {
      const d = randomComplex(n * n * n, 60 + n);
      const w = d.slice();
      fft3InPlace(w, n, false);
      fft3InPlace(w, n, true);
      expect(relErr(w, d)).toBeLessThan(1e-12);
    });
  }
  it('fft2InPlace and fft1InPlace', () => {
    const img = randomComplex(24 * 16, 70);
    const w = img.slice();
    fft2InPlace(w, 24, 16, false);
    fft2InPlace(w, 24, 16, true);
    expect(relErr(w, img)).toBeLessThan(1e-12);
    const line = randomComplex(100, 71);
    const l = line.slice();
    fft1InPlace(l, false);
    fft1InPlace(l, true);
    expect(relErr(l, line)).toBeLessThan(1e-12);
  });
});

describe('fft2 and fft1 against a naive DFT', () => {
  for (const [nx, ny] of [
    [8, 8],
    [8, 6],
    [5, 16],
    [32, 2],
  ] as const) {
    it(`fft2InPlace ${nx}×${ny} forward and inverse`, () => {
      const d = randomComplex(nx * ny, 80 + nx * ny);
      const fwd = d.slice();
      fft2InPlace(fwd, nx, ny, false);
      expect(relErr(fwd, naiveDft(d, [nx, ny], false))).toBeLessThan(TOL);
      const inv = d.slice();
      fft2InPlace(inv, nx, ny, true);
      expect(relErr(inv, naiveDft(d, [nx, ny], true))).toBeLessThan(TOL);
    });
  }

  for (const n of [2, 3, 4, 5, 7, 8, 12, 16, 32, 64, 100, 128]) {
    it(`fft1InPlace and plan1d at length ${n}`, () => {
      const d = randomComplex(n, 90 + n);
      const fwd = d.slice();
      fft1InPlace(fwd, false);
      expect(relErr(fwd, naiveDft(d, [n], false))).toBeLessThan(TOL);
      const out = new Float64Array(2 * n);
      plan1d(n).transform(out, d, true);
      expect(relErr(out, naiveDft(d, [n], true))).toBeLessThan(TOL);
    });
  }

  it('rejects lengths below 2 and mismatched buffers', () => {
    expect(() => plan1d(1)).toThrow(/integer ≥ 2/);
    expect(() => fft3(new Float32Array(10), 2)).toThrow(/needs 8 values, got 10/);
    expect(() => ifft3Real(new Float64Array(16), 3)).toThrow(/needs 54 values, got 16/);
  });
});

describe('physical invariants', () => {
  for (const n of [6, 8]) {
    it(`Parseval: Σ|f|² = Σ|F|²/N at ${n}³`, () => {
      const v = randomReal(n * n * n, 100 + n);
      const spec = fft3(v, n);
      let e1 = 0;
      for (const x of v) e1 += x * x;
      let e2 = 0;
      for (const x of spec) e2 += x * x;
      expect(Math.abs(e2 / (n * n * n) - e1) / e1).toBeLessThan(1e-10);
    });
  }

  it('the spectrum of a real volume is Hermitian: F(−k) = conj F(k)', () => {
    const n = 8;
    const spec = fft3(randomReal(n * n * n, 110), n);
    const idx = (x: number, y: number, z: number): number => 2 * (x + n * (y + n * z));
    for (const [x, y, z] of [
      [1, 2, 3],
      [5, 0, 7],
      [4, 4, 4],
      [7, 1, 0],
    ]) {
      const p = idx(x, y, z);
      const q = idx((n - x) % n, (n - y) % n, (n - z) % n);
      expect(spec[q]).toBeCloseTo(spec[p], 10);
      expect(spec[q + 1]).toBeCloseTo(-spec[p + 1], 10);
    }
  });

  for (const n of [4, 5, 6]) {
    it(`fftshift3 puts the DC term at floor(n/2) and ifftshift3 undoes it (n = ${n})`, () => {
      const v = randomReal(n * n * n, 120 + n);
      for (let i = 0; i < v.length; i++) v[i] += 3; // a DC term that dominates the amplitude spectrum
      const spec = fft3(v, n);
      const amp = new Float64Array(n * n * n);
      for (let i = 0; i < amp.length; i++) amp[i] = Math.hypot(spec[2 * i], spec[2 * i + 1]);
      const shifted = fftshift3(amp, n);
      const c = Math.floor(n / 2);
      let best = 0;
      for (let i = 1; i < shifted.length; i++) if (shifted[i] > shifted[best]) best = i;
      expect(best).toBe(c + n * (c + n * c));
      expect(shifted[best]).toBe(amp[0]);
      expect(ifftshift3(shifted, n)).toEqual(amp);
    });
  }
});

describe('mixed-radix and Bluestein lengths against a naive DFT', () => {
  const lengths = [
    ...Array.from({ length: 63 }, (_, i) => i + 2), // every length 2…64
    ...[96, 192, 384], // 3·2^k
    ...[80, 160, 320], // 5·2^k
    ...[120, 240, 480], // 15·2^k
    ...[72, 144, 288], // 9·2^k
    ...[100, 250, 375], // powers of 5 with 2 and 3
    ...[98, 242, 338, 97], // 2·7², 2·11², 2·13² and a prime: Bluestein on a mixed-radix convolution
  ];
  for (const n of lengths) {
    it(`length ${n} (${kernelOf(n)}): fft1InPlace forward, plan1d inverse, round trip`, () => {
      const d = randomComplex(n, 200 + n);
      const fwd = d.slice();
      fft1InPlace(fwd, false);
      expect(relErr(fwd, naiveDft(d, [n], false))).toBeLessThan(TIGHT);
      const inv = new Float64Array(2 * n);
      plan1d(n).transform(inv, d, true);
      expect(relErr(inv, naiveDft(d, [n], true))).toBeLessThan(TIGHT);
      fft1InPlace(fwd, true);
      expect(relErr(fwd, d)).toBeLessThan(TIGHT);
    });
  }

  it('caches one plan per length', () => {
    expect(plan1d(48)).toBe(plan1d(48));
    expect(plan1d(14)).toBe(plan1d(14));
  });

  for (const [nx, ny] of [
    [6, 10],
    [12, 18],
    [20, 24],
    [24, 14],
    [15, 8],
  ] as const) {
    it(`fft2InPlace ${nx}×${ny} (${kernelOf(nx)} × ${kernelOf(ny)}) forward and inverse`, () => {
      const d = randomComplex(nx * ny, 300 + nx * ny);
      const fwd = d.slice();
      fft2InPlace(fwd, nx, ny, false);
      expect(relErr(fwd, naiveDft(d, [nx, ny], false))).toBeLessThan(TIGHT);
      const inv = d.slice();
      fft2InPlace(inv, nx, ny, true);
      expect(relErr(inv, naiveDft(d, [nx, ny], true))).toBeLessThan(TIGHT);
    });
  }

  for (const n of [6, 10, 12, 14, 18, 20, 24]) {
    it(`fft3InPlace and fft3 at ${n}³ (${kernelOf(n)}) match a separable naive DFT`, () => {
      const v = randomReal(n * n * n, 400 + n);
      const ref = separableNaiveDft3(realAsComplex(v), n);
      expect(relErr(fft3(v, n), ref)).toBeLessThan(TIGHT);
      const d = randomComplex(n * n * n, 410 + n);
      const fwd = d.slice();
      fft3InPlace(fwd, n, false);
      expect(relErr(fwd, separableNaiveDft3(d, n))).toBeLessThan(TIGHT);
      const inv = d.slice();
      fft3InPlace(inv, n, true);
      expect(relErr(inv, separableNaiveDft3(d, n, true))).toBeLessThan(TIGHT);
    });
  }
});

describe('the real-input path at even sizes that are not powers of two', () => {
  for (const n of [24, 36, 48, 22]) {
    it(`fft3 equals the complex transform of the real volume at ${n}³ (${kernelOf(n)})`, () => {
      const v = randomReal(n * n * n, 500 + n);
      const c = realAsComplex(v);
      fft3InPlace(c, n, false);
      expect(relErr(fft3(v, n), c)).toBeLessThan(TIGHT);
    });

    it(`ifft3Real of a non-Hermitian spectrum is the real part of the complex inverse at ${n}³`, () => {
      const spec = randomComplex(n * n * n, 510 + n);
      const c = spec.slice();
      fft3InPlace(c, n, true);
      const re = new Float64Array(n * n * n);
      for (let i = 0; i < re.length; i++) re[i] = c[2 * i];
      expect(relErr(ifft3Real(spec, n), re)).toBeLessThan(FLOAT32);
    });

    it(`round trips at ${n}³: ifft3Real(fft3(v)) and complex fft3InPlace`, () => {
      const v = randomReal(n * n * n, 520 + n);
      expect(relErr(ifft3Real(fft3(v, n), n), v)).toBeLessThan(FLOAT32);
      const d = randomComplex(n * n * n, 530 + n);
      const w = d.slice();
      fft3InPlace(w, n, false);
      fft3InPlace(w, n, true);
      expect(relErr(w, d)).toBeLessThan(TIGHT);
    });
  }
});
