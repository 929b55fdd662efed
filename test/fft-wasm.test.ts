/**
 * The WebAssembly path of core/fft.ts (core/fftWasm.ts, kernels in wasm/fft.ts) and the half-spectrum API
 * (rfft3, irfft3): against naive DFTs where they are affordable and against the JavaScript reference
 * kernels (themselves checked against naive DFTs in test/fft.test.ts) everywhere else, at 1e-12 of the
 * reference's largest value in double precision. Also: the committed module is the compiled current source.
 */
import { describe, expect, it } from 'vitest';
import {
  fft3,
  fft3InPlace,
  fft3InPlaceReference,
  fft3Reference,
  fftBackend,
  halfWidth,
  ifft3Real,
  ifft3RealReference,
  irfft3,
  irfft3Reference,
  rfft3,
  rfft3Reference,
} from '../core/fft.ts';
import { FFT_WASM_BASE64, FFT_WASM_SOURCE_SHA256 } from '../core/fftWasmBinary.ts';
import { wasmRadices } from '../core/fftWasm.ts';
import { Rng } from '../core/random.ts';
import { compileFftWasm, fftWasmSourceHash } from '../wasm/build.ts';

const F64 = 1e-12;
// ifft3Real returns float32: its rounding (2⁻²⁴ ≈ 6e-8 of the value) dominates.
const FLOAT32 = 1e-7;

function randomValues(len: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const d = new Float64Array(len);
  for (let i = 0; i < len; i++) d[i] = rng.gaussian();
  return d;
}

/** Bitwise equality, fast on large arrays (vitest's toEqual walks them slowly). */
function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

const randomFloat32 = (len: number, seed: number): Float32Array => Float32Array.from(randomValues(len, seed));

/** max |a − b| / max |b|. */
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

/** Naive DFT of every line of an interleaved complex n³ grid along `axis` (0 = x), unnormalised, in place. */
function naiveAxis(d: Float64Array, n: number, axis: number, inverse: boolean): void {
  const stride = n ** axis;
  const sign = inverse ? 1 : -1;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let start = 0; start < n * n * n; start++) {
    if (Math.floor(start / stride) % n !== 0) continue;
    for (let k = 0; k < n; k++) {
      let sr = 0;
      let si = 0;
      for (let j = 0; j < n; j++) {
        const ang = (sign * 2 * Math.PI * ((j * k) % n)) / n;
        const xr = d[2 * (start + j * stride)];
        const xi = d[2 * (start + j * stride) + 1];
        sr += xr * Math.cos(ang) - xi * Math.sin(ang);
        si += xr * Math.sin(ang) + xi * Math.cos(ang);
      }
      re[k] = sr;
      im[k] = si;
    }
    for (let k = 0; k < n; k++) {
      d[2 * (start + k * stride)] = re[k];
      d[2 * (start + k * stride) + 1] = im[k];
    }
  }
}

function naiveComplex3(data: Float64Array, n: number, inverse: boolean): Float64Array {
  const d = data.slice();
  for (let axis = 0; axis < 3; axis++) naiveAxis(d, n, axis, inverse);
  if (inverse) for (let i = 0; i < d.length; i++) d[i] /= n * n * n;
  return d;
}

function naiveHalf(real: ArrayLike<number>, n: number): Float64Array {
  const c = new Float64Array(2 * n * n * n);
  for (let i = 0; i < real.length; i++) c[2 * i] = real[i];
  const full = naiveComplex3(c, n, false);
  const h = halfWidth(n);
  const half = new Float64Array(2 * h * n * n);
  for (let r = 0; r < n * n; r++) half.set(full.subarray(2 * n * r, 2 * n * r + 2 * h), 2 * h * r);
  return half;
}

/**
 * numpy's irfftn, naively: complex inverse DFTs along z and y of the h columns, then per row the real inverse
 * x_j = (1/n)·Σ_k c_k·Re(X_k e^{2πijk/n}) with c_0 = 1, c_{n/2} = 1 (n even) and 2 for the others — which
 * reads only the real parts of X_0 and X_{n/2}.
 */
function naiveIrfft3(half: Float64Array, n: number): Float64Array {
  const h = halfWidth(n);
  const d = half.slice();
  const line = new Float64Array(2 * n);
  for (const stride of [h, h * n]) {
    for (let start = 0; start < h * n * n; start++) {
      if (Math.floor(start / stride) % n !== 0) continue;
      for (let k = 0; k < n; k++) {
        let sr = 0;
        let si = 0;
        for (let j = 0; j < n; j++) {
          const ang = (2 * Math.PI * ((j * k) % n)) / n;
          const xr = d[2 * (start + j * stride)];
          const xi = d[2 * (start + j * stride) + 1];
          sr += xr * Math.cos(ang) - xi * Math.sin(ang);
          si += xr * Math.sin(ang) + xi * Math.cos(ang);
        }
        line[2 * k] = sr;
        line[2 * k + 1] = si;
      }
      for (let k = 0; k < n; k++) {
        d[2 * (start + k * stride)] = line[2 * k];
        d[2 * (start + k * stride) + 1] = line[2 * k + 1];
      }
    }
  }
  const out = new Float64Array(n * n * n);
  for (let r = 0; r < n * n; r++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < h; k++) {
        const weight = k === 0 || 2 * k === n ? 1 : 2;
        const ang = (2 * Math.PI * ((j * k) % n)) / n;
        s += weight * (d[2 * (h * r + k)] * Math.cos(ang) - d[2 * (h * r + k) + 1] * Math.sin(ang));
      }
      out[n * r + j] = s / (n * n * n);
    }
  }
  return out;
}

const smooth = (n: number): boolean => wasmRadices(n) !== null;
const SMOOTH_TO_128 = Array.from({ length: 127 }, (_, i) => i + 2).filter((n) => smooth(n) && n > 64);

describe('the committed WebAssembly module', () => {
  it('is wasm/fft.ts compiled by the pinned AssemblyScript (npm run build:wasm regenerates it)', async () => {
    expect(FFT_WASM_SOURCE_SHA256, 'wasm/fft.ts changed: run npm run build:wasm').toBe(fftWasmSourceHash());
    const binary = await compileFftWasm();
    expect(Buffer.from(binary).toString('base64') === FFT_WASM_BASE64, 'core/fftWasmBinary.ts is stale: run npm run build:wasm').toBe(true);
  }, 60_000);

  it('runs every 2^a·3^b·5^c size (even ones for real volumes); the JavaScript kernels take the rest', () => {
    for (const n of [2, 6, 24, 48, 64, 96, 100, 128]) {
      expect(fftBackend(n, 'real')).toBe('wasm-simd128');
      expect(fftBackend(n, 'complex')).toBe('wasm-simd128');
    }
    expect(fftBackend(5, 'complex')).toBe('wasm-simd128');
    expect(fftBackend(5, 'real')).toBe('js');
    expect(fftBackend(14, 'real')).toBe('js');
    expect(fftBackend(22, 'complex')).toBe('js');
  });
});

describe('complex fft3InPlace (WebAssembly) against the naive DFT and the JavaScript reference', () => {
  for (const n of [2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16]) {
    it(`${n}³ (radices ${wasmRadices(n)}) forward and inverse = naive DFT`, () => {
      const d = randomValues(2 * n ** 3, 10 + n);
      for (const inverse of [false, true]) {
        const w = d.slice();
        fft3InPlace(w, n, inverse);
        expect(relErr(w, naiveComplex3(d, n, inverse))).toBeLessThan(F64);
      }
    });
  }

  it('every length 2…64 and every 2^a·3^b·5^c up to 128: forward and inverse = the JavaScript reference', () => {
    for (const n of [...Array.from({ length: 63 }, (_, i) => i + 2), ...SMOOTH_TO_128]) {
      const d = randomValues(2 * n ** 3, 20 + n);
      for (const inverse of [false, true]) {
        const w = d.slice();
        fft3InPlace(w, n, inverse);
        const ref = d.slice();
        fft3InPlaceReference(ref, n, inverse);
        expect(relErr(w, ref), `${n}³ ${inverse ? 'inverse' : 'forward'}`).toBeLessThan(F64);
      }
    }
  }, 120_000);

  for (const n of [14, 22]) {
    it(`${n}³ (Bluestein, JavaScript) = naive DFT`, () => {
      const d = randomValues(2 * n ** 3, 30 + n);
      const w = d.slice();
      fft3InPlace(w, n, false);
      expect(relErr(w, naiveComplex3(d, n, false))).toBeLessThan(F64);
    });
  }
});

describe('rfft3 and irfft3: the half spectrum (numpy rfftn layout)', () => {
  for (const n of [2, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18]) {
    it(`${n}³ (${fftBackend(n)}): rfft3 = naive DFT, irfft3 = naive numpy irfftn, also of a non-Hermitian half spectrum`, () => {
      const v = randomValues(n ** 3, 40 + n);
      const half = rfft3(v, n);
      expect(half.length).toBe(2 * halfWidth(n) * n * n);
      expect(relErr(half, naiveHalf(v, n))).toBeLessThan(F64);
      expect(relErr(irfft3(half, n), v)).toBeLessThan(F64);
      const arbitrary = randomValues(2 * halfWidth(n) * n * n, 50 + n);
      const before = arbitrary.slice();
      expect(relErr(irfft3(arbitrary, n), naiveIrfft3(arbitrary, n))).toBeLessThan(F64);
      expect(same(arbitrary, before)).toBe(true);
    });
  }

  it('every even length 2…64 and every even 2^a·3^b·5^c up to 128 = the JavaScript reference, round trips', () => {
    for (const n of [...Array.from({ length: 32 }, (_, i) => 2 * i + 2), ...SMOOTH_TO_128.filter((m) => m % 2 === 0)]) {
      const v = randomFloat32(n ** 3, 60 + n);
      const half = rfft3(v, n);
      expect(relErr(half, rfft3Reference(v, n)), `rfft3 ${n}³`).toBeLessThan(F64);
      const back = irfft3(half, n);
      expect(back).toBeInstanceOf(Float64Array);
      expect(relErr(back, v), `irfft3(rfft3) ${n}³`).toBeLessThan(F64);
      const arbitrary = randomValues(half.length, 70 + n);
      expect(relErr(irfft3(arbitrary, n), irfft3Reference(arbitrary, n)), `irfft3 ${n}³`).toBeLessThan(F64);
      const single = irfft3(half, n, new Float32Array(n ** 3));
      expect(single).toBeInstanceOf(Float32Array);
      expect(relErr(single, v)).toBeLessThan(FLOAT32);
    }
  }, 120_000);

  it('takes float64 volumes as well as float32, and leaves its input untouched', () => {
    const n = 24;
    const v = randomValues(n ** 3, 80);
    const copy = v.slice();
    const half = rfft3(v, n);
    expect(same(v, copy)).toBe(true);
    expect(relErr(half, rfft3(Float32Array.from(v), n))).toBeLessThan(1e-6);
    expect(relErr(half, naiveHalf(v, n))).toBeLessThan(F64);
  });

  it('rejects buffers of the wrong length, naming the size', () => {
    expect(() => rfft3(new Float32Array(10), 2)).toThrow(/real 2³ volume needs 8 values, got 10/);
    expect(() => irfft3(new Float64Array(10), 4)).toThrow(/half spectrum of 4³ needs 96 values, got 10/);
    expect(() => irfft3(new Float64Array(96), 4, new Float32Array(3))).toThrow(/real 4³ volume needs 64 values, got 3/);
  });
});

describe('fft3 and ifft3Real (full spectrum) through the half spectrum', () => {
  it('every even length 2…64 and every even 2^a·3^b·5^c up to 128 = the JavaScript reference', () => {
    for (const n of [...Array.from({ length: 32 }, (_, i) => 2 * i + 2), ...SMOOTH_TO_128.filter((m) => m % 2 === 0)]) {
      const v = randomFloat32(n ** 3, 90 + n);
      expect(relErr(fft3(v, n), fft3Reference(v, n)), `fft3 ${n}³`).toBeLessThan(F64);
      // a spectrum that is not Hermitian: ifft3Real is the real part of its inverse
      const spec = randomValues(2 * n ** 3, 100 + n);
      const before = spec.slice();
      const real = ifft3Real(spec, n);
      expect(same(spec, before)).toBe(true);
      expect(relErr(real, ifft3RealReference(spec, n, new Float64Array(n ** 3))), `ifft3Real ${n}³`).toBeLessThan(FLOAT32);
    }
  }, 120_000);

  it('writes into the caller buffers it is given', () => {
    const n = 12;
    const v = randomFloat32(n ** 3, 110);
    const spec = new Float64Array(2 * n ** 3).fill(Number.NaN);
    expect(fft3(v, n, spec)).toBe(spec);
    const out = new Float32Array(n ** 3).fill(Number.NaN);
    expect(ifft3Real(spec, n, out)).toBe(out);
    expect(relErr(out, v)).toBeLessThan(FLOAT32);
  });
});

describe('WebAssembly memory', () => {
  it('gives the same results after the memory grew for a larger transform (views re-made)', () => {
    const small = randomFloat32(8 ** 3, 120);
    const first = rfft3(small, 8);
    const large = randomFloat32(160 ** 3, 121); // grows the memory past what 128³ needed
    const back = irfft3(rfft3(large, 160), 160, new Float32Array(160 ** 3));
    expect(relErr(back, large)).toBeLessThan(FLOAT32);
    expect(same(rfft3(small, 8), first)).toBe(true);
    const c = randomValues(2 * 6 ** 3, 122);
    const w = c.slice();
    fft3InPlace(w, 6, false);
    expect(relErr(w, naiveComplex3(c, 6, false))).toBeLessThan(F64);
  }, 60_000);
});
