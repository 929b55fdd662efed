/**
 * The one FFT of subtomo: an in-place radix-4/2 kernel for powers of two, Bluestein (chirp-z) on top of it
 * for every other length.
 *
 * Layout: complex data is interleaved [re0, im0, re1, im1, …] in a Float64Array, in the same x-fastest
 * order as volumes, so complex index of voxel (x, y, z) is 2*(x + n*(y + n*z)). Spectra are full (not
 * half-complex) and unshifted: frequency index i maps to signed frequency `freqOf(i, n)`. Forward is
 * unnormalised (F(k) = Σ f(x) e^{−2πi k·x/n}); inverse divides by the number of samples, so
 * inverse(forward(f)) = f.
 *
 * Speed: each pass hands many lines to the kernel at once with the line index innermost, so twiddles are
 * loaded once per butterfly for the whole batch and the y and z passes stream through contiguous rows of a
 * plane without gather/scatter (x lines go in groups of a few, see `transformLines`). Real volumes (`fft3`,
 * `ifft3Real`) go through the half spectrum kx = 0…n/2 (n even): two real x-lines share one complex FFT, only
 * half of the y and z lines are transformed, and the rest of the spectrum follows from Hermitian symmetry.
 * `ifft3Real` keeps one half-spectrum work buffer per module (≈ n³·8 bytes, reused across calls).
 */

interface Plan1D {
  readonly n: number;
  /** Complex → complex, interleaved; `out` and `inp` must be distinct; inverse is normalised by 1/n. */
  transform(out: Float64Array, inp: Float64Array, inverse: boolean): void;
}

/**
 * Unnormalised in-place transforms of `count` lines of one length. Offsets and strides count Float64
 * elements: sample j of line c starts at `base + j*step + c*lineStep`.
 */
interface BatchTransform {
  readonly n: number;
  run(d: Float64Array, base: number, step: number, lineStep: number, count: number, inverse: boolean): void;
}

/** Iterative decimation-in-time FFT: bit-reversal swaps, one radix-2 stage if log2 n is odd, radix-4 stages. */
class Pow2Transform implements BatchTransform {
  private readonly cos: Float64Array; // cos(2πj/n)
  private readonly sin: Float64Array; // −sin(2πj/n): forward twiddle e^{−2πij/n}
  private readonly swaps: Int32Array; // pairs (j, rev(j)) with j < rev(j)
  private readonly oddLog: boolean;

  constructor(readonly n: number) {
    let bits = 0;
    while (1 << bits < n) bits++;
    this.oddLog = bits % 2 === 1;
    this.cos = new Float64Array(n);
    this.sin = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      this.cos[j] = Math.cos((2 * Math.PI * j) / n);
      this.sin[j] = -Math.sin((2 * Math.PI * j) / n);
    }
    const pairs: number[] = [];
    for (let j = 0; j < n; j++) {
      let r = 0;
      for (let b = 0; b < bits; b++) if (j & (1 << b)) r |= 1 << (bits - 1 - b);
      if (j < r) pairs.push(j, r);
    }
    this.swaps = Int32Array.from(pairs);
  }

  run(d: Float64Array, base: number, step: number, lineStep: number, count: number, inverse: boolean): void {
    const { n, swaps } = this;
    const stride = lineStep > 0 ? lineStep : 1; // a single line may come with lineStep 0
    const end = count * stride;
    for (let p = 0; p < swaps.length; p += 2) {
      const a0 = base + swaps[p] * step;
      const b0 = base + swaps[p + 1] * step;
      for (let c = 0; c < end; c += stride) {
        const a = a0 + c;
        const b = b0 + c;
        const re = d[a];
        const im = d[a + 1];
        d[a] = d[b];
        d[a + 1] = d[b + 1];
        d[b] = re;
        d[b + 1] = im;
      }
    }
    let len = 1;
    if (this.oddLog) {
      for (let g = 0; g < n; g += 2) {
        const a0 = base + g * step;
        for (let c = 0; c < end; c += stride) {
          const a = a0 + c;
          const b = a + step;
          const ar = d[a];
          const ai = d[a + 1];
          const br = d[b];
          const bi = d[b + 1];
          d[a] = ar + br;
          d[a + 1] = ai + bi;
          d[b] = ar - br;
          d[b + 1] = ai - bi;
        }
      }
      len = 2;
    }
    // Merge four sub-transforms of length `len`; in bit-reversed order they sit as residues 0, 2, 1, 3.
    const sign = inverse ? -1 : 1;
    const { cos, sin } = this;
    for (; 4 * len <= n; len *= 4) {
      const twStride = n / (4 * len);
      const quarter = len * step;
      for (let g = 0; g < n; g += 4 * len) {
        const g0 = base + g * step;
        radix4Unit(d, g0, quarter, end, stride, sign);
        for (let k = 1; k < len; k++) {
          const t = k * twStride;
          radix4(d, g0 + k * step, quarter, end, stride, sign, cos[t], sign * sin[t], cos[2 * t], sign * sin[2 * t], cos[3 * t], sign * sin[3 * t]);
        }
      }
    }
  }
}

/**
 * One radix-4 butterfly across a batch: inputs at a, a+q, a+2q, a+3q hold sub-transforms of residues
 * 0, 2, 1, 3, twiddled by w2, w1, w3. `sign` is −1 for the inverse transform.
 */
function radix4(
  d: Float64Array, a0: number, q: number, end: number, stride: number, sign: number,
  w1r: number, w1i: number, w2r: number, w2i: number, w3r: number, w3i: number,
): void {
  for (let c = 0; c < end; c += stride) {
    const a = a0 + c;
    const b = a + q;
    const e = b + q;
    const f = e + q;
    const x0r = d[a];
    const x0i = d[a + 1];
    const x2r0 = d[b];
    const x2i0 = d[b + 1];
    const x1r0 = d[e];
    const x1i0 = d[e + 1];
    const x3r0 = d[f];
    const x3i0 = d[f + 1];
    const x1r = x1r0 * w1r - x1i0 * w1i;
    const x1i = x1r0 * w1i + x1i0 * w1r;
    const x2r = x2r0 * w2r - x2i0 * w2i;
    const x2i = x2r0 * w2i + x2i0 * w2r;
    const x3r = x3r0 * w3r - x3i0 * w3i;
    const x3i = x3r0 * w3i + x3i0 * w3r;
    const u0r = x0r + x2r;
    const u0i = x0i + x2i;
    const u1r = x0r - x2r;
    const u1i = x0i - x2i;
    const u2r = x1r + x3r;
    const u2i = x1i + x3i;
    // (−i)·sign·(x1 − x3): the quarter-turn that distinguishes outputs 1 and 3
    const u3r = sign * (x1i - x3i);
    const u3i = -sign * (x1r - x3r);
    d[a] = u0r + u2r;
    d[a + 1] = u0i + u2i;
    d[b] = u1r + u3r;
    d[b + 1] = u1i + u3i;
    d[e] = u0r - u2r;
    d[e + 1] = u0i - u2i;
    d[f] = u1r - u3r;
    d[f + 1] = u1i - u3i;
  }
}

/** `radix4` with all twiddles equal to 1 (the first butterfly of every group, and all of the first stage). */
function radix4Unit(d: Float64Array, a0: number, q: number, end: number, stride: number, sign: number): void {
  for (let c = 0; c < end; c += stride) {
    const a = a0 + c;
    const b = a + q;
    const e = b + q;
    const f = e + q;
    const x0r = d[a];
    const x0i = d[a + 1];
    const x2r = d[b];
    const x2i = d[b + 1];
    const x1r = d[e];
    const x1i = d[e + 1];
    const x3r = d[f];
    const x3i = d[f + 1];
    const u0r = x0r + x2r;
    const u0i = x0i + x2i;
    const u1r = x0r - x2r;
    const u1i = x0i - x2i;
    const u2r = x1r + x3r;
    const u2i = x1i + x3i;
    const u3r = sign * (x1i - x3i);
    const u3i = -sign * (x1r - x3r);
    d[a] = u0r + u2r;
    d[a + 1] = u0i + u2i;
    d[b] = u1r + u3r;
    d[b + 1] = u1i + u3i;
    d[e] = u0r - u2r;
    d[e + 1] = u0i - u2i;
    d[f] = u1r - u3r;
    d[f + 1] = u1i - u3i;
  }
}

/** Chirp-z (Bluestein) for sizes that are not powers of two, e.g. 6, 48, 100. */
class BluesteinTransform implements BatchTransform {
  private readonly m: number;
  private readonly inner: Pow2Transform;
  private readonly chirp: Float64Array; // w_k = e^{−iπk²/n}
  private readonly chirpSpectrum: Float64Array; // FFT of conj(w) wrapped to length m, divided by m
  private readonly a: Float64Array;

  constructor(readonly n: number) {
    let m = 4;
    while (m < 2 * n - 1) m *= 2;
    this.m = m;
    this.inner = new Pow2Transform(m);
    this.chirp = new Float64Array(2 * n);
    for (let k = 0; k < n; k++) {
      // k² mod 2n keeps the angle exact for large k
      const ang = (-Math.PI * ((k * k) % (2 * n))) / n;
      this.chirp[2 * k] = Math.cos(ang);
      this.chirp[2 * k + 1] = Math.sin(ang);
    }
    const b = new Float64Array(2 * m);
    for (let k = 0; k < n; k++) {
      const re = this.chirp[2 * k] / m; // the 1/m of the inner inverse transform, folded in once
      const im = -this.chirp[2 * k + 1] / m;
      b[2 * k] = re;
      b[2 * k + 1] = im;
      if (k > 0) {
        b[2 * (m - k)] = re;
        b[2 * (m - k) + 1] = im;
      }
    }
    this.inner.run(b, 0, 2, 0, 1, false);
    this.chirpSpectrum = b;
    this.a = new Float64Array(2 * m);
  }

  run(d: Float64Array, base: number, step: number, lineStep: number, count: number, inverse: boolean): void {
    for (let c = 0; c < count; c++) this.line(d, base + c * lineStep, step, inverse);
  }

  private line(d: Float64Array, base: number, step: number, inverse: boolean): void {
    const { n, m, a, chirp, chirpSpectrum } = this;
    const s = inverse ? -1 : 1; // inverse = conj(forward(conj(x)))
    a.fill(0);
    for (let k = 0, j = base; k < n; k++, j += step) {
      const xr = d[j];
      const xi = s * d[j + 1];
      const wr = chirp[2 * k];
      const wi = chirp[2 * k + 1];
      a[2 * k] = xr * wr - xi * wi;
      a[2 * k + 1] = xr * wi + xi * wr;
    }
    this.inner.run(a, 0, 2, 0, 1, false);
    for (let k = 0; k < m; k++) {
      const ar = a[2 * k];
      const ai = a[2 * k + 1];
      const br = chirpSpectrum[2 * k];
      const bi = chirpSpectrum[2 * k + 1];
      a[2 * k] = ar * br - ai * bi;
      a[2 * k + 1] = ar * bi + ai * br;
    }
    this.inner.run(a, 0, 2, 0, 1, true);
    for (let k = 0, j = base; k < n; k++, j += step) {
      const cr = a[2 * k];
      const ci = a[2 * k + 1];
      const wr = chirp[2 * k];
      const wi = chirp[2 * k + 1];
      d[j] = cr * wr - ci * wi;
      d[j + 1] = s * (cr * wi + ci * wr);
    }
  }
}

const batches = new Map<number, BatchTransform>();

function batchTransform(n: number): BatchTransform {
  let t = batches.get(n);
  if (!t) {
    if (!Number.isInteger(n) || n < 2) throw new RangeError(`FFT length must be an integer ≥ 2, got ${n}`);
    t = (n & (n - 1)) === 0 ? new Pow2Transform(n) : new BluesteinTransform(n);
    batches.set(n, t);
  }
  return t;
}

const plans = new Map<number, Plan1D>();

/** Cached 1D plan for length n (n ≥ 2). */
export function plan1d(n: number): Plan1D {
  let p = plans.get(n);
  if (!p) {
    const t = batchTransform(n);
    p = {
      n,
      transform(out: Float64Array, inp: Float64Array, inverse: boolean): void {
        if (out === inp) throw new RangeError('plan1d transform: out and inp must be distinct arrays');
        for (let i = 0; i < 2 * n; i++) out[i] = inp[i];
        t.run(out, 0, 2, 0, 1, inverse);
        if (inverse) scale(out, 2 * n, 1 / n);
      },
    };
    plans.set(n, p);
  }
  return p;
}

function scale(d: Float64Array, length: number, factor: number): void {
  for (let i = 0; i < length; i++) d[i] *= factor;
}

/**
 * Lines that are contiguous (x lines) go through the batch kernel a few at a time: a large batch of lines a
 * power-of-two stride apart maps onto a handful of cache sets and thrashes the cache.
 */
const LINE_GROUP = 8;

function transformLines(t: BatchTransform, d: Float64Array, base: number, lineStep: number, count: number, inverse: boolean): void {
  for (let c = 0; c < count; c += LINE_GROUP) {
    t.run(d, base + c * lineStep, 2, lineStep, Math.min(LINE_GROUP, count - c), inverse);
  }
}

/**
 * Unnormalised in-place transform along y and z of the columns x < cols of a complex grid with rows of
 * `rowLen` complex values, `n` rows per plane and `n` planes (x-lines must already be transformed).
 * Each call transforms a whole plane's worth of lines with contiguous rows of `cols` values.
 */
function transformYZ(d: Float64Array, n: number, rowLen: number, cols: number, inverse: boolean): void {
  const t = batchTransform(n);
  const row = 2 * rowLen;
  const plane = n * row;
  for (let z = 0; z < n; z++) t.run(d, z * plane, row, 2, cols, inverse);
  for (let y = 0; y < n; y++) t.run(d, y * row, plane, 2, cols, inverse);
}

/** In-place complex FFT of an interleaved n×n×n grid. */
export function fft3InPlace(data: Float64Array, n: number, inverse: boolean): void {
  if (data.length !== 2 * n * n * n) throw new RangeError(`complex ${n}³ grid needs ${2 * n * n * n} values, got ${data.length}`);
  const t = batchTransform(n);
  transformLines(t, data, 0, 2 * n, n * n, inverse);
  transformYZ(data, n, n, n, inverse);
  if (inverse) scale(data, data.length, 1 / (n * n * n));
}

/** In-place complex FFT of an interleaved nx×ny image (x fastest). */
export function fft2InPlace(data: Float64Array, nx: number, ny: number, inverse: boolean): void {
  if (data.length !== 2 * nx * ny) throw new RangeError(`complex ${nx}×${ny} image needs ${2 * nx * ny} values, got ${data.length}`);
  transformLines(batchTransform(nx), data, 0, 2 * nx, ny, inverse);
  batchTransform(ny).run(data, 0, 2 * nx, 2, nx, inverse);
  if (inverse) scale(data, data.length, 1 / (nx * ny));
}

/** In-place complex FFT of one interleaved line. */
export function fft1InPlace(data: Float64Array, inverse: boolean): void {
  const n = data.length / 2;
  batchTransform(n).run(data, 0, 2, 0, 1, inverse);
  if (inverse) scale(data, data.length, 1 / n);
}

/** Forward 3D FFT of a real n³ volume → full interleaved spectrum (unnormalised). */
export function fft3(real: Float32Array | Float64Array, n: number, out?: Float64Array): Float64Array {
  const len = n * n * n;
  if (real.length !== len) throw new RangeError(`real ${n}³ volume needs ${len} values, got ${real.length}`);
  const spec = out ?? new Float64Array(2 * len);
  if (spec.length !== 2 * len) throw new RangeError(`spectrum of ${n}³ needs ${2 * len} values, got ${spec.length}`);
  if (n % 2 === 1) {
    for (let i = 0; i < len; i++) {
      spec[2 * i] = real[i];
      spec[2 * i + 1] = 0;
    }
    fft3InPlace(spec, n, false);
    return spec;
  }
  const half = n / 2 + 1;
  const row = 2 * n;
  const t = batchTransform(n);
  // Rows y = 2p and 2p+1 of each plane share one complex FFT: row 2p holds (a + i·b) during the transform.
  for (let z = 0; z < n; z++) {
    const planeBase = z * n * row;
    for (let y = 0; y < n; y += 2) {
      const src = n * (y + n * z);
      const dst = planeBase + y * row;
      for (let x = 0; x < n; x++) {
        spec[dst + 2 * x] = real[src + x];
        spec[dst + 2 * x + 1] = real[src + n + x];
      }
    }
    transformLines(t, spec, planeBase, 2 * row, n / 2, false);
    for (let y = 0; y < n; y += 2) {
      const ra = planeBase + y * row;
      const rb = ra + row;
      // A(k) = (C(k) + conj C(n−k))/2, B(k) = (C(k) − conj C(n−k))/(2i); only k ≤ n/2 is kept.
      for (let k = 0; k < half; k++) {
        const p = ra + 2 * k;
        const q = k === 0 ? ra : ra + 2 * (n - k);
        const cr = spec[p];
        const ci = spec[p + 1];
        const dr = spec[q];
        const di = spec[q + 1];
        spec[p] = 0.5 * (cr + dr);
        spec[p + 1] = 0.5 * (ci - di);
        spec[rb + 2 * k] = 0.5 * (ci + di);
        spec[rb + 2 * k + 1] = 0.5 * (dr - cr);
      }
    }
  }
  transformYZ(spec, n, n, half, false);
  // The remaining kx > n/2 follow from Hermitian symmetry F(k) = conj F(−k).
  for (let z = 0; z < n; z++) {
    const zm = (n - z) % n;
    for (let y = 0; y < n; y++) {
      const dst = 2 * n * (y + n * z);
      const src = 2 * n * ((n - y) % n + n * zm);
      for (let x = half; x < n; x++) {
        spec[dst + 2 * x] = spec[src + 2 * (n - x)];
        spec[dst + 2 * x + 1] = -spec[src + 2 * (n - x) + 1];
      }
    }
  }
  return spec;
}

let halfWork = new Float64Array(0);
let lineWork = new Float64Array(0);

/** Inverse 3D FFT keeping the real part (the input spectrum is left untouched). */
export function ifft3Real(spec: Float64Array, n: number, out?: Float32Array): Float32Array {
  const len = n * n * n;
  if (spec.length !== 2 * len) throw new RangeError(`spectrum of ${n}³ needs ${2 * len} values, got ${spec.length}`);
  const real = out ?? new Float32Array(len);
  if (real.length !== len) throw new RangeError(`real ${n}³ volume needs ${len} values, got ${real.length}`);
  if (n % 2 === 1) {
    const work = spec.slice();
    fft3InPlace(work, n, true);
    for (let i = 0; i < len; i++) real[i] = work[2 * i];
    return real;
  }
  const half = n / 2 + 1;
  const hrow = 2 * half;
  if (halfWork.length !== n * n * hrow) halfWork = new Float64Array(n * n * hrow);
  if (lineWork.length !== n * n) lineWork = new Float64Array(n * n);
  const h = halfWork;
  // Re F⁻¹(S) = F⁻¹(H) with the Hermitian part H(k) = (S(k) + conj S(−k))/2, which is fixed by kx ≤ n/2.
  // The 1/n³ of the inverse is folded in here.
  const c = 0.5 / len;
  for (let z = 0; z < n; z++) {
    const zm = (n - z) % n;
    for (let y = 0; y < n; y++) {
      const dst = hrow * (y + n * z);
      const src = 2 * n * (y + n * z);
      const mir = 2 * n * ((n - y) % n + n * zm);
      for (let x = 0; x < half; x++) {
        const p = src + 2 * x;
        const q = x === 0 ? mir : mir + 2 * (n - x);
        h[dst + 2 * x] = c * (spec[p] + spec[q]);
        h[dst + 2 * x + 1] = c * (spec[p + 1] - spec[q + 1]);
      }
    }
  }
  transformYZ(h, n, half, half, true);
  // Rows y = 2p and 2p+1 of a plane (spectra A and B of real lines a and b) share one inverse FFT of A + i·B.
  const t = batchTransform(n);
  const w = lineWork;
  const wrow = 2 * n;
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y += 2) {
      const ra = hrow * (y + n * z);
      const rb = ra + hrow;
      const dst = (y / 2) * wrow;
      for (let k = 0; k < half; k++) {
        const ar = h[ra + 2 * k];
        const ai = h[ra + 2 * k + 1];
        const br = h[rb + 2 * k];
        const bi = h[rb + 2 * k + 1];
        w[dst + 2 * k] = ar - bi;
        w[dst + 2 * k + 1] = ai + br;
        if (k > 0 && k < n - k) {
          // C(n−k) = conj A(k) + i·conj B(k)
          w[dst + 2 * (n - k)] = ar + bi;
          w[dst + 2 * (n - k) + 1] = br - ai;
        }
      }
    }
    transformLines(t, w, 0, wrow, n / 2, true);
    for (let y = 0; y < n; y += 2) {
      const src = (y / 2) * wrow;
      const dst = n * (y + n * z);
      for (let x = 0; x < n; x++) {
        real[dst + x] = w[src + 2 * x];
        real[dst + n + x] = w[src + 2 * x + 1];
      }
    }
  }
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
