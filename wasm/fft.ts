/**
 * The WebAssembly kernels of core/fft.ts (AssemblyScript, compiled with 128-bit SIMD by `npm run build:wasm`
 * into core/fftWasmBinary.ts). Every transform here is double precision; core/fftWasm.ts owns the memory
 * layout and passes byte offsets, so this module allocates nothing.
 *
 * Complex data is interleaved (re, im) and one v128 holds one complex number as f64x2. Lines are batched
 * with the line index innermost (lines 16 bytes apart), so a butterfly loads its twiddles once and runs down
 * the whole batch with contiguous v128 loads and stores. Twiddles are stored per stage as pairs of v128
 * (c, c) and (−s, s) for w = c + i·s, so that x·w = x·(c, c) + swap(x)·(−s, s): two multiplies, one add and
 * one lane swap, no lane extraction.
 *
 * A plan (core/fftWasm.ts writes it) is a record of i32 words: n, the number of stages, a pointer to `slot`
 * (sample j sits at position slot[j] in the kernel's digit-reversed order), a pointer to `order` (its
 * inverse), then per stage radix, len (length of the sub-transforms it merges), forward and inverse twiddles.
 * Stages are decimation in time: data in digit-reversed order, natural order out.
 *
 * 3D transforms of real n³ volumes (n even) work on the half spectrum kx = 0…n/2 (h = n/2 + 1 columns):
 * two real x rows share one complex x line (C = a + i·b), the z and y lines run only over the h columns.
 */

// --- plan records -------------------------------------------------------------------------------------

@inline function planN(plan: usize): i32 { return load<i32>(plan); }
@inline function planStages(plan: usize): i32 { return load<i32>(plan, 4); }
@inline function planSlot(plan: usize): usize { return <usize>load<i32>(plan, 8); }
@inline function planOrder(plan: usize): usize { return <usize>load<i32>(plan, 12); }
@inline function slotOf(plan: usize, j: i32): i32 { return load<i32>(planSlot(plan) + (<usize>j << 2)); }
@inline function orderOf(plan: usize, p: i32): i32 { return load<i32>(planOrder(plan) + (<usize>p << 2)); }

// --- complex arithmetic on f64x2 ------------------------------------------------------------------------

@inline function swap(x: v128): v128 {
  return v128.shuffle<f64>(x, x, 1, 0);
}

/** x·w for the twiddle stored as wr = (c, c), wi = (−s, s). */
@inline function cmul(x: v128, wr: v128, wi: v128): v128 {
  return f64x2.add(f64x2.mul(x, wr), f64x2.mul(swap(x), wi));
}

/** −i·sign·x, with rot = (sign, −sign). */
@inline function quarter(x: v128, rot: v128): v128 {
  return f64x2.mul(swap(x), rot);
}

const SIN_60: f64 = 0.8660254037844386;
const COS_72: f64 = 0.30901699437494745;
const COS_144: f64 = -0.8090169943749473;
const SIN_72: f64 = 0.9510565162951535;
const SIN_144: f64 = 0.5877852522924732;
const SQRT_HALF: f64 = 0.7071067811865476;

// --- one stage of a batch of lines ------------------------------------------------------------------
// The batch: sample j of line c at base + j·step + 16·c, c < count. A stage merges `radix` adjacent
// sub-transforms of length len in every group of radix·len samples: butterfly k reads sub-transform q at
// k + q·len, twiddles it by e^{∓2πi·q·k/(radix·len)} (tw: (radix−1) twiddles per k ≥ 1, 32 bytes each) and
// writes output p of its radix-point DFT to k + p·len.

function stage2(base: usize, step: usize, n: i32, len: i32, bytes: usize, ls: usize, tw: usize): void {
  const q = <usize>len * step;
  const end = base + <usize>n * step;
  for (let g = base; g < end; g += 2 * q) {
    for (let a = g, e = g + bytes; a < e; a += ls) {
      const x0 = v128.load(a);
      const x1 = v128.load(a + q);
      v128.store(a, f64x2.add(x0, x1));
      v128.store(a + q, f64x2.sub(x0, x1));
    }
    for (let k = 1; k < len; k++) {
      const t = tw + (<usize>(k - 1) << 5);
      const wr = v128.load(t);
      const wi = v128.load(t, 16);
      const a0 = g + <usize>k * step;
      for (let a = a0, e = a0 + bytes; a < e; a += ls) {
        const x0 = v128.load(a);
        const x1 = cmul(v128.load(a + q), wr, wi);
        v128.store(a, f64x2.add(x0, x1));
        v128.store(a + q, f64x2.sub(x0, x1));
      }
    }
  }
}

@inline function bfly3(a: usize, q: usize, x0: v128, x1: v128, x2: v128, half: v128, rot3: v128): void {
  // X_{1,2} = x0 − (x1 + x2)/2 ∓ i·sign·sin 60°·(x1 − x2)
  const s = f64x2.add(x1, x2);
  const m = f64x2.sub(x0, f64x2.mul(half, s));
  const r = f64x2.mul(swap(f64x2.sub(x1, x2)), rot3);
  v128.store(a, f64x2.add(x0, s));
  v128.store(a + q, f64x2.add(m, r));
  v128.store(a + 2 * q, f64x2.sub(m, r));
}

function stage3(base: usize, step: usize, n: i32, len: i32, bytes: usize, ls: usize, tw: usize, sign: f64): void {
  const q = <usize>len * step;
  const end = base + <usize>n * step;
  const half = f64x2.splat(0.5);
  const rot3 = f64x2(sign * SIN_60, -sign * SIN_60);
  for (let g = base; g < end; g += 3 * q) {
    for (let a = g, e = g + bytes; a < e; a += ls) {
      bfly3(a, q, v128.load(a), v128.load(a + q), v128.load(a + 2 * q), half, rot3);
    }
    for (let k = 1; k < len; k++) {
      const t = tw + <usize>(k - 1) * 64;
      const w1r = v128.load(t);
      const w1i = v128.load(t, 16);
      const w2r = v128.load(t, 32);
      const w2i = v128.load(t, 48);
      const a0 = g + <usize>k * step;
      for (let a = a0, e = a0 + bytes; a < e; a += ls) {
        const x1 = cmul(v128.load(a + q), w1r, w1i);
        const x2 = cmul(v128.load(a + 2 * q), w2r, w2i);
        bfly3(a, q, v128.load(a), x1, x2, half, rot3);
      }
    }
  }
}

@inline function bfly4(a: usize, q: usize, x0: v128, x1: v128, x2: v128, x3: v128, rot: v128): void {
  const u0 = f64x2.add(x0, x2);
  const u1 = f64x2.sub(x0, x2);
  const u2 = f64x2.add(x1, x3);
  const u3 = quarter(f64x2.sub(x1, x3), rot);
  v128.store(a, f64x2.add(u0, u2));
  v128.store(a + q, f64x2.add(u1, u3));
  v128.store(a + 2 * q, f64x2.sub(u0, u2));
  v128.store(a + 3 * q, f64x2.sub(u1, u3));
}

function stage4(base: usize, step: usize, n: i32, len: i32, bytes: usize, ls: usize, tw: usize, rot: v128): void {
  const q = <usize>len * step;
  const end = base + <usize>n * step;
  for (let g = base; g < end; g += 4 * q) {
    for (let a = g, e = g + bytes; a < e; a += ls) {
      bfly4(a, q, v128.load(a), v128.load(a + q), v128.load(a + 2 * q), v128.load(a + 3 * q), rot);
    }
    for (let k = 1; k < len; k++) {
      const t = tw + <usize>(k - 1) * 96;
      const w1r = v128.load(t);
      const w1i = v128.load(t, 16);
      const w2r = v128.load(t, 32);
      const w2i = v128.load(t, 48);
      const w3r = v128.load(t, 64);
      const w3i = v128.load(t, 80);
      const a0 = g + <usize>k * step;
      for (let a = a0, e = a0 + bytes; a < e; a += ls) {
        const x1 = cmul(v128.load(a + q), w1r, w1i);
        const x2 = cmul(v128.load(a + 2 * q), w2r, w2i);
        const x3 = cmul(v128.load(a + 3 * q), w3r, w3i);
        bfly4(a, q, v128.load(a), x1, x2, x3, rot);
      }
    }
  }
}

@inline function bfly5(a: usize, q: usize, x0: v128, x1: v128, x2: v128, x3: v128, x4: v128, rot5: v128): void {
  // Outputs 1 and 4 (2 and 3) share the even part cos·(x1 + x4) + cos·(x2 + x3) and differ in the sign of
  // the odd part; rot5 = (sign, −sign) turns the odd part by −i·sign.
  const t1 = f64x2.add(x1, x4);
  const t2 = f64x2.add(x2, x3);
  const t3 = f64x2.sub(x1, x4);
  const t4 = f64x2.sub(x2, x3);
  const p1 = f64x2.add(x0, f64x2.add(f64x2.mul(f64x2.splat(COS_72), t1), f64x2.mul(f64x2.splat(COS_144), t2)));
  const p2 = f64x2.add(x0, f64x2.add(f64x2.mul(f64x2.splat(COS_144), t1), f64x2.mul(f64x2.splat(COS_72), t2)));
  const o1 = quarter(f64x2.add(f64x2.mul(f64x2.splat(SIN_72), t3), f64x2.mul(f64x2.splat(SIN_144), t4)), rot5);
  const o2 = quarter(f64x2.sub(f64x2.mul(f64x2.splat(SIN_144), t3), f64x2.mul(f64x2.splat(SIN_72), t4)), rot5);
  v128.store(a, f64x2.add(x0, f64x2.add(t1, t2)));
  v128.store(a + q, f64x2.add(p1, o1));
  v128.store(a + 2 * q, f64x2.add(p2, o2));
  v128.store(a + 3 * q, f64x2.sub(p2, o2));
  v128.store(a + 4 * q, f64x2.sub(p1, o1));
}

function stage5(base: usize, step: usize, n: i32, len: i32, bytes: usize, ls: usize, tw: usize, rot: v128): void {
  const q = <usize>len * step;
  const end = base + <usize>n * step;
  for (let g = base; g < end; g += 5 * q) {
    for (let a = g, e = g + bytes; a < e; a += ls) {
      bfly5(a, q, v128.load(a), v128.load(a + q), v128.load(a + 2 * q), v128.load(a + 3 * q), v128.load(a + 4 * q), rot);
    }
    for (let k = 1; k < len; k++) {
      const t = tw + <usize>(k - 1) * 128;
      const a0 = g + <usize>k * step;
      for (let a = a0, e = a0 + bytes; a < e; a += ls) {
        const x1 = cmul(v128.load(a + q), v128.load(t), v128.load(t, 16));
        const x2 = cmul(v128.load(a + 2 * q), v128.load(t, 32), v128.load(t, 48));
        const x3 = cmul(v128.load(a + 3 * q), v128.load(t, 64), v128.load(t, 80));
        const x4 = cmul(v128.load(a + 4 * q), v128.load(t, 96), v128.load(t, 112));
        bfly5(a, q, v128.load(a), x1, x2, x3, x4, rot);
      }
    }
  }
}

@inline function bfly8(
  a: usize, q: usize, x0: v128, x1: v128, x2: v128, x3: v128, x4: v128, x5: v128, x6: v128, x7: v128, rot: v128,
): void {
  // Two 4-point DFTs of the even and odd samples, the odd one turned by e^{∓iπp/4}.
  const a0 = f64x2.add(x0, x4);
  const a1 = f64x2.sub(x0, x4);
  const a2 = f64x2.add(x2, x6);
  const a3 = quarter(f64x2.sub(x2, x6), rot);
  const e0 = f64x2.add(a0, a2);
  const e2 = f64x2.sub(a0, a2);
  const e1 = f64x2.add(a1, a3);
  const e3 = f64x2.sub(a1, a3);
  const b0 = f64x2.add(x1, x5);
  const b1 = f64x2.sub(x1, x5);
  const b2 = f64x2.add(x3, x7);
  const b3 = quarter(f64x2.sub(x3, x7), rot);
  const o0 = f64x2.add(b0, b2);
  const o2 = f64x2.sub(b0, b2);
  const o1 = f64x2.add(b1, b3);
  const o3 = f64x2.sub(b1, b3);
  const h = f64x2.splat(SQRT_HALF);
  const t1 = f64x2.mul(h, f64x2.add(o1, quarter(o1, rot)));
  const t2 = quarter(o2, rot);
  const t3 = f64x2.mul(h, f64x2.sub(quarter(o3, rot), o3));
  v128.store(a, f64x2.add(e0, o0));
  v128.store(a + 4 * q, f64x2.sub(e0, o0));
  v128.store(a + q, f64x2.add(e1, t1));
  v128.store(a + 5 * q, f64x2.sub(e1, t1));
  v128.store(a + 2 * q, f64x2.add(e2, t2));
  v128.store(a + 6 * q, f64x2.sub(e2, t2));
  v128.store(a + 3 * q, f64x2.add(e3, t3));
  v128.store(a + 7 * q, f64x2.sub(e3, t3));
}

function stage8(base: usize, step: usize, n: i32, len: i32, bytes: usize, ls: usize, tw: usize, rot: v128): void {
  const q = <usize>len * step;
  const end = base + <usize>n * step;
  for (let g = base; g < end; g += 8 * q) {
    for (let a = g, e = g + bytes; a < e; a += ls) {
      bfly8(a, q, v128.load(a), v128.load(a + q), v128.load(a + 2 * q), v128.load(a + 3 * q),
        v128.load(a + 4 * q), v128.load(a + 5 * q), v128.load(a + 6 * q), v128.load(a + 7 * q), rot);
    }
    for (let k = 1; k < len; k++) {
      const t = tw + <usize>(k - 1) * 224;
      const a0 = g + <usize>k * step;
      for (let a = a0, e = a0 + bytes; a < e; a += ls) {
        const x1 = cmul(v128.load(a + q), v128.load(t), v128.load(t, 16));
        const x2 = cmul(v128.load(a + 2 * q), v128.load(t, 32), v128.load(t, 48));
        const x3 = cmul(v128.load(a + 3 * q), v128.load(t, 64), v128.load(t, 80));
        const x4 = cmul(v128.load(a + 4 * q), v128.load(t, 96), v128.load(t, 112));
        const x5 = cmul(v128.load(a + 5 * q), v128.load(t, 128), v128.load(t, 144));
        const x6 = cmul(v128.load(a + 6 * q), v128.load(t, 160), v128.load(t, 176));
        const x7 = cmul(v128.load(a + 7 * q), v128.load(t, 192), v128.load(t, 208));
        bfly8(a, q, v128.load(a), x1, x2, x3, x4, x5, x6, x7, rot);
      }
    }
  }
}

/**
 * Every stage of `plan` on `count` lines whose samples are already in the plan's digit-reversed order; natural
 * order out, unnormalised.
 */
export function transformOrdered(plan: usize, base: usize, step: usize, count: i32, ls: usize, inverse: bool): void {
  const n = planN(plan);
  const stages = planStages(plan);
  const bytes = <usize>count * ls;
  const sign: f64 = inverse ? -1 : 1;
  const rot = f64x2(sign, -sign);
  for (let s = 0; s < stages; s++) {
    const rec = plan + 16 + (<usize>s << 4);
    const radix = load<i32>(rec);
    const len = load<i32>(rec, 4);
    const tw = <usize>load<i32>(rec + (inverse ? 12 : 8));
    if (radix == 4) stage4(base, step, n, len, bytes, ls, tw, rot);
    else if (radix == 8) stage8(base, step, n, len, bytes, ls, tw, rot);
    else if (radix == 2) stage2(base, step, n, len, bytes, ls, tw);
    else if (radix == 3) stage3(base, step, n, len, bytes, ls, tw, sign);
    else stage5(base, step, n, len, bytes, ls, tw, rot);
  }
}

// --- 3D passes ------------------------------------------------------------------------------------------

/**
 * The z lines of `rows` consecutive y rows (count = rows·width complex lines) in a grid whose planes are
 * `plane` bytes apart: gathered into `work` with plane order[p] at position p (so that the kernel's input is
 * in digit-reversed order), transformed, and written back to plane k = 0…n−1 in natural order. When
 * `srcOrdered` the planes are already stored in digit-reversed order (plane p holds z = order[p]).
 */
function zLines(plan: usize, data: usize, plane: usize, first: usize, bytes: usize, work: usize, inverse: bool, srcOrdered: bool): void {
  const n = planN(plan);
  for (let p = 0; p < n; p++) {
    const z = srcOrdered ? p : orderOf(plan, p);
    memory.copy(work + <usize>p * bytes, data + <usize>z * plane + first, bytes);
  }
  transformOrdered(plan, work, bytes, <i32>(bytes >> 4), 16, inverse);
  for (let k = 0; k < n; k++) memory.copy(data + <usize>k * plane + first, work + <usize>k * bytes, bytes);
}

/** y rows per batch of z lines: long inner loops, and the batch stays in L2. */
@inline function zRows(n: i32, plane: usize): i32 {
  const rows = <i32>(<usize>131072 / plane);
  return rows < 1 ? 1 : rows > n ? n : rows;
}

function zPass(plan: usize, data: usize, rowBytes: usize, work: usize, inverse: bool, srcOrdered: bool): void {
  const n = planN(plan);
  const plane = <usize>n * rowBytes;
  const rows = zRows(n, plane);
  for (let y = 0; y < n; y += rows) {
    const r = y + rows <= n ? rows : n - y;
    zLines(plan, data, plane, <usize>y * rowBytes, <usize>r * rowBytes, work, inverse, srcOrdered);
  }
}

/**
 * The forward z pass of a half spectrum whose planes are stored in digit-reversed order, written as the
 * full spectrum `full` (n³ complex): each transformed row (kz, ky) gives row (kz, ky) for kx ≤ n/2 and, by
 * Hermitian symmetry F(kx, −ky, −kz) = conj F(n − kx, ky, kz), row (−kz, −ky) for kx > n/2.
 */
function zPassFull(plan: usize, half: usize, full: usize, work: usize): void {
  const n = planN(plan);
  const h = (n >> 1) + 1;
  const rowBytes = <usize>h << 4;
  const plane = <usize>n * rowBytes;
  const fullRow = <usize>n << 4;
  const fullPlane = <usize>n * fullRow;
  const rows = zRows(n, plane);
  const conj = f64x2(1, -1);
  for (let y = 0; y < n; y += rows) {
    const r = y + rows <= n ? rows : n - y;
    const bytes = <usize>r * rowBytes;
    for (let p = 0; p < n; p++) memory.copy(work + <usize>p * bytes, half + <usize>p * plane + <usize>y * rowBytes, bytes);
    transformOrdered(plan, work, bytes, <i32>(bytes >> 4), 16, false);
    for (let kz = 0; kz < n; kz++) {
      const mz = kz == 0 ? 0 : n - kz;
      for (let i = 0; i < r; i++) {
        const ky = y + i;
        const my = ky == 0 ? 0 : n - ky;
        const src = work + <usize>kz * bytes + <usize>i * rowBytes;
        memory.copy(full + <usize>kz * fullPlane + <usize>ky * fullRow, src, rowBytes);
        const mirror = full + <usize>mz * fullPlane + <usize>my * fullRow;
        for (let kx = h; kx < n; kx++) {
          v128.store(mirror + (<usize>kx << 4), f64x2.mul(v128.load(src + (<usize>(n - kx) << 4)), conj));
        }
      }
    }
  }
}

// A real plan (i32 words): the plan of length n (y and z lines), the plan of length m = n/2 (x lines), and
// the twiddles W^k = e^{−2πik/n}, k = 0…⌊m/2⌋, forward (c, c, −s, s) and conjugated.
@inline function rPlanFull(rplan: usize): usize { return <usize>load<i32>(rplan); }
@inline function rPlanHalf(rplan: usize): usize { return <usize>load<i32>(rplan, 4); }
@inline function rTwiddles(rplan: usize, inverse: bool): usize { return <usize>load<i32>(rplan + (inverse ? 12 : 8)); }

/** Bytes between the complex x lines of the scratch: m samples, padded so that lines do not alias in cache. */
@inline function xStride(m: i32): usize {
  return (<usize>m << 4) + 64;
}

/**
 * Forward x lines of one real plane (n rows of n samples, f32 or f64 at `src`) into the half plane at `dst`
 * (n rows of h = n/2 + 1 complex), row y at row slot[y] for the y lines that follow. Row y is packed as
 * m = n/2 complex samples z_j = x_2j + i·x_2j+1 (a plain load: the samples are already interleaved), every
 * row goes through one m-point FFT Z, and X(k) = E(k) + W^k·O(k), X(m−k) = conj(E(k) − W^k·O(k)) with
 * E(k) = (Z(k) + conj Z(m−k))/2 and O(k) = (Z(k) − conj Z(m−k))/(2i), the transforms of the even and odd
 * samples. Row y goes to x line slot[y], so that the loops over k can run down the lines in order.
 */
function realRows(rplan: usize, src: usize, f32: bool, dst: usize, x: usize): void {
  const full = rPlanFull(rplan);
  const halfPlan = rPlanHalf(rplan);
  const n = planN(full);
  const m = n >> 1;
  const rowBytes = <usize>(m + 1) << 4;
  const stride = xStride(m);
  const slots = planSlot(halfPlan);
  for (let y = 0; y < n; y++) {
    const line = x + <usize>slotOf(full, y) * stride;
    if (f32) {
      const row = src + <usize>(y * n) * 4;
      for (let j = 0; j < m; j++) {
        const v = f64x2.promote_low_f32x4(v128.load64_zero(row + (<usize>j << 3)));
        v128.store(line + (<usize>load<i32>(slots + (<usize>j << 2)) << 4), v);
      }
    } else {
      const row = src + <usize>(y * n) * 8;
      for (let j = 0; j < m; j++) {
        v128.store(line + (<usize>load<i32>(slots + (<usize>j << 2)) << 4), v128.load(row + (<usize>j << 4)));
      }
    }
  }
  transformOrdered(halfPlan, x, 16, n, stride, false);
  const conj = f64x2(1, -1);
  const half = f64x2.splat(0.5);
  const halfRot = f64x2(0.5, -0.5);
  const tw = rTwiddles(rplan, false);
  const pairs = m >> 1;
  const end = x + <usize>n * stride;
  for (let k = 0; k <= pairs; k++) {
    const wr = v128.load(tw + (<usize>k << 5));
    const wi = v128.load(tw + (<usize>k << 5), 16);
    const ck = <usize>k << 4;
    const dk = <usize>(k == 0 ? 0 : m - k) << 4;
    const ok = <usize>(m - k) << 4;
    for (let line = x, out = dst; line < end; line += stride, out += rowBytes) {
      const c = v128.load(line + ck);
      const d = f64x2.mul(v128.load(line + dk), conj);
      const e = f64x2.mul(f64x2.add(c, d), half);
      const t = cmul(f64x2.mul(swap(f64x2.sub(c, d)), halfRot), wr, wi);
      v128.store(out + ck, f64x2.add(e, t));
      v128.store(out + ok, f64x2.mul(f64x2.sub(e, t), conj));
    }
  }
}

/**
 * Inverse x lines of one half plane (n rows of h complex, natural y order, at `src`) into n real rows at
 * `dst` (f32 or f64): the inverse of realRows' packing, Z(k) = E(k) + i·O(k) with E(k) = X(k) + conj X(m−k)
 * and O(k) = conj(W^k)·(X(k) − conj X(m−k)), times `scale` (1/n³ folds the 1/m of the x lines, the 1/2 of
 * E and O and the 1/n² of the y and z lines into one factor), then one inverse m-point FFT per row whose
 * samples are (x_2j, x_2j+1). The imaginary parts of X(0) and X(n/2), which the spectrum of a real row
 * cannot have, are dropped (as numpy's irfft does).
 */
function complexRows(rplan: usize, src: usize, dst: usize, f32: bool, x: usize, scale: f64): void {
  const full = rPlanFull(rplan);
  const halfPlan = rPlanHalf(rplan);
  const n = planN(full);
  const m = n >> 1;
  const rowBytes = <usize>(m + 1) << 4;
  const stride = xStride(m);
  const s = f64x2.splat(scale);
  const conj = f64x2(1, -1);
  const turn = f64x2(-1, 1);
  const tw = rTwiddles(rplan, true);
  const pairs = m >> 1;
  const end = x + <usize>n * stride;
  {
    // k = 0: Z(0) = (Re X(0) + Re X(m)) + i·(Re X(0) − Re X(m)), W^0 = 1
    const at = <usize>slotOf(halfPlan, 0) << 4;
    const last = <usize>m << 4;
    for (let line = x, row = src; line < end; line += stride, row += rowBytes) {
      const a = f64x2.extract_lane(v128.load(row), 0);
      const b = f64x2.extract_lane(v128.load(row + last), 0);
      v128.store(line + at, f64x2.mul(f64x2(a + b, a - b), s));
    }
  }
  for (let k = 1; k <= pairs; k++) {
    const wr = v128.load(tw + (<usize>k << 5));
    const wi = v128.load(tw + (<usize>k << 5), 16);
    const ak = <usize>k << 4;
    const bk = <usize>(m - k) << 4;
    const zk = <usize>slotOf(halfPlan, k) << 4;
    const zm = <usize>slotOf(halfPlan, m - k) << 4;
    for (let line = x, row = src; line < end; line += stride, row += rowBytes) {
      const a = v128.load(row + ak);
      const b = f64x2.mul(v128.load(row + bk), conj);
      const e = f64x2.mul(f64x2.add(a, b), s);
      const o = swap(cmul(f64x2.mul(f64x2.sub(a, b), s), wr, wi));
      v128.store(line + zk, f64x2.add(e, f64x2.mul(o, turn)));
      v128.store(line + zm, f64x2.add(f64x2.mul(e, conj), o));
    }
  }
  transformOrdered(halfPlan, x, 16, n, stride, true);
  for (let y = 0; y < n; y++) {
    const line = x + <usize>y * stride;
    if (f32) {
      const out = dst + <usize>(y * n) * 4;
      for (let j = 0; j < m; j++) {
        v128.store64_lane(out + (<usize>j << 3), f32x4.demote_f64x2_zero(v128.load(line + (<usize>j << 4))), 0);
      }
    } else {
      memory.copy(dst + <usize>(y * n) * 8, line, <usize>m << 4);
    }
  }
}

/**
 * Forward real → half spectrum of an n³ volume (n even): for each plane z, its x lines (realRows) and its y
 * lines, stored as plane slot[z] of `half`; then the z lines over batches of y rows, in place, natural order
 * out. `half` is (n/2+1)·n·n complex, kx fastest: numpy's rfftn layout.
 */
export function rfft3(rplan: usize, src: usize, f32: bool, half: usize, x: usize, work: usize): void {
  const plan = rPlanFull(rplan);
  const n = planN(plan);
  const h = (n >> 1) + 1;
  const rowBytes = <usize>h << 4;
  const plane = <usize>n * rowBytes;
  const srcPlane = <usize>n * <usize>n * (f32 ? 4 : 8);
  for (let z = 0; z < n; z++) {
    const dst = half + <usize>slotOf(plan, z) * plane;
    realRows(rplan, src + <usize>z * srcPlane, f32, dst, x);
    transformOrdered(plan, dst, rowBytes, h, 16, false);
  }
  zPass(plan, half, rowBytes, work, false, true);
}

/**
 * The inverse z lines of a half spectrum, gathered from `half` (or, when `full` is not 0, as the Hermitian
 * part H(k) = (S(k) + conj S(−k))/2 of the full spectrum S at `full`, whose inverse is the real part of S's)
 * in digit-reversed z order, and written back to `half` in natural order.
 */
function zPassInverse(plan: usize, half: usize, full: usize, work: usize): void {
  const n = planN(plan);
  const h = (n >> 1) + 1;
  const rowBytes = <usize>h << 4;
  const plane = <usize>n * rowBytes;
  const fullRow = <usize>n << 4;
  const fullPlane = <usize>n * fullRow;
  const rows = zRows(n, plane);
  const hh = f64x2.splat(0.5);
  const hc = f64x2(0.5, -0.5);
  for (let y = 0; y < n; y += rows) {
    const r = y + rows <= n ? rows : n - y;
    const bytes = <usize>r * rowBytes;
    for (let p = 0; p < n; p++) {
      const z = orderOf(plan, p);
      const dst = work + <usize>p * bytes;
      if (full == 0) {
        memory.copy(dst, half + <usize>z * plane + <usize>y * rowBytes, bytes);
        continue;
      }
      const mz = z == 0 ? 0 : n - z;
      for (let i = 0; i < r; i++) {
        const my = y + i == 0 ? 0 : n - y - i;
        const src = full + <usize>z * fullPlane + <usize>(y + i) * fullRow;
        const mir = full + <usize>mz * fullPlane + <usize>my * fullRow;
        const row = dst + <usize>i * rowBytes;
        v128.store(row, f64x2.add(f64x2.mul(v128.load(src), hh), f64x2.mul(v128.load(mir), hc)));
        for (let k = 1; k < h; k++) {
          const v = f64x2.add(f64x2.mul(v128.load(src + (<usize>k << 4)), hh), f64x2.mul(v128.load(mir + (<usize>(n - k) << 4)), hc));
          v128.store(row + (<usize>k << 4), v);
        }
      }
    }
    transformOrdered(plan, work, bytes, <i32>(bytes >> 4), 16, true);
    for (let kz = 0; kz < n; kz++) memory.copy(half + <usize>kz * plane + <usize>y * rowBytes, work + <usize>kz * bytes, bytes);
  }
}

/**
 * Inverse half spectrum → real n³ volume (n even), normalised by 1/n³: the z lines (zPassInverse: `half`
 * is overwritten; with `full` not 0 it is only the output of the z lines of the full spectrum's Hermitian
 * part), then for each plane its y lines (gathered in digit-reversed order into `work`) and its x lines
 * (complexRows) into plane z of `dst`.
 */
export function irfft3(rplan: usize, half: usize, full: usize, dst: usize, f32: bool, x: usize, work: usize): void {
  const plan = rPlanFull(rplan);
  const n = planN(plan);
  const h = (n >> 1) + 1;
  const rowBytes = <usize>h << 4;
  const plane = <usize>n * rowBytes;
  zPassInverse(plan, half, full, work);
  const dstPlane = <usize>n * <usize>n * (f32 ? 4 : 8);
  const scale = 1.0 / (<f64>n * <f64>n * <f64>n);
  for (let z = 0; z < n; z++) {
    const src = half + <usize>z * plane;
    for (let p = 0; p < n; p++) memory.copy(work + <usize>p * rowBytes, src + <usize>orderOf(plan, p) * rowBytes, rowBytes);
    transformOrdered(plan, work, rowBytes, h, 16, true);
    complexRows(rplan, work, dst + <usize>z * dstPlane, f32, x, scale);
  }
}

/** rfft3 written as the full spectrum (n³ complex) at `full` instead of the half spectrum. */
export function rfft3Full(rplan: usize, src: usize, f32: bool, half: usize, full: usize, x: usize, work: usize): void {
  const plan = rPlanFull(rplan);
  const n = planN(plan);
  const h = (n >> 1) + 1;
  const rowBytes = <usize>h << 4;
  const plane = <usize>n * rowBytes;
  const srcPlane = <usize>n * <usize>n * (f32 ? 4 : 8);
  for (let z = 0; z < n; z++) {
    const dst = half + <usize>slotOf(plan, z) * plane;
    realRows(rplan, src + <usize>z * srcPlane, f32, dst, x);
    transformOrdered(plan, dst, rowBytes, h, 16, false);
  }
  zPassFull(plan, half, full, work);
}

/**
 * In-place complex FFT of an n³ grid (any n = 2^a·3^b·5^c), inverse normalised by 1/n³: for each plane, its
 * x lines (row y gathered into x line slot[y] with its samples in digit-reversed order, the 1/n³ folded in)
 * and its y lines (the x lines written back as rows already in digit-reversed y order), then the z lines.
 */
export function fft3c(plan: usize, data: usize, x: usize, work: usize, inverse: bool): void {
  const n = planN(plan);
  const rowBytes = <usize>n << 4;
  const plane = <usize>n * rowBytes;
  const stride = rowBytes + 64;
  const slots = planSlot(plan);
  const f = inverse ? 1.0 / (<f64>n * <f64>n * <f64>n) : 1.0;
  const scale = f64x2.splat(f);
  for (let z = 0; z < n; z++) {
    const pz = data + <usize>z * plane;
    for (let y = 0; y < n; y++) {
      const row = pz + <usize>y * rowBytes;
      const line = x + <usize>slotOf(plan, y) * stride;
      if (inverse) {
        for (let j = 0; j < n; j++) {
          v128.store(line + (<usize>load<i32>(slots + (<usize>j << 2)) << 4), f64x2.mul(v128.load(row + (<usize>j << 4)), scale));
        }
      } else {
        for (let j = 0; j < n; j++) {
          v128.store(line + (<usize>load<i32>(slots + (<usize>j << 2)) << 4), v128.load(row + (<usize>j << 4)));
        }
      }
    }
    transformOrdered(plan, x, 16, n, stride, inverse);
    for (let p = 0; p < n; p++) memory.copy(pz + <usize>p * rowBytes, x + <usize>p * stride, rowBytes);
    transformOrdered(plan, pz, rowBytes, n, 16, inverse);
  }
  zPass(plan, data, rowBytes, work, inverse, false);
}

/** Heap start: core/fftWasm.ts lays out plans and buffers from here. */
export function heapBase(): usize {
  return __heap_base;
}
