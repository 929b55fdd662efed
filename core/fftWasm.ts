/**
 * The WebAssembly (128-bit SIMD) backend of core/fft.ts: loads the kernels of wasm/fft.ts (compiled into
 * core/fftWasmBinary.ts by `npm run build:wasm`) synchronously at module load, builds their plans and lays
 * out their linear memory. core/fft.ts decides when it runs; this module only runs it.
 *
 * Memory: plans (digit-reversal tables, stage records, twiddles) are appended once per length and kept; the
 * buffers of a call (its input or output copy, the half spectrum, scratch) start after the last plan and are
 * reused by every call, so the memory grows to what the largest transform needed and stays there (for fft3
 * and ifft3Real of n³, ≈ 33·n³ bytes). Growing the memory replaces its ArrayBuffer, so the typed-array views
 * of it are re-made after every growth (`heap`).
 */
import { digitReversal } from './fftDigits.ts';
import { FFT_WASM_BASE64 } from './fftWasmBinary.ts';

interface Kernels {
  memory: WebAssembly.Memory;
  heapBase(): number;
  rfft3(rplan: number, src: number, f32: number, half: number, x: number, work: number): void;
  rfft3Full(rplan: number, src: number, f32: number, half: number, full: number, x: number, work: number): void;
  irfft3(rplan: number, half: number, full: number, dst: number, f32: number, x: number, work: number): void;
  fft3c(plan: number, data: number, x: number, work: number, inverse: number): void;
}

function decodeBase64(text: string): Uint8Array {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/**
 * The kernels, or null when the JavaScript engine has no WebAssembly at all. An engine that has
 * WebAssembly but cannot compile the module (no SIMD) throws here: there is no silent fallback.
 */
function load(): Kernels | null {
  if (typeof WebAssembly !== 'object') return null;
  const module = new WebAssembly.Module(decodeBase64(FFT_WASM_BASE64));
  return new WebAssembly.Instance(module, {}).exports as unknown as Kernels;
}

const kernels = load();

/** Whether the WebAssembly kernels are loaded. */
export const wasmAvailable = kernels !== null;

function k(): Kernels {
  if (!kernels) throw new Error('WebAssembly is not available in this JavaScript engine');
  return kernels;
}

/**
 * Stage radices for n = 2^a·3^b·5^c in stage order, or null when n has a larger prime factor: the power of
 * two as 4s with one 8 when a is odd (a 2 only for a = 1), the 8 (or a 4) first because the first stage needs
 * no twiddles, then 5s and 3s, then the remaining 4s. (Measured: a twiddled radix-8 stage runs out of the
 * 16 SIMD registers, so 64 = 4·4·4 beats 8·8.)
 */
export function wasmRadices(n: number): number[] | null {
  if (!Number.isInteger(n) || n < 1) return null;
  let m = n;
  const odd: number[] = [];
  for (const r of [5, 3]) for (; m % r === 0; m /= r) odd.push(r);
  if ((m & (m - 1)) !== 0) return null;
  let a = Math.round(Math.log2(m));
  const twos: number[] = [];
  if (a === 1) twos.push(2);
  else if (a % 2 === 1) {
    twos.push(8);
    a -= 3;
  }
  for (; a >= 2; a -= 2) twos.push(4);
  return twos.length ? [twos[0], ...odd, ...twos.slice(1)] : odd;
}

/** Sizes the WebAssembly kernels take: complex grids of any 2^a·3^b·5^c, real volumes of even ones. */
export function wasmComplexSize(n: number): boolean {
  return wasmAvailable && n >= 2 && wasmRadices(n) !== null;
}

export function wasmRealSize(n: number): boolean {
  return wasmComplexSize(n) && n % 2 === 0;
}

const PAGE = 65536;
let top = 0; // end of the plans
let views: { buffer: ArrayBuffer; f64: Float64Array; f32: Float32Array; i32: Int32Array } | null = null;

function heap(): { f64: Float64Array; f32: Float32Array; i32: Int32Array } {
  const { buffer } = k().memory;
  if (!views || views.buffer !== buffer) {
    views = { buffer, f64: new Float64Array(buffer), f32: new Float32Array(buffer), i32: new Int32Array(buffer) };
  }
  return views;
}

function ensureMemory(end: number): void {
  const { memory } = k();
  const have = memory.buffer.byteLength;
  if (end > have) memory.grow(Math.ceil((end - have) / PAGE));
}

const align = (x: number, to = 64): number => Math.ceil(x / to) * to;

/** Bytes reserved for good after the plans made so far. */
function reserve(bytes: number): number {
  if (top === 0) top = align(k().heapBase());
  const at = top;
  top = align(top + bytes);
  ensureMemory(top);
  return at;
}

/** Offsets of a call's buffers after the plans: each size in bytes, 64-byte aligned, memory grown to fit. */
function buffers(sizes: readonly number[]): number[] {
  let at = reserve(0);
  const offsets = sizes.map((size) => {
    const o = at;
    at = align(at + size);
    return o;
  });
  ensureMemory(at);
  return offsets;
}

const plans = new Map<number, number>();

/**
 * The plan record of length n (layout in wasm/fft.ts): the digit-reversal tables of core/fft.ts's
 * mixed-radix kernel and per stage its twiddles e^{∓2πi·q·k/(radix·len)} (k = 1…len−1, q = 1…radix−1) as
 * (c, c, −s, s), forward and conjugated.
 */
function plan(n: number): number {
  let ptr = plans.get(n);
  if (ptr !== undefined) return ptr;
  const radices = wasmRadices(n);
  if (!radices) throw new RangeError(`no WebAssembly FFT plan for length ${n}`);
  const { order, slot } = digitReversal(n, radices);
  ptr = reserve(16 + 16 * radices.length);
  const slotPtr = reserve(4 * n);
  const orderPtr = reserve(4 * n);
  const stages: number[][] = [];
  let len = 1;
  for (const radix of radices) {
    const count = (radix - 1) * Math.max(len - 1, 0);
    const fwd = reserve(32 * count);
    const inv = reserve(32 * count);
    const span = radix * len;
    const { f64 } = heap();
    for (let kk = 1; kk < len; kk++) {
      for (let q = 1; q < radix; q++) {
        const ang = (-2 * Math.PI * ((q * kk) % span)) / span;
        const c = Math.cos(ang);
        const s = Math.sin(ang);
        const t = 4 * ((kk - 1) * (radix - 1) + q - 1);
        f64.set([c, c, -s, s], fwd / 8 + t);
        f64.set([c, c, s, -s], inv / 8 + t);
      }
    }
    stages.push([radix, len, fwd, inv]);
    len = span;
  }
  const { i32 } = heap();
  i32.set(slot, slotPtr / 4);
  i32.set(order, orderPtr / 4);
  i32.set([n, radices.length, slotPtr, orderPtr], ptr / 4);
  stages.forEach((s, i) => i32.set(s, ptr / 4 + 4 + 4 * i));
  plans.set(n, ptr);
  return ptr;
}

const realPlans = new Map<number, number>();

/**
 * The real plan of an even length n (layout in wasm/fft.ts): the plans of n and n/2 and the twiddles
 * W^k = e^{−2πik/n}, k = 0…⌊n/4⌋, of the packed real transform, forward (c, c, −s, s) and conjugated.
 */
function realPlan(n: number): number {
  let ptr = realPlans.get(n);
  if (ptr !== undefined) return ptr;
  const full = plan(n);
  const half = plan(n / 2);
  const count = Math.floor(n / 4) + 1;
  const fwd = reserve(32 * count);
  const inv = reserve(32 * count);
  ptr = reserve(16);
  const { f64, i32 } = heap();
  for (let kk = 0; kk < count; kk++) {
    const ang = (-2 * Math.PI * kk) / n;
    const c = Math.cos(ang);
    const s = Math.sin(ang);
    f64.set([c, c, -s, s], fwd / 8 + 4 * kk);
    f64.set([c, c, s, -s], inv / 8 + 4 * kk);
  }
  i32.set([full, half, fwd, inv], ptr / 4);
  realPlans.set(n, ptr);
  return ptr;
}

/** Scratch of the 3D passes for rows of `rowBytes`: the x lines of a plane (padded), a plane or z batch. */
function scratch(n: number, rowBytes: number): [number, number] {
  return [n * (16 * n + 64), Math.max(131072, n * rowBytes) + 64];
}

function copyIn(src: Float32Array | Float64Array, at: number): void {
  const mem = heap();
  if (src instanceof Float32Array) mem.f32.set(src, at / 4);
  else mem.f64.set(src, at / 8);
}

function copyOut(dst: Float32Array | Float64Array, at: number): void {
  const mem = heap();
  if (dst instanceof Float32Array) dst.set(mem.f32.subarray(at / 4, at / 4 + dst.length));
  else dst.set(mem.f64.subarray(at / 8, at / 8 + dst.length));
}

/**
 * Forward 3D FFT of a real n³ volume (n even) into `out`: the half spectrum (n/2+1)·n·n, kx fastest, or, when
 * `out` holds 2n³ values, the full spectrum (the other half by Hermitian symmetry).
 */
export function rfft3Wasm(real: Float32Array | Float64Array, n: number, out: Float64Array): void {
  const rplan = realPlan(n);
  const halfLength = 2 * (n / 2 + 1) * n * n;
  const full = out.length === 2 * n * n * n;
  const [x, work] = scratch(n, 16 * (n / 2 + 1));
  const [inPtr, halfPtr, xPtr, workPtr, fullPtr] = buffers([real.byteLength, 8 * halfLength, x, work, full ? out.byteLength : 0]);
  copyIn(real, inPtr);
  const f32 = real instanceof Float32Array ? 1 : 0;
  if (full) {
    k().rfft3Full(rplan, inPtr, f32, halfPtr, fullPtr, xPtr, workPtr);
    copyOut(out, fullPtr);
  } else {
    k().rfft3(rplan, inPtr, f32, halfPtr, xPtr, workPtr);
    copyOut(out, halfPtr);
  }
}

/**
 * Inverse of rfft3Wasm, normalised by 1/n³, into `out` (f32 or f64). `spec` is a half spectrum, or a full one
 * (2n³ values: its Hermitian part is taken, so the result is the real part of its inverse); it is left
 * untouched.
 */
export function irfft3Wasm(spec: Float64Array, n: number, out: Float32Array | Float64Array): void {
  const rplan = realPlan(n);
  const halfLength = 2 * (n / 2 + 1) * n * n;
  const full = spec.length === 2 * n * n * n;
  const [x, work] = scratch(n, 16 * (n / 2 + 1));
  const [halfPtr, outPtr, xPtr, workPtr, fullPtr] = buffers([8 * halfLength, out.byteLength, x, work, full ? spec.byteLength : 0]);
  copyIn(spec, full ? fullPtr : halfPtr);
  k().irfft3(rplan, halfPtr, full ? fullPtr : 0, outPtr, out instanceof Float32Array ? 1 : 0, xPtr, workPtr);
  copyOut(out, outPtr);
}

/** In-place complex FFT of an interleaved n³ grid (n = 2^a·3^b·5^c); the inverse is normalised by 1/n³. */
export function fft3cWasm(data: Float64Array, n: number, inverse: boolean): void {
  const p = plan(n);
  const [x, work] = scratch(n, 16 * n);
  const [dataPtr, xPtr, workPtr] = buffers([data.byteLength, x, work]);
  copyIn(data, dataPtr);
  k().fft3c(p, dataPtr, xPtr, workPtr, inverse ? 1 : 0);
  copyOut(data, dataPtr);
}
