/**
 * Post-processing (core/postprocess.ts) against independent references and physical invariants: phase
 * randomisation keeps amplitudes and a real map; Chen et al. (2013)'s test of the mask correction (halves
 * identical to a shell and independent beyond, a tight mask); the masked-FSC gain a mask gives by removing
 * noise, FSC' = FSC/(f + (1 − f)·FSC) for white noise and a mask of mean square f (the SNR grows by 1/f); the
 * B-factor of a Wilson-statistics map blurred by an independent Gaussian filter; the FSC weight and the whole
 * spectrum of the post-processed map computed directly.
 */
import { describe, expect, it } from 'vitest';
import { fft3 } from '../core/fft.ts';
import { gaussianFilter, softSphereMask } from '../core/filters.ts';
import { FSC_GOLD_STANDARD, type FscCurve, crossingShell, fscCurve, goldStandardResolution } from '../core/fsc.ts';
import {
  CORRECTION_SHELL_OFFSET,
  GuinierFitRangeError,
  NoRandomisationShellError,
  applyBFactor,
  correctedFsc,
  defaultGuinierFitRange,
  firstShellBelow,
  fitGuinier,
  fscWeight,
  fscWeightsByShell,
  guinierPlot,
  maskCorrectedFsc,
  postprocess,
  randomisePhasesBeyond,
  shellIndices,
  weightShells,
} from '../core/postprocess.ts';
import { Rng } from '../core/random.ts';
import { Volume, centreOf, freqOf } from '../core/volume.ts';
import { POSTPROCESS_DEFAULTS } from '../model/defaults.ts';

const n = 64;
const voxel = 6;

/** `count` unit point scatterers at random voxels within `radius` of the centre: |F|² averages `count` in every shell (Wilson). */
function atoms(seed: number, count: number, radius: number): Volume {
  const rng = new Rng(seed);
  const v = new Volume(n, voxel);
  const c = centreOf(n);
  for (let a = 0; a < count; a++) {
    let x: number, y: number, z: number;
    do {
      x = rng.range(-radius, radius);
      y = rng.range(-radius, radius);
      z = rng.range(-radius, radius);
    } while (x * x + y * y + z * z > radius * radius);
    v.data[Math.round(c + x) + n * (Math.round(c + y) + n * Math.round(c + z))] += 1;
  }
  return v;
}

function noise(seed: number, sigma: number): Volume {
  const rng = new Rng(seed);
  const v = new Volume(n, voxel);
  for (let i = 0; i < v.data.length; i++) v.data[i] = sigma * rng.gaussian();
  return v;
}

function add(a: Volume, b: Volume): Volume {
  return a.withData(a.data.map((x, i) => x + b.data[i]));
}

function meanSquare(mask: Float32Array): number {
  let s = 0;
  for (const m of mask) s += m * m;
  return s / mask.length;
}

/** A compact model: 3000 atoms within 20 voxels, blurred by a Gaussian of one voxel. */
const model = gaussianFilter(atoms(1, 3000, 20), 1);

describe('randomisePhasesBeyond', () => {
  it('keeps every amplitude and the spectrum below the shell, and decorrelates the shells beyond', () => {
    const shell = 12;
    const out = randomisePhasesBeyond(model, shell, new Rng(7));
    const a = fft3(model.data, n);
    const b = fft3(out.data, n);
    let maxAmplitude = 0;
    for (let i = 0; i < a.length / 2; i++) maxAmplitude = Math.max(maxAmplitude, Math.hypot(a[2 * i], a[2 * i + 1]));
    let amplitudeError = 0;
    let belowError = 0;
    for (let z = 0, i = 0; z < n; z++) {
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++, i++) {
          // a non-Hermitian spectrum would lose part of its amplitude to the discarded imaginary part
          amplitudeError = Math.max(amplitudeError, Math.abs(Math.hypot(b[2 * i], b[2 * i + 1]) - Math.hypot(a[2 * i], a[2 * i + 1])));
          if (freqOf(x, n) ** 2 + freqOf(y, n) ** 2 + freqOf(z, n) ** 2 < shell * shell) {
            belowError = Math.max(belowError, Math.abs(b[2 * i] - a[2 * i]), Math.abs(b[2 * i + 1] - a[2 * i + 1]));
          }
        }
      }
    }
    expect(amplitudeError / maxAmplitude).toBeLessThan(1e-6);
    expect(belowError / maxAmplitude).toBeLessThan(1e-6);
    const fsc = fscCurve(model, out);
    fsc.shell.forEach((r, i) => {
      if (r < shell) expect(fsc.fsc[i]).toBeCloseTo(1, 6);
      else if (r > shell) expect(Math.abs(fsc.fsc[i])).toBeLessThan(4 / Math.sqrt(fsc.count[i]));
    });
  });

  it('is reproducible from its seed and differs between seeds', () => {
    const a = randomisePhasesBeyond(model, 10, new Rng(3));
    expect(randomisePhasesBeyond(model, 10, new Rng(3)).data).toEqual(a.data);
    expect(randomisePhasesBeyond(model, 10, new Rng(4)).data).not.toEqual(a.data);
  });
});

describe('mask-corrected FSC (Chen et al. 2013)', () => {
  it('applies (FSC_m − FSC_n)/(1 − FSC_n) from two shells beyond the randomisation shell on', () => {
    const shells = [1, 2, 3, 4, 5, 6, 7];
    const curve = (fsc: number[]): FscCurve => ({ shell: shells, spatialFrequency: shells, fsc, count: shells });
    const masked = curve([1, 0.9, 0.8, 0.6, 0.5, 0.4, 0.3]);
    const random = curve([1, 0.9, 0.7, 0.5, 0.2, 0.25, 0.1]);
    const expected = [1, 0.9, 0.8, 0.6, (0.5 - 0.2) / 0.8, (0.4 - 0.25) / 0.75, (0.3 - 0.1) / 0.9];
    correctedFsc(masked, random, 5 - CORRECTION_SHELL_OFFSET).fsc.forEach((f, i) => expect(f).toBeCloseTo(expected[i], 14));
    expect(firstShellBelow(masked, POSTPROCESS_DEFAULTS.randomiseAtFsc)).toBe(4);
    expect(firstShellBelow(masked, 0.2)).toBeUndefined();
  });

  it('halves identical to shell 12 and independent beyond, under a tight mask: the masked FSC is inflated, the corrected one is not', () => {
    const R0 = 12;
    const half1 = randomisePhasesBeyond(model, R0, new Rng(100));
    const half2 = randomisePhasesBeyond(model, R0, new Rng(101));
    const mask = softSphereMask(n, 18, 3); // cuts the model's outer 2 voxels
    const f = meanSquare(mask);
    const r = maskCorrectedFsc(half1, half2, mask, { seed: 0 });
    expect(r.randomiseFrom).toBe(R0);
    let inflation = 0;
    let residual = 0;
    let shells = 0;
    r.unmasked.shell.forEach((shell, i) => {
      if (shell < R0 + CORRECTION_SHELL_OFFSET) return;
      inflation += r.masked.fsc[i] - r.unmasked.fsc[i];
      residual += r.corrected.fsc[i] - r.unmasked.fsc[i];
      shells++;
      // a masked map has about count·f independent Fourier samples per shell; the correction divides by 1 − FSC_n
      const sigma = 1 / (Math.sqrt(r.unmasked.count[i] * f) * (1 - r.randomisedMasked.fsc[i]));
      expect(Math.abs(r.corrected.fsc[i] - r.unmasked.fsc[i]), `shell ${shell}`).toBeLessThan(4 * sigma);
    });
    // measured: inflation 0.26, residual −0.007 per shell
    expect(inflation / shells).toBeGreaterThan(0.2);
    expect(Math.abs(residual / shells)).toBeLessThan(0.02);
  });

  it('model + independent white noise, a mask that keeps all the signal: the corrected FSC is the unmasked one with the SNR raised by 1/f', () => {
    const sigmaNoise = 0.02;
    const half1 = add(model, noise(5, sigmaNoise));
    const half2 = add(model, noise(6, sigmaNoise));
    const mask = softSphereMask(n, 24, 4);
    const f = meanSquare(mask);
    const r = maskCorrectedFsc(half1, half2, mask, { seed: 0 });
    const predicted = r.unmasked.fsc.map((F) => F / (f + (1 - f) * F));
    r.unmasked.fsc.forEach((F, i) => {
      if (F < 0.1) return; // where F ≈ 0 the prediction multiplies its noise by 1/f
      const count = r.unmasked.count[i];
      const sigmaPredicted = (f / (f + (1 - f) * F) ** 2) * (1 - F * F) / Math.sqrt(count);
      const sigmaCorrected = (1 - predicted[i] ** 2) / Math.sqrt(count * f);
      expect(Math.abs(r.corrected.fsc[i] - predicted[i]), `shell ${r.unmasked.shell[i]}`).toBeLessThan(4 * Math.hypot(sigmaPredicted, sigmaCorrected));
    });
    const predictedCurve = { ...r.unmasked, fsc: predicted };
    expect(Math.abs(crossingShell(r.corrected, FSC_GOLD_STANDARD) - crossingShell(predictedCurve, FSC_GOLD_STANDARD))).toBeLessThan(0.5);
    expect(crossingShell(r.corrected, FSC_GOLD_STANDARD)).toBeGreaterThan(crossingShell(r.unmasked, FSC_GOLD_STANDARD) + 3);
  });

  it('identical halves: the FSC never drops below 0.8, so the randomisation shell must be named; then it stays 1', () => {
    const mask = softSphereMask(n, 18, 3);
    expect(() => maskCorrectedFsc(model, model, mask)).toThrow(NoRandomisationShellError);
    const r = maskCorrectedFsc(model, model, mask, { randomiseFrom: 10 });
    for (const f of r.corrected.fsc) expect(f).toBeCloseTo(1, 5);
    expect(() => maskCorrectedFsc(model, model, mask, { randomiseFrom: 32 })).toThrow(/integer from 1 to 31, got 32/);
  });
});

describe('sharpening', () => {
  it('the FSC weight is sqrt(2·FSC/(1 + FSC)): 0.5 at 0.143 (Rosenthal & Henderson), 1 at 1, 0 at or below 0', () => {
    expect(fscWeight(FSC_GOLD_STANDARD)).toBeCloseTo(0.5, 3);
    expect(fscWeight(1)).toBe(1);
    expect(fscWeight(0)).toBe(0);
    expect(fscWeight(-0.3)).toBe(0);
    for (const f of [0.01, 0.3, 0.77]) expect(fscWeight(f) ** 2 * (1 + f)).toBeCloseTo(2 * f, 12);
  });

  it('weights every Fourier voxel by its shell, and nothing from the first FSC below 1e-4 on', () => {
    const shells = Array.from({ length: n / 2 - 1 }, (_, i) => i + 1);
    const fsc = shells.map((r) => (r === 20 ? 0 : 0.95 ** r)); // positive again after shell 20
    const curve: FscCurve = { shell: shells, spatialFrequency: shells, fsc, count: shells };
    const spec = fft3(model.data, n);
    const weighted = spec.slice();
    weightShells(weighted, shellIndices(n), fscWeightsByShell(curve, n));
    let mismatches = 0;
    for (let z = 0, i = 0; z < n; z++) {
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++, i++) {
          const r = Math.round(Math.hypot(freqOf(x, n), freqOf(y, n), freqOf(z, n)));
          const w = r === 0 ? 1 : r < 20 ? Math.sqrt((2 * fsc[r - 1]) / (1 + fsc[r - 1])) : 0;
          if (weighted[2 * i] !== spec[2 * i] * w || weighted[2 * i + 1] !== spec[2 * i + 1] * w) mismatches++;
        }
      }
    }
    expect(mismatches).toBe(0);
  });

  it('exp(−B·s²/4) with B > 0 is a Gaussian blur of σ² = B/(8π²) Å² inside Nyquist, and zero beyond', () => {
    const B = 900;
    const sigmaVoxels = Math.sqrt(B / (8 * Math.PI * Math.PI)) / voxel;
    const expected = fft3(gaussianFilter(model, sigmaVoxels).data, n);
    const spec = fft3(model.data, n);
    applyBFactor(spec, n, voxel, B);
    let maxError = 0;
    let maxValue = 0;
    for (let z = 0, i = 0; z < n; z++) {
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++, i++) {
          const k2 = freqOf(x, n) ** 2 + freqOf(y, n) ** 2 + freqOf(z, n) ** 2;
          if (k2 > (n / 2) ** 2) {
            expect(Math.abs(spec[2 * i]) + Math.abs(spec[2 * i + 1])).toBe(0);
            continue;
          }
          maxValue = Math.max(maxValue, Math.abs(expected[2 * i]));
          maxError = Math.max(maxError, Math.abs(spec[2 * i] - expected[2 * i]), Math.abs(spec[2 * i + 1] - expected[2 * i + 1]));
        }
      }
    }
    expect(maxError / maxValue).toBeLessThan(1e-5);
  });

  it('recovers the B-factor of a Wilson-statistics map blurred by a Gaussian, and sharpening with it flattens the Guinier plot', () => {
    const B0 = 2000; // Å²: exp(−B0·s²/4) is 0.18 at 24 Å
    const sigmaVoxels = Math.sqrt(B0 / (8 * Math.PI * Math.PI)) / voxel;
    // sparse enough (2000 atoms in 92000 voxels) that the sphere's envelope leaves the shells fitted flat
    const blurred = gaussianFilter(atoms(2, 2000, 28), sigmaVoxels);
    const shells = shellIndices(n);
    const spec = fft3(blurred.data, n);
    const fit = fitGuinier(guinierPlot(spec, shells, n, voxel), 60, 14);
    expect(fit.points).toBe(21); // shells 7 … 27
    expect(Math.abs(fit.bFactor / -B0 - 1)).toBeLessThan(0.02); // measured −1990 Å², 0.5 %
    expect(fit.correlation).toBeGreaterThan(0.99);
    applyBFactor(spec, n, voxel, fit.bFactor);
    const flat = fitGuinier(guinierPlot(spec, shells, n, voxel), 60, 14);
    expect(Math.abs(flat.bFactor)).toBeLessThan(0.02 * B0); // measured 9 Å²
  });

  it('fits between max(10 Å, 2 × resolution) and the resolution by default, and refuses a range of fewer than 3 shells', () => {
    expect(defaultGuinierFitRange(26)).toEqual({ from: 52, to: 26 });
    expect(defaultGuinierFitRange(3.5)).toEqual({ from: 10, to: 3.5 });
    const plot = guinierPlot(fft3(model.data, n), shellIndices(n), n, voxel);
    // shells 9 (42.7 Å) and 10 (38.4 Å) only
    expect(() => fitGuinier(plot, 44, 38)).toThrow(GuinierFitRangeError);
    expect(() => fitGuinier(plot, 44, 38)).toThrow(/from 44 Å to 38 Å holds 2 shells/);
    expect(() => fitGuinier(plot, 20, 30)).toThrow(/coarser to a finer/);
  });
});

describe('postprocess', () => {
  // Wilson-statistics halves blurred by B0, with independent noise: FSC 0.143 at 15.8 Å
  const B0 = 2000;
  const blurred = gaussianFilter(atoms(2, 2000, 28), Math.sqrt(B0 / (8 * Math.PI * Math.PI)) / voxel);
  const wilson1 = add(blurred, noise(5, 0.03));
  const wilson2 = add(blurred, noise(6, 0.03));
  // the compact model with solvent around it, for masks
  const half1 = add(model, noise(11, 0.01));
  const half2 = add(model, noise(12, 0.01));

  it('is the mean of the halves × FSC weight × exp(−B·s²/4) × a raised-cosine low-pass at the resolution, voxel by voxel', () => {
    const r = postprocess(wilson1, wilson2, { bFactor: 'auto' });
    expect(r.final).toBe(r.unmasked);
    expect(r.resolution).toBeCloseTo(goldStandardResolution(r.unmasked, voxel, n), 12);
    const cutoff = (n * voxel) / r.resolution;
    const mean = fft3(wilson1.data.map((v, i) => 0.5 * (v + wilson2.data[i])), n);
    const out = fft3(r.map.data, n);
    let maxError = 0;
    let maxValue = 0;
    for (let z = 0, i = 0; z < n; z++) {
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++, i++) {
          const k = Math.hypot(freqOf(x, n), freqOf(y, n), freqOf(z, n));
          const shell = Math.round(k);
          const fsc = shell === 0 ? 1 : r.final.fsc[shell - 1];
          const weight = shell === 0 ? 1 : fsc >= 1e-4 && r.final.fsc.slice(0, shell).every((f) => f >= 1e-4) ? Math.sqrt((2 * fsc) / (1 + fsc)) : 0;
          const lowpass = k <= cutoff - 1 ? 1 : k >= cutoff + 1 ? 0 : 0.5 + 0.5 * Math.cos((Math.PI * (k - (cutoff - 1))) / 2);
          const s2 = (k / (n * voxel)) ** 2;
          const factor = weight * Math.exp((-r.bFactor * s2) / 4) * lowpass;
          maxValue = Math.max(maxValue, Math.abs(mean[2 * i] * factor));
          maxError = Math.max(maxError, Math.abs(out[2 * i] - mean[2 * i] * factor), Math.abs(out[2 * i + 1] - mean[2 * i + 1] * factor));
        }
      }
    }
    expect(maxError / maxValue).toBeLessThan(1e-5);
  });

  it('recovers the blur of noisy half maps from the Guinier plot of the FSC-weighted map, fitted from 2 × resolution to the resolution', () => {
    const r = postprocess(wilson1, wilson2, { bFactor: 'auto' });
    expect(r.resolution).toBeGreaterThan(14);
    expect(r.resolution).toBeLessThan(18); // measured 15.8 Å
    expect(r.fit).toMatchObject({ from: 2 * r.resolution, to: r.resolution });
    expect(Math.abs(r.bFactor / -B0 - 1)).toBeLessThan(0.06); // measured −1935 Å², 3.3 %
    const wide = postprocess(wilson1, wilson2, { bFactor: 'auto', fitFrom: 60 });
    expect(wide.fit).toMatchObject({ from: 60, to: r.resolution });
    expect(Math.abs(wide.bFactor / -B0 - 1)).toBeLessThan(0.03); // measured −1977 Å², 1.2 %
  });

  it('takes a given B-factor and fit range, and with a mask reports the corrected FSC and a masked map', () => {
    const mask = softSphereMask(n, 24, 4);
    const r = postprocess(half1, half2, { bFactor: -500, mask, seed: 3 });
    expect(r.bFactor).toBe(-500);
    expect(r.fit).toBeUndefined();
    expect(r.diagnostics?.maskRejected).toBe(false);
    expect(r.final).toBe(r.maskCorrection?.corrected);
    expect(r.resolution).toBeLessThan(goldStandardResolution(r.unmasked, voxel, n));
    expect(r.maskedMap!.data).toEqual(r.map.data.map((v, i) => v * mask[i]));
  });

  it('falls back to the unmasked FSC, as RELION does, when the mask leaves less resolution than no mask', () => {
    // a shell around the model: solvent only
    const outer = softSphereMask(n, 29, 2);
    const inner = softSphereMask(n, 23, 2);
    const mask = outer.map((m, i) => m - inner[i]);
    const r = postprocess(half1, half2, { bFactor: 0, mask });
    expect(r.diagnostics?.maskRejected).toBe(true);
    expect(r.final).toBe(r.unmasked);
  });
});
