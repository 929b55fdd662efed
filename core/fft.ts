/**
 * The one FFT of subtomo: a batched mixed-radix Cooley–Tukey kernel (radices 2, 3, 4, 5, and 8 for the first
 * stage) for every length 2^a·3^b·5^c, Bluestein (chirp-z) on top of it for lengths with a larger prime factor.
 *
 * Layout: complex data is interleaved [re0, im0, re1, im1, …] in a Float64Array, in the same x-fastest
 * order as volumes, so complex index of voxel (x, y, z) is 2*(x + n*(y + n*z)). Full spectra are unshifted:
 * frequency index i maps to signed frequency `freqOf(i, n)`. Half spectra (`rfft3`, `irfft3`, numpy's rfftn
 * layout) keep kx = 0…⌊n/2⌋ only, h = ⌊n/2⌋ + 1 columns: kx fastest, complex index 2*(kx + h*(ky + n*kz));
 * the other columns follow from F(kx, ky, kz) = conj F(n−kx, −ky, −kz). Forward is unnormalised
 * (F(k) = Σ f(x) e^{−2πi k·x/n}); inverse divides by the number of samples, so inverse(forward(f)) = f.
 *
 * Two implementations of the 3D transforms, tested against each other and against naive DFTs:
 * - WebAssembly with 128-bit SIMD (core/fftWasm.ts, kernels in wasm/fft.ts): what `fft3`, `ifft3Real`,
 *   `fft3InPlace`, `rfft3` and `irfft3` run for every 2^a·3^b·5^c size (even sizes for the real transforms)
 *   whenever the engine has WebAssembly (Node always has); `fftBackend(n)` says which path a size takes.
 * - The JavaScript kernels below (`…Reference`): the reference the tests compare against, and what runs for
 *   sizes with a prime factor above 5 (Bluestein), odd real sizes, the 1D and 2D transforms, and everything
 *   in an engine without WebAssembly.
 * Real volumes go through the half spectrum in both: only kx ≤ n/2 is transformed along y and z, and the full
 * spectrum of `fft3` is filled in by Hermitian symmetry.
 *
 * JavaScript kernels: each pass hands many lines to the kernel at once with the line index innermost, so
 * twiddles are loaded once per butterfly for the whole batch (x lines, which are contiguous, go in groups,
 * see `transformLines`). A 3D transform takes two sweeps over the volume: one xz slab (fixed y) at a time,
 * copied into contiguous scratch for its x and z lines (z lines straight in the volume would run over planes
 * a power of two apart, which map onto a few cache sets), and one plane at a time for its y lines, which are
 * contiguous rows. Every copy that is made anyway also puts the samples in the kernel's digit-reversed order.
 * For real volumes (n even) two real x-lines share one complex FFT. The module keeps its scratch buffers
 * across calls; the largest, used by `ifft3RealReference`, holds a half spectrum (≈ n³·8 bytes).
 */
import { digitReversal } from './fftDigits.ts';
import { fft3cWasm, irfft3Wasm, rfft3Wasm, wasmComplexSize, wasmRealSize } from './fftWasm.ts';

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
  /** Position p of a line holds sample order[p] before `runOrdered`; slot is the inverse permutation. */
  readonly order: Int32Array;
  readonly slot: Int32Array;
  /** Lines in natural order in, natural order out. */
  run(d: Float64Array, base: number, step: number, lineStep: number, count: number, inverse: boolean): void;
  /** Lines whose samples are already placed by `order` in, natural order out. */
  runOrdered(d: Float64Array, base: number, step: number, lineStep: number, count: number, inverse: boolean): void;
}

/**
 * The radices of n = 2^a·3^b·5^c in stage order, or null when n has a prime factor above 5: an 8 first when a
 * is odd (a = 1: a 2), then 5s, 3s and 4s. The first stage needs no twiddles, which is where an 8-point
 * butterfly stays within the registers.
 */
function radicesOf(n: number): number[] | null {
  const radices: number[] = [];
  let m = n;
  for (const r of [5, 3]) {
    for (; m % r === 0; m /= r) radices.push(r);
  }
  if ((m & (m - 1)) !== 0) return null;
  let bits = 0;
  while (1 << bits < m) bits++;
  if (bits % 2 === 1) radices.unshift(bits === 1 ? 2 : 8);
  for (let b = bits === 1 ? 1 : bits % 2 === 1 ? 3 : 0; b < bits; b += 2) radices.push(4);
  return radices;
}

interface Stage {
  readonly radix: number;
  /** Length of the sub-transforms this stage merges, radix at a time. */
  readonly len: number;
  /** Twiddles e^{∓2πi·q·k/(radix·len)} for k = 0…len−1 (outer), q = 1…radix−1 (inner), interleaved. */
  readonly forward: Float64Array;
  readonly inverse: Float64Array;
}

/**
 * Mixed-radix decimation in time (Cooley–Tukey with radices 2, 3, 4, 5, 8): the input is put in digit-reversed
 * order, then stage s merges `radix` adjacent sub-transforms of length len = r_1⋯r_{s−1} in place: butterfly k
 * reads sub-transform q at offset k + q·len, twiddles it by e^{−2πi·q·k/(radix·len)} and takes a radix-point
 * DFT whose output p goes to offset k + p·len. Every butterfly runs across the whole batch of lines.
 */
class MixedRadixTransform implements BatchTransform {
  readonly order: Int32Array;
  readonly slot: Int32Array;
  private readonly stages: readonly Stage[];
  /** `order` as cycles [L, p0, …, p_{L−1}]: p_i receives p_{i+1}, p_{L−1} receives p0 (for `run`). */
  private readonly cycles: Int32Array;
  private tmp = new Float64Array(0);

  constructor(readonly n: number, radices: readonly number[]) {
    const { order, slot } = digitReversal(n, radices);
    this.order = order;
    this.slot = slot;
    const cycles: number[] = [];
    const seen = new Uint8Array(n);
    for (let p0 = 0; p0 < n; p0++) {
      if (seen[p0] || order[p0] === p0) continue;
      const head = cycles.length;
      cycles.push(0);
      for (let p = p0; !seen[p]; p = order[p]) {
        seen[p] = 1;
        cycles.push(p);
      }
      cycles[head] = cycles.length - head - 1;
    }
    this.cycles = Int32Array.from(cycles);

    const stages: Stage[] = [];
    let len = 1;
    for (const radix of radices) {
      const span = radix * len;
      const forward = new Float64Array(2 * (radix - 1) * len);
      const inverse = new Float64Array(forward.length);
      for (let k = 0; k < len; k++) {
        for (let q = 1; q < radix; q++) {
          const ang = (-2 * Math.PI * ((q * k) % span)) / span;
          const t = 2 * ((radix - 1) * k + q - 1);
          forward[t] = inverse[t] = Math.cos(ang);
          forward[t + 1] = Math.sin(ang);
          inverse[t + 1] = -forward[t + 1];
        }
      }
      stages.push({ radix, len, forward, inverse });
      len = span;
    }
    this.stages = stages;
  }

  run(d: Float64Array, base: number, step: number, lineStep: number, count: number, inverse: boolean): void {
    const stride = lineStep > 0 ? lineStep : 1; // a single line may come with lineStep 0
    this.permute(d, base, step, count * stride, stride, count);
    this.runOrdered(d, base, step, lineStep, count, inverse);
  }

  runOrdered(d: Float64Array, base: number, step: number, lineStep: number, count: number, inverse: boolean): void {
    const stride = lineStep > 0 ? lineStep : 1;
    const end = count * stride;
    const sign = inverse ? -1 : 1;
    for (const s of this.stages) {
      runStage(d, base, step, end, stride, this.n, s.radix, s.len, inverse ? s.inverse : s.forward, sign);
    }
  }

  private permute(d: Float64Array, base: number, step: number, end: number, stride: number, count: number): void {
    const { cycles } = this;
    if (this.tmp.length < 2 * count) this.tmp = new Float64Array(2 * count);
    const tmp = this.tmp;
    for (let i = 0; i < cycles.length; i += cycles[i] + 1) {
      const length = cycles[i];
      const first = base + cycles[i + 1] * step;
      if (length === 2) {
        const second = base + cycles[i + 2] * step;
        for (let c = 0; c < end; c += stride) {
          const a = first + c;
          const b = second + c;
          const re = d[a];
          const im = d[a + 1];
          d[a] = d[b];
          d[a + 1] = d[b + 1];
          d[b] = re;
          d[b + 1] = im;
        }
        continue;
      }
      for (let c = 0, t = 0; c < end; c += stride, t += 2) {
        tmp[t] = d[first + c];
        tmp[t + 1] = d[first + c + 1];
      }
      for (let e = 1; e < length; e++) {
        const to = base + cycles[i + e] * step;
        const from = base + cycles[i + e + 1] * step;
        for (let c = 0; c < end; c += stride) {
          d[to + c] = d[from + c];
          d[to + c + 1] = d[from + c + 1];
        }
      }
      const last = base + cycles[i + length] * step;
      for (let c = 0, t = 0; c < end; c += stride, t += 2) {
        d[last + c] = tmp[t];
        d[last + c + 1] = tmp[t + 1];
      }
    }
  }
}

/** One DIT stage: every group of radix·len samples, butterfly k = 0 without twiddles, then k = 1…len−1. */
function runStage(
  d: Float64Array, base: number, step: number, end: number, stride: number, n: number,
  radix: number, len: number, tw: Float64Array, sign: number,
): void {
  const q = len * step;
  const span = radix * q;
  const last = base + n * step;
  switch (radix) {
    case 2:
      for (let g = base; g < last; g += span) {
        radix2Unit(d, g, q, end, stride);
        for (let k = 1; k < len; k++) radix2(d, g + k * step, q, end, stride, tw, 2 * k);
      }
      break;
    case 3:
      for (let g = base; g < last; g += span) {
        radix3Unit(d, g, q, end, stride, sign);
        for (let k = 1; k < len; k++) radix3(d, g + k * step, q, end, stride, sign, tw, 4 * k);
      }
      break;
    case 4:
      for (let g = base; g < last; g += span) {
        radix4Unit(d, g, q, end, stride, sign);
        for (let k = 1; k < len; k++) radix4(d, g + k * step, q, end, stride, sign, tw, 6 * k);
      }
      break;
    case 5:
      for (let g = base; g < last; g += span) {
        radix5Unit(d, g, q, end, stride, sign);
        for (let k = 1; k < len; k++) radix5(d, g + k * step, q, end, stride, sign, tw, 8 * k);
      }
      break;
    default: // 8, only as the first stage (len = 1)
      for (let g = base; g < last; g += span) radix8Unit(d, g, q, end, stride, sign);
  }
}

// Butterflies across a batch: the inputs of line c sit at a0 + c + j·q (j = 0…radix−1), sub-transform j
// twiddled by tw[t + 2(j−1)…]; the radix-point DFT overwrites them in natural order. `sign` is −1 for the
// inverse transform (it turns the roots of unity of the radix-point DFT around).

function radix2(d: Float64Array, a0: number, q: number, end: number, stride: number, tw: Float64Array, t: number): void {
  const wr = tw[t];
  const wi = tw[t + 1];
  for (let c = 0; c < end; c += stride) {
    const a = a0 + c;
    const b = a + q;
    const yr = d[b];
    const yi = d[b + 1];
    const x1r = yr * wr - yi * wi;
    const x1i = yr * wi + yi * wr;
    const x0r = d[a];
    const x0i = d[a + 1];
    d[a] = x0r + x1r;
    d[a + 1] = x0i + x1i;
    d[b] = x0r - x1r;
    d[b + 1] = x0i - x1i;
  }
}

function radix2Unit(d: Float64Array, a0: number, q: number, end: number, stride: number): void {
  for (let c = 0; c < end; c += stride) {
    const a = a0 + c;
    const b = a + q;
    const x0r = d[a];
    const x0i = d[a + 1];
    const x1r = d[b];
    const x1i = d[b + 1];
    d[a] = x0r + x1r;
    d[a + 1] = x0i + x1i;
    d[b] = x0r - x1r;
    d[b + 1] = x0i - x1i;
  }
}

const SIN_60 = Math.sqrt(3) / 2;

function radix3(
  d: Float64Array, a0: number, q: number, end: number, stride: number, sign: number, tw: Float64Array, t: number,
): void {
  const w1r = tw[t];
  const w1i = tw[t + 1];
  const w2r = tw[t + 2];
  const w2i = tw[t + 3];
  const s = sign * SIN_60;
  for (let c = 0; c < end; c += stride) {
    const a = a0 + c;
    const b = a + q;
    const e = b + q;
    const y1r = d[b];
    const y1i = d[b + 1];
    const y2r = d[e];
    const y2i = d[e + 1];
    const x1r = y1r * w1r - y1i * w1i;
    const x1i = y1r * w1i + y1i * w1r;
    const x2r = y2r * w2r - y2i * w2i;
    const x2i = y2r * w2i + y2i * w2r;
    const x0r = d[a];
    const x0i = d[a + 1];
    // X_{1,2} = x0 − (x1 + x2)/2 ∓ i·sign·sin 60°·(x1 − x2)
    const sr = x1r + x2r;
    const si = x1i + x2i;
    const mr = x0r - 0.5 * sr;
    const mi = x0i - 0.5 * si;
    const rr = s * (x1i - x2i);
    const ri = -s * (x1r - x2r);
    d[a] = x0r + sr;
    d[a + 1] = x0i + si;
    d[b] = mr + rr;
    d[b + 1] = mi + ri;
    d[e] = mr - rr;
    d[e + 1] = mi - ri;
  }
}

function radix3Unit(d: Float64Array, a0: number, q: number, end: number, stride: number, sign: number): void {
  const s = sign * SIN_60;
  for (let c = 0; c < end; c += stride) {
    const a = a0 + c;
    const b = a + q;
    const e = b + q;
    const x0r = d[a];
    const x0i = d[a + 1];
    const x1r = d[b];
    const x1i = d[b + 1];
    const x2r = d[e];
    const x2i = d[e + 1];
    const sr = x1r + x2r;
    const si = x1i + x2i;
    const mr = x0r - 0.5 * sr;
    const mi = x0i - 0.5 * si;
    const rr = s * (x1i - x2i);
    const ri = -s * (x1r - x2r);
    d[a] = x0r + sr;
    d[a + 1] = x0i + si;
    d[b] = mr + rr;
    d[b + 1] = mi + ri;
    d[e] = mr - rr;
    d[e + 1] = mi - ri;
  }
}

function radix4(
  d: Float64Array, a0: number, q: number, end: number, stride: number, sign: number, tw: Float64Array, t: number,
): void {
  const w1r = tw[t];
  const w1i = tw[t + 1];
  const w2r = tw[t + 2];
  const w2i = tw[t + 3];
  const w3r = tw[t + 4];
  const w3i = tw[t + 5];
  for (let c = 0; c < end; c += stride) {
    const a = a0 + c;
    const b = a + q;
    const e = b + q;
    const f = e + q;
    const y1r = d[b];
    const y1i = d[b + 1];
    const y2r = d[e];
    const y2i = d[e + 1];
    const y3r = d[f];
    const y3i = d[f + 1];
    const x1r = y1r * w1r - y1i * w1i;
    const x1i = y1r * w1i + y1i * w1r;
    const x2r = y2r * w2r - y2i * w2i;
    const x2i = y2r * w2i + y2i * w2r;
    const x3r = y3r * w3r - y3i * w3i;
    const x3i = y3r * w3i + y3i * w3r;
    const x0r = d[a];
    const x0i = d[a + 1];
    const u0r = x0r + x2r;
    const u0i = x0i + x2i;
    const u1r = x0r - x2r;
    const u1i = x0i - x2i;
    const u2r = x1r + x3r;
    const u2i = x1i + x3i;
    // −i·sign·(x1 − x3): the quarter turn that tells outputs 1 and 3 apart
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

function radix4Unit(d: Float64Array, a0: number, q: number, end: number, stride: number, sign: number): void {
  for (let c = 0; c < end; c += stride) {
    const a = a0 + c;
    const b = a + q;
    const e = b + q;
    const f = e + q;
    const x0r = d[a];
    const x0i = d[a + 1];
    const x1r = d[b];
    const x1i = d[b + 1];
    const x2r = d[e];
    const x2i = d[e + 1];
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

const COS_72 = Math.cos((2 * Math.PI) / 5);
const COS_144 = Math.cos((4 * Math.PI) / 5);
const SIN_72 = Math.sin((2 * Math.PI) / 5);
const SIN_144 = Math.sin((4 * Math.PI) / 5);

function radix5(
  d: Float64Array, a0: number, q: number, end: number, stride: number, sign: number, tw: Float64Array, t: number,
): void {
  const w1r = tw[t];
  const w1i = tw[t + 1];
  const w2r = tw[t + 2];
  const w2i = tw[t + 3];
  const w3r = tw[t + 4];
  const w3i = tw[t + 5];
  const w4r = tw[t + 6];
  const w4i = tw[t + 7];
  const s1 = sign * SIN_72;
  const s2 = sign * SIN_144;
  for (let c = 0; c < end; c += stride) {
    const a = a0 + c;
    const b = a + q;
    const e = b + q;
    const f = e + q;
    const h = f + q;
    const y1r = d[b];
    const y1i = d[b + 1];
    const y2r = d[e];
    const y2i = d[e + 1];
    const y3r = d[f];
    const y3i = d[f + 1];
    const y4r = d[h];
    const y4i = d[h + 1];
    const x1r = y1r * w1r - y1i * w1i;
    const x1i = y1r * w1i + y1i * w1r;
    const x2r = y2r * w2r - y2i * w2i;
    const x2i = y2r * w2i + y2i * w2r;
    const x3r = y3r * w3r - y3i * w3i;
    const x3i = y3r * w3i + y3i * w3r;
    const x4r = y4r * w4r - y4i * w4i;
    const x4i = y4r * w4i + y4i * w4r;
    const x0r = d[a];
    const x0i = d[a + 1];
    // Outputs 1 and 4 (2 and 3) share the even part cos·(x1 + x4) + cos·(x2 + x3) and differ in the sign of the odd part.
    const t1r = x1r + x4r;
    const t1i = x1i + x4i;
    const t2r = x2r + x3r;
    const t2i = x2i + x3i;
    const t3r = x1r - x4r;
    const t3i = x1i - x4i;
    const t4r = x2r - x3r;
    const t4i = x2i - x3i;
    const p1r = x0r + COS_72 * t1r + COS_144 * t2r;
    const p1i = x0i + COS_72 * t1i + COS_144 * t2i;
    const p2r = x0r + COS_144 * t1r + COS_72 * t2r;
    const p2i = x0i + COS_144 * t1i + COS_72 * t2i;
    const o1r = s1 * t3i + s2 * t4i;
    const o1i = -(s1 * t3r + s2 * t4r);
    const o2r = s2 * t3i - s1 * t4i;
    const o2i = s1 * t4r - s2 * t3r;
    d[a] = x0r + t1r + t2r;
    d[a + 1] = x0i + t1i + t2i;
    d[b] = p1r + o1r;
    d[b + 1] = p1i + o1i;
    d[e] = p2r + o2r;
    d[e + 1] = p2i + o2i;
    d[f] = p2r - o2r;
    d[f + 1] = p2i - o2i;
    d[h] = p1r - o1r;
    d[h + 1] = p1i - o1i;
  }
}

function radix5Unit(d: Float64Array, a0: number, q: number, end: number, stride: number, sign: number): void {
  const s1 = sign * SIN_72;
  const s2 = sign * SIN_144;
  for (let c = 0; c < end; c += stride) {
    const a = a0 + c;
    const b = a + q;
    const e = b + q;
    const f = e + q;
    const h = f + q;
    const x0r = d[a];
    const x0i = d[a + 1];
    const x1r = d[b];
    const x1i = d[b + 1];
    const x2r = d[e];
    const x2i = d[e + 1];
    const x3r = d[f];
    const x3i = d[f + 1];
    const x4r = d[h];
    const x4i = d[h + 1];
    const t1r = x1r + x4r;
    const t1i = x1i + x4i;
    const t2r = x2r + x3r;
    const t2i = x2i + x3i;
    const t3r = x1r - x4r;
    const t3i = x1i - x4i;
    const t4r = x2r - x3r;
    const t4i = x2i - x3i;
    const p1r = x0r + COS_72 * t1r + COS_144 * t2r;
    const p1i = x0i + COS_72 * t1i + COS_144 * t2i;
    const p2r = x0r + COS_144 * t1r + COS_72 * t2r;
    const p2i = x0i + COS_144 * t1i + COS_72 * t2i;
    const o1r = s1 * t3i + s2 * t4i;
    const o1i = -(s1 * t3r + s2 * t4r);
    const o2r = s2 * t3i - s1 * t4i;
    const o2i = s1 * t4r - s2 * t3r;
    d[a] = x0r + t1r + t2r;
    d[a + 1] = x0i + t1i + t2i;
    d[b] = p1r + o1r;
    d[b + 1] = p1i + o1i;
    d[e] = p2r + o2r;
    d[e + 1] = p2i + o2i;
    d[f] = p2r - o2r;
    d[f + 1] = p2i - o2i;
    d[h] = p1r - o1r;
    d[h + 1] = p1i - o1i;
  }
}

const SQRT_HALF = Math.SQRT1_2;

/** 8-point DFT without twiddles: two 4-point DFTs of the even and odd samples, the odd one turned by e^{∓iπp/4}. */
function radix8Unit(d: Float64Array, a0: number, q: number, end: number, stride: number, sign: number): void {
  for (let c = 0; c < end; c += stride) {
    const i0 = a0 + c;
    const i1 = i0 + q;
    const i2 = i1 + q;
    const i3 = i2 + q;
    const i4 = i3 + q;
    const i5 = i4 + q;
    const i6 = i5 + q;
    const i7 = i6 + q;
    // even samples 0, 2, 4, 6
    const a0r = d[i0] + d[i4];
    const a0i = d[i0 + 1] + d[i4 + 1];
    const a1r = d[i0] - d[i4];
    const a1i = d[i0 + 1] - d[i4 + 1];
    const a2r = d[i2] + d[i6];
    const a2i = d[i2 + 1] + d[i6 + 1];
    const a3r = sign * (d[i2 + 1] - d[i6 + 1]);
    const a3i = -sign * (d[i2] - d[i6]);
    const e0r = a0r + a2r;
    const e0i = a0i + a2i;
    const e2r = a0r - a2r;
    const e2i = a0i - a2i;
    const e1r = a1r + a3r;
    const e1i = a1i + a3i;
    const e3r = a1r - a3r;
    const e3i = a1i - a3i;
    // odd samples 1, 3, 5, 7
    const b0r = d[i1] + d[i5];
    const b0i = d[i1 + 1] + d[i5 + 1];
    const b1r = d[i1] - d[i5];
    const b1i = d[i1 + 1] - d[i5 + 1];
    const b2r = d[i3] + d[i7];
    const b2i = d[i3 + 1] + d[i7 + 1];
    const b3r = sign * (d[i3 + 1] - d[i7 + 1]);
    const b3i = -sign * (d[i3] - d[i7]);
    const o0r = b0r + b2r;
    const o0i = b0i + b2i;
    const o2r = b0r - b2r;
    const o2i = b0i - b2i;
    const o1r = b1r + b3r;
    const o1i = b1i + b3i;
    const o3r = b1r - b3r;
    const o3i = b1i - b3i;
    // turned by (1 ∓ i)/√2, ∓i and (−1 ∓ i)/√2
    const t1r = SQRT_HALF * (o1r + sign * o1i);
    const t1i = SQRT_HALF * (o1i - sign * o1r);
    const t2r = sign * o2i;
    const t2i = -sign * o2r;
    const t3r = SQRT_HALF * (sign * o3i - o3r);
    const t3i = -SQRT_HALF * (o3i + sign * o3r);
    d[i0] = e0r + o0r;
    d[i0 + 1] = e0i + o0i;
    d[i4] = e0r - o0r;
    d[i4 + 1] = e0i - o0i;
    d[i1] = e1r + t1r;
    d[i1 + 1] = e1i + t1i;
    d[i5] = e1r - t1r;
    d[i5 + 1] = e1i - t1i;
    d[i2] = e2r + t2r;
    d[i2 + 1] = e2i + t2i;
    d[i6] = e2r - t2r;
    d[i6 + 1] = e2i - t2i;
    d[i3] = e3r + t3r;
    d[i3 + 1] = e3i + t3i;
    d[i7] = e3r - t3r;
    d[i7 + 1] = e3i - t3i;
  }
}

/** Lines per Bluestein batch: its work buffer holds m samples of each, m ≈ 2n. */
const BLUESTEIN_BATCH = 16;

/**
 * Chirp-z (Bluestein 1970) for lengths with a prime factor above 5, e.g. 14, 22, 26: with the chirp
 * w_k = e^{−iπk²/n}, X_k = w_k · Σ_j (x_j w_j) conj(w_{k−j}), a circular convolution of length m ≥ 2n − 1 done by
 * the mixed-radix kernel on batches of lines (line index innermost).
 */
class BluesteinTransform implements BatchTransform {
  readonly order: Int32Array; // natural: Bluestein gathers its lines itself
  readonly slot: Int32Array;
  private readonly m: number;
  private readonly inner: BatchTransform;
  private readonly chirp: Float64Array; // w_k
  private readonly chirpSpectrum: Float64Array; // FFT of conj(w) wrapped to length m, divided by m
  private readonly work: Float64Array;

  constructor(readonly n: number) {
    let m = 2 * n - 1;
    while (!radicesOf(m)) m++;
    this.m = m;
    this.inner = batchTransform(m);
    this.order = this.slot = Int32Array.from({ length: n }, (_, i) => i);
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
    this.work = new Float64Array(2 * m * BLUESTEIN_BATCH);
  }

  runOrdered(d: Float64Array, base: number, step: number, lineStep: number, count: number, inverse: boolean): void {
    this.run(d, base, step, lineStep, count, inverse);
  }

  run(d: Float64Array, base: number, step: number, lineStep: number, count: number, inverse: boolean): void {
    for (let c = 0; c < count; c += BLUESTEIN_BATCH) {
      this.batch(d, base + c * lineStep, step, lineStep, Math.min(BLUESTEIN_BATCH, count - c), inverse);
    }
  }

  private batch(d: Float64Array, base: number, step: number, lineStep: number, count: number, inverse: boolean): void {
    const { n, m, work: a, chirp, chirpSpectrum, inner } = this;
    const s = inverse ? -1 : 1; // inverse = conj(forward(conj(x)))
    const row = 2 * count; // sample k of batch line c at k·row + 2c, placed by the inner kernel's order
    for (let k = n; k < m; k++) a.fill(0, inner.slot[k] * row, (inner.slot[k] + 1) * row);
    for (let k = 0; k < n; k++) {
      const wr = chirp[2 * k];
      const wi = chirp[2 * k + 1];
      for (let c = 0, j = base + k * step, o = inner.slot[k] * row; c < count; c++, j += lineStep, o += 2) {
        const xr = d[j];
        const xi = s * d[j + 1];
        a[o] = xr * wr - xi * wi;
        a[o + 1] = xr * wi + xi * wr;
      }
    }
    inner.runOrdered(a, 0, row, 2, count, false);
    for (let k = 0; k < m; k++) {
      const br = chirpSpectrum[2 * k];
      const bi = chirpSpectrum[2 * k + 1];
      for (let o = k * row, stop = o + row; o < stop; o += 2) {
        const ar = a[o];
        const ai = a[o + 1];
        a[o] = ar * br - ai * bi;
        a[o + 1] = ar * bi + ai * br;
      }
    }
    inner.run(a, 0, row, 2, count, true);
    for (let k = 0; k < n; k++) {
      const wr = chirp[2 * k];
      const wi = chirp[2 * k + 1];
      for (let c = 0, j = base + k * step, o = k * row; c < count; c++, j += lineStep, o += 2) {
        const cr = a[o];
        const ci = a[o + 1];
        d[j] = cr * wr - ci * wi;
        d[j + 1] = s * (cr * wi + ci * wr);
      }
    }
  }
}

const batches = new Map<number, BatchTransform>();

function batchTransform(n: number): BatchTransform {
  let t = batches.get(n);
  if (!t) {
    if (!Number.isInteger(n) || n < 2) throw new RangeError(`FFT length must be an integer ≥ 2, got ${n}`);
    const radices = radicesOf(n);
    t = radices ? new MixedRadixTransform(n, radices) : new BluesteinTransform(n);
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
const LINE_GROUP = 16;

function transformLines(t: BatchTransform, d: Float64Array, base: number, lineStep: number, count: number, inverse: boolean, ordered: boolean): void {
  for (let c = 0; c < count; c += LINE_GROUP) {
    const k = Math.min(LINE_GROUP, count - c);
    if (ordered) t.runOrdered(d, base + c * lineStep, 2, lineStep, k, inverse);
    else t.run(d, base + c * lineStep, 2, lineStep, k, inverse);
  }
}

// Scratch reused across calls (grown on demand): the x lines of one slab, the z lines of one slab, a half
// spectrum. Whole rows are copied with TypedArray set/copyWithin (a memcpy, several times faster than a loop).
let lineWork = new Float64Array(0);
let slabWork = new Float64Array(0);
let slabRowViews: Float64Array[] = [];
let halfWork = new Float64Array(0);

function lineScratch(length: number): Float64Array {
  if (lineWork.length < length) lineWork = new Float64Array(length);
  return lineWork;
}

/** The slab scratch, with views of its first `count` rows of `width` values for `set`. */
function slabScratch(count: number, width: number): { s: Float64Array; rows: Float64Array[] } {
  if (slabWork.length < count * width) slabWork = new Float64Array(count * width);
  const first = slabRowViews[0];
  if (slabRowViews.length !== count || first.length !== width || first.buffer !== slabWork.buffer) {
    slabRowViews = Array.from({ length: count }, (_, i) => slabWork.subarray(i * width, (i + 1) * width));
  }
  return { s: slabWork, rows: slabRowViews };
}

/** In-place complex FFT of an interleaved n×n×n grid: the JavaScript reference of `fft3InPlace`. */
export function fft3InPlaceReference(data: Float64Array, n: number, inverse: boolean): void {
  if (data.length !== 2 * n * n * n) throw new RangeError(`complex ${n}³ grid needs ${2 * n * n * n} values, got ${data.length}`);
  const t = batchTransform(n);
  const { order } = t;
  const row = 2 * n;
  const plane = n * row;
  const factor = inverse ? 1 / (n * n * n) : 1;
  const { s, rows } = slabScratch(n, row);
  // Pass 1, one xz slab (fixed y) at a time: gathered with both x and z in the kernel's order (and normalised),
  // x lines, z lines, written back.
  for (let y = 0; y < n; y++) {
    for (let p = 0; p < n; p++) {
      const src = order[p] * plane + y * row;
      const dst = p * row;
      for (let q = 0; q < n; q++) {
        const x = src + 2 * order[q];
        s[dst + 2 * q] = factor * data[x];
        s[dst + 2 * q + 1] = factor * data[x + 1];
      }
    }
    transformLines(t, s, 0, row, n, inverse, true);
    t.runOrdered(s, 0, row, 2, n, inverse);
    for (let z = 0; z < n; z++) data.set(rows[z], z * plane + y * row);
  }
  // Pass 2: the y lines of each plane, in place.
  for (let z = 0; z < n; z++) t.run(data, z * plane, row, 2, n, inverse);
}

/** In-place complex FFT of an interleaved nx×ny image (x fastest). */
export function fft2InPlace(data: Float64Array, nx: number, ny: number, inverse: boolean): void {
  if (data.length !== 2 * nx * ny) throw new RangeError(`complex ${nx}×${ny} image needs ${2 * nx * ny} values, got ${data.length}`);
  transformLines(batchTransform(nx), data, 0, 2 * nx, ny, inverse, false);
  batchTransform(ny).run(data, 0, 2 * nx, 2, nx, inverse);
  if (inverse) scale(data, data.length, 1 / (nx * ny));
}

/** In-place complex FFT of one interleaved line. */
export function fft1InPlace(data: Float64Array, inverse: boolean): void {
  const n = data.length / 2;
  batchTransform(n).run(data, 0, 2, 0, 1, inverse);
  if (inverse) scale(data, data.length, 1 / n);
}

/** Forward 3D FFT of a real n³ volume → full spectrum: the JavaScript reference of `fft3`. */
export function fft3Reference(real: Float32Array | Float64Array, n: number, out?: Float64Array): Float64Array {
  const len = n * n * n;
  if (real.length !== len) throw new RangeError(`real ${n}³ volume needs ${len} values, got ${real.length}`);
  const spec = out ?? new Float64Array(2 * len);
  if (spec.length !== 2 * len) throw new RangeError(`spectrum of ${n}³ needs ${2 * len} values, got ${spec.length}`);
  if (n % 2 === 1) {
    for (let i = 0; i < len; i++) {
      spec[2 * i] = real[i];
      spec[2 * i + 1] = 0;
    }
    fft3InPlaceReference(spec, n, false);
    return spec;
  }
  const half = n / 2 + 1;
  const width = 2 * half;
  const row = 2 * n;
  const plane = n * row;
  const t = batchTransform(n);
  const { order, slot } = t;
  const w = lineScratch((n / 2) * row);
  const { s, rows } = slabScratch(n, width);
  // Pass 1, one xz slab (fixed y) at a time: x lines, then z lines of the half spectrum kx ≤ n/2.
  for (let y = 0; y < n; y++) {
    // Rows z = 2j and 2j+1 share one complex FFT of (a + i·b), line j of the scratch.
    for (let j = 0; j < n / 2; j++) {
      const a = n * (y + 2 * j * n);
      const b = a + n * n;
      const line = j * row;
      for (let p = 0; p < n; p++) {
        const x = order[p];
        w[line + 2 * p] = real[a + x];
        w[line + 2 * p + 1] = real[b + x];
      }
    }
    transformLines(t, w, 0, row, n / 2, false, true);
    // A(k) = (C(k) + conj C(n−k))/2, B(k) = (C(k) − conj C(n−k))/(2i) for k ≤ n/2, into the z pass's slots.
    for (let j = 0; j < n / 2; j++) {
      const line = j * row;
      const ra = slot[2 * j] * width;
      const rb = slot[2 * j + 1] * width;
      for (let k = 0; k < half; k++) {
        const p = line + 2 * k;
        const q = k === 0 ? line : line + 2 * (n - k);
        const cr = w[p];
        const ci = w[p + 1];
        const dr = w[q];
        const di = w[q + 1];
        s[ra + 2 * k] = 0.5 * (cr + dr);
        s[ra + 2 * k + 1] = 0.5 * (ci - di);
        s[rb + 2 * k] = 0.5 * (ci + di);
        s[rb + 2 * k + 1] = 0.5 * (dr - cr);
      }
    }
    t.runOrdered(s, 0, width, 2, half, false);
    // Row y goes to its slot for the y pass.
    for (let z = 0; z < n; z++) spec.set(rows[z], z * plane + slot[y] * row);
  }
  // Pass 2, planes z and zm = −z together: y lines, then F(kx, y, z) = conj F(n−kx, −y, zm) for the kx > n/2
  // that were not transformed, each from the other plane while both are in cache.
  for (let z = 0; z <= n / 2; z++) {
    const zm = (n - z) % n;
    t.runOrdered(spec, z * plane, row, 2, half, false);
    if (zm !== z) t.runOrdered(spec, zm * plane, row, 2, half, false);
    for (let y = 0; y < n; y++) {
      const ym = (n - y) % n;
      mirrorRow(spec, z * plane + y * row, zm * plane + ym * row, n);
      if (zm !== z) mirrorRow(spec, zm * plane + y * row, z * plane + ym * row, n);
    }
  }
  return spec;
}

/** Columns kx = n/2+1…n−1 of the spectrum row at dst as conjugates of columns n − kx of the row at src. */
function mirrorRow(spec: Float64Array, dst: number, src: number, n: number): void {
  for (let i = n + 2, j = src + n - 2; i < 2 * n; i += 2, j -= 2) {
    spec[dst + i] = spec[j];
    spec[dst + i + 1] = -spec[j + 1];
  }
}

/**
 * Inverse 3D FFT keeping the real part (the input spectrum is left untouched): the JavaScript reference of
 * `ifft3Real`, into a float32 or float64 volume.
 */
export function ifft3RealReference<T extends Float32Array | Float64Array = Float32Array>(spec: Float64Array, n: number, out?: T): T {
  const len = n * n * n;
  if (spec.length !== 2 * len) throw new RangeError(`spectrum of ${n}³ needs ${2 * len} values, got ${spec.length}`);
  const real = out ?? (new Float32Array(len) as T);
  if (real.length !== len) throw new RangeError(`real ${n}³ volume needs ${len} values, got ${real.length}`);
  if (n % 2 === 1) {
    const work = spec.slice();
    fft3InPlaceReference(work, n, true);
    for (let i = 0; i < len; i++) real[i] = work[2 * i];
    return real;
  }
  const half = n / 2 + 1;
  const row = 2 * n;
  const plane = n * row;
  const hrow = 2 * half;
  const hplane = n * hrow;
  // The half spectrum, followed by the scratch of one xz slab (at `slab`) so that gathering is a copyWithin.
  const slab = n * hplane;
  if (halfWork.length < slab + n * hrow) halfWork = new Float64Array(slab + n * hrow);
  const h = halfWork;
  const t = batchTransform(n);
  const { order, slot } = t;
  // Pass 1, one plane at a time (z next to its mirror −z, which it reads): Re F⁻¹(S) = F⁻¹(H) with the
  // Hermitian part H(k) = (S(k) + conj S(−k))/2, which is fixed by kx ≤ n/2. H goes to the y pass's row slots
  // with the 1/n³ of the inverse folded in, then the y lines run in place.
  const c = 0.5 / len;
  for (let i = 0; i < n; i++) {
    const z = i % 2 === 0 ? i / 2 : n - (i + 1) / 2; // 0, n−1, 1, n−2, …
    const zm = (n - z) % n;
    for (let y = 0; y < n; y++) {
      const src = z * plane + y * row;
      const mir = zm * plane + ((n - y) % n) * row;
      const dst = z * hplane + slot[y] * hrow;
      h[dst] = c * (spec[src] + spec[mir]);
      h[dst + 1] = c * (spec[src + 1] - spec[mir + 1]);
      for (let k = 1; k < half; k++) {
        const q = mir + 2 * (n - k);
        h[dst + 2 * k] = c * (spec[src + 2 * k] + spec[q]);
        h[dst + 2 * k + 1] = c * (spec[src + 2 * k + 1] - spec[q + 1]);
      }
    }
    t.runOrdered(h, z * hplane, hrow, 2, half, true);
  }
  // Pass 2, one xz slab (fixed y) at a time: z lines gathered in the kernel's order, then rows z = 2j and 2j+1
  // (spectra A and B of real rows a and b) share one inverse FFT of A + i·B, line j of the scratch.
  const w = lineScratch((n / 2) * row);
  for (let y = 0; y < n; y++) {
    for (let p = 0; p < n; p++) {
      const src = order[p] * hplane + y * hrow;
      h.copyWithin(slab + p * hrow, src, src + hrow);
    }
    t.runOrdered(h, slab, hrow, 2, half, true);
    for (let j = 0; j < n / 2; j++) {
      const ra = slab + 2 * j * hrow;
      const rb = ra + hrow;
      const line = j * row;
      for (let k = 0; k < half; k++) {
        const ar = h[ra + 2 * k];
        const ai = h[ra + 2 * k + 1];
        const br = h[rb + 2 * k];
        const bi = h[rb + 2 * k + 1];
        const p = line + 2 * slot[k];
        w[p] = ar - bi;
        w[p + 1] = ai + br;
        if (k > 0 && k < n - k) {
          // C(n−k) = conj A(k) + i·conj B(k)
          const q = line + 2 * slot[n - k];
          w[q] = ar + bi;
          w[q + 1] = br - ai;
        }
      }
    }
    transformLines(t, w, 0, row, n / 2, true, true);
    for (let j = 0; j < n / 2; j++) {
      const line = j * row;
      const a = n * (y + 2 * j * n);
      const b = a + n * n;
      for (let x = 0; x < n; x++) {
        real[a + x] = w[line + 2 * x];
        real[b + x] = w[line + 2 * x + 1];
      }
    }
  }
  return real;
}

/** Columns of the half spectrum of an n³ volume along x: ⌊n/2⌋ + 1, as numpy's rfftn. */
export function halfWidth(n: number): number {
  return Math.floor(n / 2) + 1;
}

export type FftBackend = 'wasm-simd128' | 'js';

/**
 * Which implementation the 3D transforms of an n³ grid run: for real volumes (`fft3`, `ifft3Real`, `rfft3`,
 * `irfft3`) or complex grids (`fft3InPlace`). The benches print it.
 */
export function fftBackend(n: number, input: 'real' | 'complex' = 'real'): FftBackend {
  return (input === 'real' ? wasmRealSize(n) : wasmComplexSize(n)) ? 'wasm-simd128' : 'js';
}

function checkLength(what: string, got: number, want: number): void {
  if (got !== want) throw new RangeError(`${what} needs ${want} values, got ${got}`);
}

/** In-place complex FFT of an interleaved n×n×n grid. */
export function fft3InPlace(data: Float64Array, n: number, inverse: boolean): void {
  checkLength(`complex ${n}³ grid`, data.length, 2 * n * n * n);
  if (wasmComplexSize(n)) fft3cWasm(data, n, inverse);
  else fft3InPlaceReference(data, n, inverse);
}

/**
 * Forward 3D FFT of a real n³ volume → full interleaved spectrum (unnormalised). Computed through the half
 * spectrum; callers that can work on the half spectrum should use `rfft3`, which skips writing the other half.
 */
export function fft3(real: Float32Array | Float64Array, n: number, out?: Float64Array): Float64Array {
  const len = n * n * n;
  checkLength(`real ${n}³ volume`, real.length, len);
  if (out) checkLength(`spectrum of ${n}³`, out.length, 2 * len);
  if (!wasmRealSize(n)) return fft3Reference(real, n, out);
  const spec = out ?? new Float64Array(2 * len);
  rfft3Wasm(real, n, spec);
  return spec;
}

/**
 * Inverse 3D FFT keeping the real part (the input spectrum is left untouched): the inverse of the Hermitian
 * part (S(k) + conj S(−k))/2 of the full spectrum S, computed through its half spectrum.
 */
export function ifft3Real(spec: Float64Array, n: number, out?: Float32Array): Float32Array {
  const len = n * n * n;
  checkLength(`spectrum of ${n}³`, spec.length, 2 * len);
  if (out) checkLength(`real ${n}³ volume`, out.length, len);
  if (!wasmRealSize(n)) return ifft3RealReference(spec, n, out);
  const real = out ?? new Float32Array(len);
  irfft3Wasm(spec, n, real);
  return real;
}

/**
 * Forward 3D FFT of a real n³ volume → half spectrum (unnormalised), kx = 0…⌊n/2⌋: h·n·n complex values,
 * h = ⌊n/2⌋ + 1, interleaved, complex index 2*(kx + h*(ky + n*kz)) — numpy's rfftn layout.
 */
export function rfft3(real: Float32Array | Float64Array, n: number, out?: Float64Array): Float64Array {
  checkLength(`real ${n}³ volume`, real.length, n * n * n);
  const half = out ?? new Float64Array(2 * halfWidth(n) * n * n);
  checkLength(`half spectrum of ${n}³`, half.length, 2 * halfWidth(n) * n * n);
  if (wasmRealSize(n)) rfft3Wasm(real, n, half);
  else rfft3Reference(real, n, half);
  return half;
}

/**
 * Inverse of `rfft3`: the real n³ volume of a half spectrum, normalised by 1/n³, into a new Float64Array or
 * `out` (Float32Array or Float64Array); the half spectrum is left untouched. As numpy's irfftn, the columns
 * kx = 0 (and n/2) are read as Hermitian: a half spectrum that is not that of a real volume gives the inverse
 * of the Hermitian spectrum these columns' Hermitian parts and the other columns define.
 */
export function irfft3(half: Float64Array, n: number): Float64Array;
export function irfft3<T extends Float32Array | Float64Array>(half: Float64Array, n: number, out: T): T;
export function irfft3(half: Float64Array, n: number, out?: Float32Array | Float64Array): Float32Array | Float64Array {
  checkLength(`half spectrum of ${n}³`, half.length, 2 * halfWidth(n) * n * n);
  const real = out ?? new Float64Array(n * n * n);
  checkLength(`real ${n}³ volume`, real.length, n * n * n);
  if (wasmRealSize(n)) irfft3Wasm(half, n, real);
  else irfft3Reference(half, n, real);
  return real;
}

/** `rfft3` by the JavaScript reference: the columns kx ≤ ⌊n/2⌋ of `fft3Reference`. */
export function rfft3Reference(real: Float32Array | Float64Array, n: number, out?: Float64Array): Float64Array {
  const h = halfWidth(n);
  const full = fft3Reference(real, n);
  const half = out ?? new Float64Array(2 * h * n * n);
  for (let r = 0; r < n * n; r++) half.set(full.subarray(2 * n * r, 2 * n * r + 2 * h), 2 * h * r);
  return half;
}

/**
 * `irfft3` by the JavaScript reference: the full spectrum with F(n−kx, ky, kz) = conj H(kx, −ky, −kz) for
 * 0 < kx < n/2, then `ifft3RealReference`, whose Hermitian part makes the columns kx = 0 and n/2 Hermitian.
 */
export function irfft3Reference<T extends Float32Array | Float64Array = Float64Array>(half: Float64Array, n: number, out?: T): T {
  const h = halfWidth(n);
  const full = new Float64Array(2 * n * n * n);
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      const src = 2 * h * (y + n * z);
      const dst = 2 * n * (y + n * z);
      const mir = 2 * h * ((n - y) % n + n * ((n - z) % n));
      full.set(half.subarray(src, src + 2 * h), dst);
      for (let kx = h; kx < n; kx++) {
        full[dst + 2 * kx] = half[mir + 2 * (n - kx)];
        full[dst + 2 * kx + 1] = -half[mir + 2 * (n - kx) + 1];
      }
    }
  }
  return ifft3RealReference(full, n, out ?? (new Float64Array(n * n * n) as T));
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
