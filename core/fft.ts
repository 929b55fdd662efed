/**
 * The one FFT of subtomo, built on fft.js (radix-4 for powers of two, Bluestein for other even sizes).
 *
 * Layout: complex data is interleaved [re0, im0, re1, im1, …] in a Float64Array, in the same x-fastest
 * order as volumes, so complex index of voxel (x, y, z) is 2*(x + n*(y + n*z)). Spectra are full (not
 * half-complex) and unshifted: frequency index i maps to signed frequency `freqOf(i, n)`. Forward is
 * unnormalised (F(k) = Σ f(x) e^{−2πi k·x/n}); inverse divides by the number of samples, so
 * inverse(forward(f)) = f.
 */
import FFT from 'fft.js';

interface Plan1D {
  readonly n: number;
  /** Complex → complex, interleaved; `out` and `inp` must be distinct; inverse is normalised by 1/n. */
  transform(out: Float64Array, inp: Float64Array, inverse: boolean): void;
}

class Radix2Plan implements Plan1D {
  private readonly fft: FFT;
  constructor(readonly n: number) {
    this.fft = new FFT(n);
  }
  transform(out: Float64Array, inp: Float64Array, inverse: boolean): void {
    if (inverse) this.fft.inverseTransform(out as unknown as number[], inp as unknown as number[]);
    else this.fft.transform(out as unknown as number[], inp as unknown as number[]);
  }
}

/** Chirp-z (Bluestein) for sizes that are not powers of two, e.g. 6, 48, 100. */
class BluesteinPlan implements Plan1D {
  private readonly m: number;
  private readonly inner: Radix2Plan;
  private readonly chirp: Float64Array; // w_k = e^{−iπk²/n}
  private readonly chirpSpectrum: Float64Array; // FFT of conj(w) wrapped to length m
  private readonly a: Float64Array;
  private readonly aSpec: Float64Array;

  constructor(readonly n: number) {
    let m = 4;
    while (m < 2 * n - 1) m *= 2;
    this.m = m;
    this.inner = new Radix2Plan(m);
    this.chirp = new Float64Array(2 * n);
    for (let k = 0; k < n; k++) {
      // k² mod 2n keeps the angle exact for large k
      const ang = (-Math.PI * ((k * k) % (2 * n))) / n;
      this.chirp[2 * k] = Math.cos(ang);
      this.chirp[2 * k + 1] = Math.sin(ang);
    }
    const b = new Float64Array(2 * m);
    for (let k = 0; k < n; k++) {
      const re = this.chirp[2 * k];
      const im = -this.chirp[2 * k + 1];
      b[2 * k] = re;
      b[2 * k + 1] = im;
      if (k > 0) {
        b[2 * (m - k)] = re;
        b[2 * (m - k) + 1] = im;
      }
    }
    this.chirpSpectrum = new Float64Array(2 * m);
    this.inner.transform(this.chirpSpectrum, b, false);
    this.a = new Float64Array(2 * m);
    this.aSpec = new Float64Array(2 * m);
  }

  transform(out: Float64Array, inp: Float64Array, inverse: boolean): void {
    const { n, m, a, aSpec, chirp, chirpSpectrum } = this;
    const s = inverse ? -1 : 1; // inverse = conj(forward(conj(x))) / n
    a.fill(0);
    for (let k = 0; k < n; k++) {
      const xr = inp[2 * k];
      const xi = s * inp[2 * k + 1];
      const wr = chirp[2 * k];
      const wi = chirp[2 * k + 1];
      a[2 * k] = xr * wr - xi * wi;
      a[2 * k + 1] = xr * wi + xi * wr;
    }
    this.inner.transform(aSpec, a, false);
    for (let k = 0; k < m; k++) {
      const ar = aSpec[2 * k];
      const ai = aSpec[2 * k + 1];
      const br = chirpSpectrum[2 * k];
      const bi = chirpSpectrum[2 * k + 1];
      aSpec[2 * k] = ar * br - ai * bi;
      aSpec[2 * k + 1] = ar * bi + ai * br;
    }
    this.inner.transform(a, aSpec, true);
    const scale = inverse ? 1 / n : 1;
    for (let k = 0; k < n; k++) {
      const cr = a[2 * k];
      const ci = a[2 * k + 1];
      const wr = chirp[2 * k];
      const wi = chirp[2 * k + 1];
      out[2 * k] = (cr * wr - ci * wi) * scale;
      out[2 * k + 1] = s * (cr * wi + ci * wr) * scale;
    }
  }
}

const plans = new Map<number, Plan1D>();

/** Cached 1D plan for length n (n ≥ 2). */
export function plan1d(n: number): Plan1D {
  let p = plans.get(n);
  if (!p) {
    if (!Number.isInteger(n) || n < 2) throw new RangeError(`FFT length must be an integer ≥ 2, got ${n}`);
    p = (n & (n - 1)) === 0 && n >= 4 ? new Radix2Plan(n) : new BluesteinPlan(n);
    plans.set(n, p);
  }
  return p;
}

interface Scratch {
  line: Float64Array;
  lineOut: Float64Array;
}
const scratches = new Map<number, Scratch>();
function scratch(n: number): Scratch {
  let s = scratches.get(n);
  if (!s) {
    s = { line: new Float64Array(2 * n), lineOut: new Float64Array(2 * n) };
    scratches.set(n, s);
  }
  return s;
}

/**
 * In-place complex FFT along one axis of an interleaved grid whose axes have the given lengths
 * (x fastest). `axis` 0 = x, 1 = y, 2 = z.
 */
function transformAxis(data: Float64Array, dims: readonly number[], axis: number, inverse: boolean): void {
  const len = dims[axis];
  const p = plan1d(len);
  const { line, lineOut } = scratch(len);
  let stride = 1;
  for (let a = 0; a < axis; a++) stride *= dims[a];
  const total = dims.reduce((x, y) => x * y, 1);
  const outer = total / (stride * len);
  for (let o = 0; o < outer; o++) {
    const base0 = o * stride * len;
    for (let i = 0; i < stride; i++) {
      const base = base0 + i;
      for (let k = 0, j = 2 * base; k < len; k++, j += 2 * stride) {
        line[2 * k] = data[j];
        line[2 * k + 1] = data[j + 1];
      }
      p.transform(lineOut, line, inverse);
      for (let k = 0, j = 2 * base; k < len; k++, j += 2 * stride) {
        data[j] = lineOut[2 * k];
        data[j + 1] = lineOut[2 * k + 1];
      }
    }
  }
}

/** In-place complex FFT of an interleaved n×n×n grid. */
export function fft3InPlace(data: Float64Array, n: number, inverse: boolean): void {
  if (data.length !== 2 * n * n * n) throw new RangeError(`complex ${n}³ grid needs ${2 * n * n * n} values, got ${data.length}`);
  const dims = [n, n, n];
  for (let axis = 0; axis < 3; axis++) transformAxis(data, dims, axis, inverse);
}

/** In-place complex FFT of an interleaved nx×ny image (x fastest). */
export function fft2InPlace(data: Float64Array, nx: number, ny: number, inverse: boolean): void {
  if (data.length !== 2 * nx * ny) throw new RangeError(`complex ${nx}×${ny} image needs ${2 * nx * ny} values, got ${data.length}`);
  const dims = [nx, ny];
  transformAxis(data, dims, 0, inverse);
  transformAxis(data, dims, 1, inverse);
}

/** In-place complex FFT of one interleaved line. */
export function fft1InPlace(data: Float64Array, inverse: boolean): void {
  transformAxis(data, [data.length / 2], 0, inverse);
}

/** Forward 3D FFT of a real n³ volume → full interleaved spectrum (unnormalised). */
export function fft3(real: Float32Array | Float64Array, n: number, out?: Float64Array): Float64Array {
  const len = n * n * n;
  if (real.length !== len) throw new RangeError(`real ${n}³ volume needs ${len} values, got ${real.length}`);
  const spec = out ?? new Float64Array(2 * len);
  for (let i = 0; i < len; i++) {
    spec[2 * i] = real[i];
    spec[2 * i + 1] = 0;
  }
  fft3InPlace(spec, n, false);
  return spec;
}

/** Inverse 3D FFT keeping the real part (the input spectrum is left untouched). */
export function ifft3Real(spec: Float64Array, n: number, out?: Float32Array): Float32Array {
  const len = n * n * n;
  const work = spec.slice();
  fft3InPlace(work, n, true);
  const real = out ?? new Float32Array(len);
  for (let i = 0; i < len; i++) real[i] = work[2 * i];
  return real;
}

/** Swap half-spaces so that frequency 0 / the origin moves to index floor(n/2) on each axis. */
export function fftshift3<T extends Float32Array | Float64Array>(v: T, n: number): T {
  return shift3(v, n, Math.floor(n / 2));
}

/** Inverse of fftshift3 (differs from it only for odd n). */
export function ifftshift3<T extends Float32Array | Float64Array>(v: T, n: number): T {
  return shift3(v, n, Math.ceil(n / 2));
}

function shift3<T extends Float32Array | Float64Array>(v: T, n: number, s: number): T {
  const out = new (v.constructor as { new (len: number): T })(v.length);
  for (let z = 0; z < n; z++) {
    const zz = (z + s) % n;
    for (let y = 0; y < n; y++) {
      const yy = (y + s) % n;
      const src = n * (y + n * z);
      const dst = n * (yy + n * zz);
      for (let x = 0; x < n; x++) out[dst + ((x + s) % n)] = v[src + x];
    }
  }
  return out;
}
