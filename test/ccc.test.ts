import { describe, expect, it } from 'vitest';
import { CccWorkspace, type ConstrainedCccOptions, constrain, constrainedCCC, dissimilarity } from '../core/ccc.ts';
import { applyFourierFilter, gaussianFilter, softSphereMask } from '../core/filters.ts';
import { Rng } from '../core/random.ts';
import { eulerToMatrix, inversePose, transformVolume, transpose } from '../core/rotate.ts';
import { Volume } from '../core/volume.ts';
import { symmetricTilt, wedgeMask } from '../core/wedge.ts';

function noise(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const v = new Float32Array(n * n * n);
  for (let i = 0; i < v.length; i++) v[i] = rng.gaussian();
  return v;
}

/** A smooth, particle-like structure: low-passed noise inside a soft sphere. */
function blob(n: number, seed: number): Volume {
  const smooth = gaussianFilter(new Volume(n, 6, noise(n, seed)), 1.5);
  const sphere = softSphereMask(n, n / 3, 3);
  for (let i = 0; i < sphere.length; i++) smooth.data[i] *= sphere[i];
  return smooth;
}

/**
 * Slow reference for f_Ω straight from the definition: naive 3D DFT, multiply by Ω, naive inverse DFT
 * keeping the real part, subtract the mask-weighted mean, multiply by the mask, divide by the L2 norm.
 */
function constrainReference(f: Float32Array, n: number, omega: Float32Array, mask: Float32Array): Float64Array {
  const len = n * n * n;
  const cos = new Float64Array(n);
  const sin = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    cos[j] = Math.cos((2 * Math.PI * j) / n);
    sin[j] = Math.sin((2 * Math.PI * j) / n);
  }
  const coord = (i: number): [number, number, number] => [i % n, Math.floor(i / n) % n, Math.floor(i / (n * n))];
  const phaseIndex = (a: number[], b: number[]): number => (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) % n;
  const re = new Float64Array(len);
  const im = new Float64Array(len);
  for (let k = 0; k < len; k++) {
    const kc = coord(k);
    for (let x = 0; x < len; x++) {
      const p = phaseIndex(kc, coord(x));
      re[k] += f[x] * cos[p];
      im[k] -= f[x] * sin[p];
    }
    re[k] *= omega[k];
    im[k] *= omega[k];
  }
  const h = new Float64Array(len);
  for (let x = 0; x < len; x++) {
    const xc = coord(x);
    let s = 0;
    for (let k = 0; k < len; k++) {
      const p = phaseIndex(coord(k), xc);
      s += re[k] * cos[p] - im[k] * sin[p];
    }
    h[x] = s / len;
  }
  let mw = 0;
  let m = 0;
  for (let i = 0; i < len; i++) {
    mw += mask[i] * h[i];
    m += mask[i];
  }
  const out = new Float64Array(len);
  let norm2 = 0;
  for (let i = 0; i < len; i++) {
    out[i] = (h[i] - mw / m) * mask[i];
    norm2 += out[i] * out[i];
  }
  for (let i = 0; i < len; i++) out[i] /= Math.sqrt(norm2);
  return out;
}

/** Binary Ω with k = 0 and ~60% of the other frequencies, deliberately not centrosymmetric. */
function randomOverlap(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const omega = new Float32Array(n * n * n);
  for (let i = 0; i < omega.length; i++) omega[i] = i === 0 || rng.uniform() < 0.6 ? 1 : 0;
  return omega;
}

function randomSoftMask(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const mask = new Float32Array(n * n * n);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.uniform();
  return mask;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

describe('constrain() against a naive-DFT reference', () => {
  for (const n of [6, 8]) {
    it(`matches the definition on ${n}³ with a non-centrosymmetric Ω and a soft mask`, () => {
      const f = noise(n, 10 + n);
      const omega = randomOverlap(n, 20 + n);
      const mask = randomSoftMask(n, 30 + n);
      const ours = constrain(f, n, omega, mask);
      const ref = constrainReference(f, n, omega, mask);
      expect(maxAbsDiff(ours, ref)).toBeLessThan(2e-6);
    });
  }

  it('the two-volumes-in-one-FFT CCC equals Σ f_Ω·g_Ω of the references (6³, non-centrosymmetric Ω)', () => {
    const n = 6;
    const f = noise(n, 1);
    const g = noise(n, 2);
    const omega = randomOverlap(n, 3);
    const mask = randomSoftMask(n, 4);
    const expected = dot(constrainReference(f, n, omega, mask), constrainReference(g, n, omega, mask));
    expect(Math.abs(expected)).toBeGreaterThan(0.01); // a meaningful comparison, not 0 vs 0
    const ws = new CccWorkspace(n);
    expect(ws.ccc(f, g, omega, mask)).toBeCloseTo(expected, 10);
  });
});

describe('constrain() output', () => {
  const n = 16;
  const f = noise(n, 5);
  const omega = wedgeMask(n, symmetricTilt(60));

  it('has zero mean, unit norm and vanishes outside a binary mask', () => {
    const mask = softSphereMask(n, 5, 0);
    const out = constrain(f, n, omega, mask);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < out.length; i++) {
      sum += out[i];
      if (mask[i] === 0) outside = Math.max(outside, Math.abs(out[i]));
    }
    expect(Math.abs(sum)).toBeLessThan(1e-5);
    expect(Math.sqrt(dot(out, out))).toBeCloseTo(1, 6);
    expect(outside).toBe(0);
  });

  it('has Σ out = 0 with a soft mask too (the mean is mask-weighted)', () => {
    const out = constrain(f, n, omega, softSphereMask(n, 4, 3));
    expect(Math.abs(out.reduce((a, b) => a + b, 0))).toBeLessThan(1e-5);
  });

  it('writes into a caller buffer and reuses it', () => {
    const buffer = new Float32Array(n * n * n);
    const out = new CccWorkspace(n).constrain(f, omega, undefined, buffer);
    expect(out).toBe(buffer);
    expect(maxAbsDiff(buffer, constrain(f, n, omega))).toBe(0);
  });
});

describe('constrainedCCC', () => {
  const n = 32;
  const v = blob(n, 7);
  const w = blob(n, 8);
  const mask = softSphereMask(n, 12, 3);
  const wedge60 = wedgeMask(n, symmetricTilt(60));
  const rotatedWedge = wedgeMask(n, symmetricTilt(45), eulerToMatrix({ phi: 0.3, theta: 1.1, psi: -0.7 }));
  const cases: Record<string, ConstrainedCccOptions> = {
    'no wedges, no mask': {},
    'one wedge': { wedgeF: wedge60 },
    'two different wedges and a soft mask': { wedgeF: wedge60, wedgeG: rotatedWedge, mask },
  };

  for (const [name, opts] of Object.entries(cases)) {
    it(`CCC(v, v) = 1 and CCC(v, −v) = −1 (${name})`, () => {
      expect(constrainedCCC(v, v, opts)).toBeCloseTo(1, 6);
      const neg = v.withData(v.data.map((x) => -x));
      expect(constrainedCCC(v, neg, opts)).toBeCloseTo(-1, 6);
    });

    it(`is invariant to a·g + b with a > 0 and symmetric in f, g (${name})`, () => {
      const base = constrainedCCC(v, w, opts);
      expect(Math.abs(base)).toBeLessThan(0.9); // two different blobs: not trivially 1
      const affine = w.withData(w.data.map((x) => 3.7 * x - 12.5));
      expect(constrainedCCC(v, affine, opts)).toBeCloseTo(base, 5);
      const swapped = { wedgeF: opts.wedgeG, wedgeG: opts.wedgeF, mask: opts.mask };
      expect(constrainedCCC(w, v, swapped)).toBeCloseTo(base, 10);
    });
  }

  it('dissimilarity 2 − 2·CCC equals ‖f_Ω − g_Ω‖² of the constrained volumes (paper Eq. 8)', () => {
    const omega = new Float32Array(n * n * n);
    for (let i = 0; i < omega.length; i++) omega[i] = wedge60[i] * rotatedWedge[i];
    const fo = constrain(v.data, n, omega, mask);
    const go = constrain(w.data, n, omega, mask);
    let d = 0;
    for (let i = 0; i < fo.length; i++) d += (fo[i] - go[i]) ** 2;
    const ccc = constrainedCCC(v, w, { wedgeF: wedge60, wedgeG: rotatedWedge, mask });
    expect(dissimilarity(ccc)).toBeCloseTo(d, 5);
    expect(dissimilarity(1)).toBe(0);
    expect(dissimilarity(-1)).toBe(4);
  });

  it('scores the true pose with the rotated wedge above the same pose with an unrotated wedge', () => {
    // particle = wedge-filtered copy of the reference at pose β; undo β and rotate its wedge with it
    const tilt = symmetricTilt(50);
    const pose = { phi: 0.9, theta: 1.2, psi: -0.4, tx: 0, ty: 0, tz: 0 };
    const R = eulerToMatrix(pose);
    const rotated = transformVolume(v, pose);
    const particleWedge = wedgeMask(n, tilt);
    const particle = applyFourierFilter(rotated, particleWedge);
    const back = transformVolume(particle, inversePose(pose));
    const backWedge = wedgeMask(n, tilt, transpose(R));
    const right = constrainedCCC(v, back, { wedgeG: backWedge, mask });
    const wrong = constrainedCCC(v, back, { wedgeG: particleWedge, mask });
    // measured: right 0.990, wrong 0.734 (the residual is trilinear interpolation)
    expect(right).toBeGreaterThan(0.97);
    expect(right - wrong).toBeGreaterThan(0.1);
  });

  it('throws a clear error for an empty wedge overlap', () => {
    const onlyDc = new Float32Array(n * n * n);
    onlyDc[0] = 1;
    expect(() => constrainedCCC(v, w, { wedgeF: onlyDc })).toThrow(/wedge overlap is empty/);
    expect(() => constrain(v.data, n, onlyDc, mask)).toThrow(/wedge overlap is empty/);
  });

  it('throws a clear error for a volume that is constant inside the mask', () => {
    const constant = v.withData(new Float32Array(n * n * n).fill(5));
    expect(() => constrainedCCC(v, constant)).toThrow(/volume is constant inside the mask/);
    expect(() => constrainedCCC(constant, v, { mask })).toThrow(/volume is constant inside the mask/);
    // a wave along z (beam axis) lies entirely in the missing wedge: nothing is left after Ω
    const wave = v.withData(new Float32Array(n * n * n));
    for (let i = 0; i < wave.data.length; i++) wave.data[i] = Math.cos((2 * Math.PI * 3 * Math.floor(i / (n * n))) / n);
    expect(() => constrainedCCC(wave, v, { wedgeF: wedge60 })).toThrow(/volume is constant inside the mask/);
  });

  it('rejects mismatched sizes with a message naming them', () => {
    expect(() => constrainedCCC(v, new Volume(16, 6))).toThrow(/32³ vs 16³/);
    expect(() => constrainedCCC(v, new Volume(32, 5))).toThrow(/voxel sizes differ/);
    expect(() => constrainedCCC(v, w, { mask: new Float32Array(10) })).toThrow(/real-space mask has 10 values/);
  });
});
