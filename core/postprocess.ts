/**
 * Post-processing of gold-standard half maps as RELION's relion_postprocess does it (src/postprocessing.cpp
 * and src/fftw.cpp of 3dem/relion, read at commit 73f0a3c): the mask-corrected FSC by phase randomisation,
 * FSC weighting, B-factor sharpening from a Guinier fit, and a low-pass at the resolution.
 *
 * Mask-corrected FSC (Chen et al. 2013, Ultramicroscopy 135:24). A mask multiplies each half map, which
 * convolves both spectra with the mask's transform, so masked half maps correlate at high resolution even
 * where their contents do not. Randomising the phases of both halves independently beyond shell R removes
 * every true correlation there; the FSC of the masked randomised maps then measures what the mask alone adds,
 * and for shells r ≥ R + 2
 *   FSC_true = (FSC_masked − FSC_randomised-masked) / (1 − FSC_randomised-masked)
 * (below, FSC_true = FSC_masked). R is the first shell where the unmasked FSC drops below 0.8
 * (Postprocessing::run, `--randomize_at_fsc 0.8`); Fourier voxels with |k| ≥ R get a new phase, uniform in
 * [0, 2π) (randomizePhasesBeyond). The two-shell offset is RELION's ("let's move this 2 shells upwards, because
 * of small artefacts near the resolution of randomisation", calculateFSCtrue).
 *
 * Sharpening (Rosenthal & Henderson 2003, J. Mol. Biol. 333:721). The combined map (mean of the halves) is
 * weighted per shell by sqrt(2·FSC/(1 + FSC)), the expected correlation of the full map with the truth, and
 * zero from the first shell whose FSC is below 1e-4 on (applyFscWeighting). Its B-factor is 4 × the slope of
 * the Guinier plot, ln(mean |F| of the shell) against s² = 1/d² (Å⁻²), fitted by least squares to the shells
 * between two resolutions (makeGuinierPlot, fitStraightLine). The map is then multiplied by
 *   exp(−B·s²/4)   (applyBFactorToMap; s in Å⁻¹, B in Å²)
 * up to Nyquist and zeroed beyond. Convention: a map whose amplitudes fall off as exp(−B₀·s²/4) (B₀ > 0, a
 * blurred map) has a Guinier slope −B₀/4, so the fitted B is −B₀: B < 0 sharpens, B > 0 blurs further.
 * Last, a low-pass at the FSC = 0.143 resolution with a raised-cosine edge 2 shells wide (lowPassFilterMap,
 * `--filter_edge_width 2`; core/filters.ts).
 *
 * Where subtomo differs from RELION, and why:
 * - The resolution is interpolated linearly between shells (design "FSC and resolution"); RELION reports the
 *   last shell above 0.143. The low-pass is at that fractional shell, where RELION rounds it.
 * - Guinier fit range: RELION fits from 10 Å (`--autob_lowres`), where the Wilson regime of proteins begins,
 *   to `--autob_highres` (default 0, i.e. Nyquist; in practice to where FSC weighting leaves amplitude).
 *   Subtomogram averages at 20–40 Å never reach 10 Å, and what sharpening can undo there is the fall-off of
 *   the last octave before the resolution. The default range is therefore from max(10 Å, 2 × resolution) to
 *   the resolution — RELION's lower bound for a 5 Å map (`defaultGuinierFitRange`).
 * - The unmasked FSC never dropping below 0.8 is an error in RELION too; the caller may instead name the shell
 *   to randomise from (RELION's `--randomize_at_A`).
 */
import { POSTPROCESS_DEFAULTS } from '../model/defaults.ts';
import { fft3, ifft3Real } from './fft.ts';
import { lowpassMask, shellOfResolution } from './filters.ts';
import { FSC_GOLD_STANDARD, FSC_HALF, type FscCurve, crossingShell, fscCurve, resolutionAt } from './fsc.ts';
import { Rng } from './random.ts';
import { Volume, freqOf } from './volume.ts';

/** FSC_true is FSC_masked for the first shells after the randomisation shell (RELION calculateFSCtrue). */
export const CORRECTION_SHELL_OFFSET = 2;
/** Shells whose FSC is below this get FSC weight 0, and so do all finer ones (RELION applyFscWeighting). */
const FSC_WEIGHT_FLOOR = 1e-4;
/** The default Guinier fit starts one octave below the resolution (2 ×), but never finer than 10 Å. */
const GUINIER_FIT_OCTAVE = 2;
const WILSON_REGIME_ANGSTROM = 10;
/** A straight line through fewer points says nothing about its slope's error. */
const MIN_GUINIER_POINTS = 3;

/** Fourier shell round(|k|) of every voxel of an n³ spectrum in the unshifted layout (core/fft.ts). */
export function shellIndices(n: number): Int32Array {
  const shells = new Int32Array(n * n * n);
  for (let z = 0, i = 0; z < n; z++) {
    const kz = freqOf(z, n);
    for (let y = 0; y < n; y++) {
      const ky = freqOf(y, n);
      const kyz2 = ky * ky + kz * kz;
      for (let x = 0; x < n; x++, i++) {
        const kx = freqOf(x, n);
        shells[i] = Math.round(Math.sqrt(kx * kx + kyz2));
      }
    }
  }
  return shells;
}

/**
 * `v` with the phase of every Fourier voxel with |k| ≥ `shell` replaced by one drawn uniformly from [0, 2π),
 * amplitudes kept (RELION randomizePhasesBeyond). The spectrum stays Hermitian — k and −k get opposite
 * phases — so the result is real; a self-conjugate voxel (every component 0 or −n/2) is real and gets a
 * random sign, the only phases a real coefficient has.
 */
export function randomisePhasesBeyond(v: Volume, shell: number, rng: Rng): Volume {
  if (!(shell >= 0)) throw new RangeError(`phase randomisation shell must be ≥ 0, got ${shell}`);
  const n = v.n;
  const spec = fft3(v.data, n);
  const limit2 = shell * shell;
  for (let z = 0; z < n; z++) {
    const kz = freqOf(z, n);
    const zm = (n - z) % n;
    for (let y = 0; y < n; y++) {
      const ky = freqOf(y, n);
      const ym = (n - y) % n;
      const kyz2 = ky * ky + kz * kz;
      for (let x = 0; x < n; x++) {
        const kx = freqOf(x, n);
        if (kx * kx + kyz2 < limit2) continue;
        const i = x + n * (y + n * z);
        const j = (n - x) % n + n * (ym + n * zm);
        if (j < i) continue; // set together with its partner −k
        const amplitude = Math.hypot(spec[2 * i], spec[2 * i + 1]);
        if (j === i) {
          spec[2 * i] = rng.uniform() < 0.5 ? amplitude : -amplitude;
          spec[2 * i + 1] = 0;
          continue;
        }
        const phase = 2 * Math.PI * rng.uniform();
        const re = amplitude * Math.cos(phase);
        const im = amplitude * Math.sin(phase);
        spec[2 * i] = re;
        spec[2 * i + 1] = im;
        spec[2 * j] = re;
        spec[2 * j + 1] = -im;
      }
    }
  }
  return v.withData(ifft3Real(spec, n));
}

/** First shell whose FSC is below `threshold` (RELION's randomize_at), or undefined if none is. */
export function firstShellBelow(curve: FscCurve, threshold: number): number | undefined {
  const i = curve.fsc.findIndex((f) => f < threshold);
  return i < 0 ? undefined : curve.shell[i];
}

/** Chen et al.'s correction of `masked` by `randomisedMasked` from shell `randomiseFrom` + 2 on (see module doc). */
export function correctedFsc(masked: FscCurve, randomisedMasked: FscCurve, randomiseFrom: number): FscCurve {
  const fsc = masked.fsc.map((m, i) => {
    if (masked.shell[i] < randomiseFrom + CORRECTION_SHELL_OFFSET) return m;
    const noise = randomisedMasked.fsc[i];
    // the mask alone correlating the shell completely leaves nothing to measure there
    return noise < 1 ? (m - noise) / (1 - noise) : 0;
  });
  return { ...masked, fsc };
}

export interface MaskCorrectedFsc {
  unmasked: FscCurve;
  masked: FscCurve;
  /** FSC of the masked half maps after independent phase randomisation beyond `randomiseFrom`. */
  randomisedMasked: FscCurve;
  /** RELION's rlnFourierShellCorrelationCorrected. */
  corrected: FscCurve;
  /** Shell from which phases were randomised (|k| ≥ it). */
  randomiseFrom: number;
}

export interface MaskCorrectionOptions {
  /** Seeds the two halves' phase streams (Rng.derive(seed, 1) and (seed, 2)). */
  seed?: number;
  /** Shell to randomise from; default: the first where the unmasked FSC is below POSTPROCESS_DEFAULTS.randomiseAtFsc. */
  randomiseFrom?: number;
}

/** The unmasked FSC never drops below POSTPROCESS_DEFAULTS.randomiseAtFsc, so the shell to randomise from must be given. */
export class NoRandomisationShellError extends RangeError {}

/** The mask-corrected FSC of two half maps (module doc); `mask` has n³ values in [0, 1]. */
export function maskCorrectedFsc(half1: Volume, half2: Volume, mask: Float32Array, opts: MaskCorrectionOptions = {}): MaskCorrectedFsc {
  const unmasked = fscCurve(half1, half2);
  const masked = fscCurve(half1, half2, mask);
  const randomiseFrom = opts.randomiseFrom ?? firstShellBelow(unmasked, POSTPROCESS_DEFAULTS.randomiseAtFsc);
  if (randomiseFrom === undefined) {
    throw new NoRandomisationShellError(
      `the unmasked FSC never drops below ${POSTPROCESS_DEFAULTS.randomiseAtFsc} up to Nyquist, so there is no shell to randomise phases from ` +
        '(identical half maps, or half maps that are not independent?); name the resolution to randomise from',
    );
  }
  if (!Number.isInteger(randomiseFrom) || randomiseFrom < 1 || randomiseFrom >= half1.n / 2) {
    throw new RangeError(`phase randomisation shell must be an integer from 1 to ${half1.n / 2 - 1}, got ${randomiseFrom}`);
  }
  const seed = opts.seed ?? POSTPROCESS_DEFAULTS.seed;
  const random1 = randomisePhasesBeyond(half1, randomiseFrom, Rng.derive(seed, 1));
  const random2 = randomisePhasesBeyond(half2, randomiseFrom, Rng.derive(seed, 2));
  const randomisedMasked = fscCurve(random1, random2, mask);
  return { unmasked, masked, randomisedMasked, corrected: correctedFsc(masked, randomisedMasked, randomiseFrom), randomiseFrom };
}

/** RELION's two checks of a mask correction (Postprocessing::run). */
export interface MaskDiagnostics {
  /**
   * The corrected FSC crosses 0.143 at a lower shell than the unmasked one: the mask cuts signal, and RELION
   * (without --force_mask) uses the unmasked FSC instead.
   */
  maskRejected: boolean;
  /** Phase-randomised masked FSC at the last shell above 0.143 of the corrected FSC; RELION warns above 0.1 (mask too sharp). */
  randomisedFscAtResolution: number;
}

/** Above this phase-randomised FSC at the resolution RELION warns that the mask is too sharp. */
export const RANDOMISED_FSC_WARNING = 0.1;

export function maskDiagnostics(m: MaskCorrectedFsc): MaskDiagnostics {
  const corrected = crossingShell(m.corrected, FSC_GOLD_STANDARD);
  return {
    maskRejected: crossingShell(m.unmasked, FSC_GOLD_STANDARD) > corrected,
    randomisedFscAtResolution: m.randomisedMasked.fsc[Math.floor(corrected) - 1],
  };
}

/** Rosenthal & Henderson's weight sqrt(2·FSC/(1 + FSC)) of a shell; 0 where the FSC is not positive. */
export function fscWeight(fsc: number): number {
  return fsc > 0 ? Math.sqrt((2 * fsc) / (1 + fsc)) : 0;
}

/**
 * FSC weight per shell index 0 … (the largest round(|k|) of an n³ box): 1 for the DC term (RELION sets its FSC
 * to 1), `fscWeight` for the curve's shells up to the last before the first FSC < 1e-4, and 0 from there on,
 * beyond the curve included.
 */
export function fscWeightsByShell(curve: FscCurve, n: number): Float64Array {
  const weights = new Float64Array(Math.ceil((Math.sqrt(3) * n) / 2) + 1);
  weights[0] = 1;
  for (let i = 0; i < curve.fsc.length; i++) {
    if (curve.fsc[i] < FSC_WEIGHT_FLOOR) break;
    weights[curve.shell[i]] = fscWeight(curve.fsc[i]);
  }
  return weights;
}

/** Multiplies each Fourier voxel of `spec` (fft3 layout, in place) by the weight of its shell. */
export function weightShells(spec: Float64Array, shells: Int32Array, weights: Float64Array): void {
  for (let i = 0; i < shells.length; i++) {
    const w = weights[shells[i]];
    spec[2 * i] *= w;
    spec[2 * i + 1] *= w;
  }
}

/**
 * Multiplies `spec` (n³, fft3 layout, in place) by exp(−B·s²/4), s = |k|/(n·voxel) Å⁻¹, for |k| ≤ n/2, and
 * zeroes the corners beyond Nyquist (RELION applyBFactorToMap). B < 0 sharpens.
 */
export function applyBFactor(spec: Float64Array, n: number, voxelSize: number, bFactor: number): void {
  const perK2 = -bFactor / (4 * (n * voxelSize) ** 2);
  const nyquist2 = (n / 2) ** 2;
  for (let z = 0, i = 0; z < n; z++) {
    const kz = freqOf(z, n);
    for (let y = 0; y < n; y++) {
      const ky = freqOf(y, n);
      const kyz2 = ky * ky + kz * kz;
      for (let x = 0; x < n; x++, i++) {
        const kx = freqOf(x, n);
        const k2 = kx * kx + kyz2;
        const f = k2 <= nyquist2 ? Math.exp(perK2 * k2) : 0;
        spec[2 * i] *= f;
        spec[2 * i + 1] *= f;
      }
    }
  }
}

/** ln of the mean Fourier amplitude per shell against s² = 1/d², shells 1 … n/2 − 1 (RELION makeGuinierPlot). */
export interface GuinierPlot {
  shell: number[];
  /** 1/d², Å⁻² (RELION's rlnResolutionSquared). */
  resolutionSquared: number[];
  /** ln(mean |F| of the shell); −Infinity for a shell without amplitude (RELION writes −99). */
  lnAmplitude: number[];
}

export function guinierPlot(spec: Float64Array, shells: Int32Array, n: number, voxelSize: number): GuinierPlot {
  const nShells = n / 2;
  const sum = new Float64Array(nShells);
  const count = new Float64Array(nShells);
  for (let i = 0; i < shells.length; i++) {
    const r = shells[i];
    if (r >= nShells) continue;
    sum[r] += Math.hypot(spec[2 * i], spec[2 * i + 1]);
    count[r] += 1;
  }
  const plot: GuinierPlot = { shell: [], resolutionSquared: [], lnAmplitude: [] };
  for (let r = 1; r < nShells; r++) {
    plot.shell.push(r);
    plot.resolutionSquared.push((r / (n * voxelSize)) ** 2);
    plot.lnAmplitude.push(Math.log(sum[r] / count[r]));
  }
  return plot;
}

export interface GuinierFit {
  /** d ln|F| / d(1/d²), Å². */
  slope: number;
  intercept: number;
  /** RELION's rlnCorrelationFitGuinierPlot: ss_xy²/(ss_xx·ss_yy), the squared correlation coefficient. */
  correlation: number;
  /** 4 × slope, Å² (negative for a map whose amplitudes fall off: it sharpens). */
  bFactor: number;
  /** The resolutions fitted between, Å: from the coarser to the finer. */
  from: number;
  to: number;
  /** Shells that entered the fit. */
  points: number;
}

/** Thrown when a Guinier fit range holds too few shells; the message says which range and how many. */
export class GuinierFitRangeError extends RangeError {}

/** Guinier fit range of a map at `resolution` Å when none is given (module doc). */
export function defaultGuinierFitRange(resolution: number): { from: number; to: number } {
  return { from: Math.max(WILSON_REGIME_ANGSTROM, GUINIER_FIT_OCTAVE * resolution), to: resolution };
}

/**
 * Least-squares line through the Guinier points with resolution between `to` and `from` Å inclusive
 * (RELION fitStraightLine, unit weights) and the B-factor 4·slope. Throws GuinierFitRangeError for fewer than
 * three usable points.
 */
export function fitGuinier(plot: GuinierPlot, from: number, to: number): GuinierFit {
  if (!(from > to && to > 0)) throw new GuinierFitRangeError(`Guinier fit range must run from a coarser to a finer resolution, got ${from} Å to ${to} Å`);
  const xMin = 1 / (from * from);
  const xMax = 1 / (to * to);
  let count = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  plot.resolutionSquared.forEach((x, i) => {
    const y = plot.lnAmplitude[i];
    // a tolerance of float rounding so that a bound given as a shell's own resolution includes that shell
    if (x < xMin * (1 - 1e-9) || x > xMax * (1 + 1e-9) || !Number.isFinite(y)) return;
    count++;
    sx += x;
    sy += y;
    sxx += x * x;
    syy += y * y;
    sxy += x * y;
  });
  if (count < MIN_GUINIER_POINTS) {
    throw new GuinierFitRangeError(
      `the Guinier fit from ${+from.toFixed(2)} Å to ${+to.toFixed(2)} Å holds ${count} shell${count === 1 ? '' : 's'} of this box; ` +
        `a B-factor needs at least ${MIN_GUINIER_POINTS}`,
    );
  }
  const ssxx = sxx - (sx * sx) / count;
  const ssyy = syy - (sy * sy) / count;
  const ssxy = sxy - (sx * sy) / count;
  const slope = ssxy / ssxx;
  const intercept = (sy - slope * sx) / count;
  return { slope, intercept, correlation: ssyy > 0 ? (ssxy * ssxy) / (ssxx * ssyy) : 1, bFactor: 4 * slope, from, to, points: count };
}

export interface PostprocessOptions {
  /** n³ values in [0, 1]: the FSC is then mask-corrected and `maskedMap` is returned too. */
  mask?: Float32Array;
  /** 'auto': fitted to the Guinier plot of the FSC-weighted map (RELION --auto_bfac); a number: used as given, Å². */
  bFactor: number | 'auto';
  /** Guinier fit range, Å (default `defaultGuinierFitRange` of the resolution; either bound may be given alone). */
  fitFrom?: number;
  fitTo?: number;
  /** Phase randomisation (see MaskCorrectionOptions). */
  seed?: number;
  randomiseFrom?: number;
}

export interface PostprocessResult {
  unmasked: FscCurve;
  /** With a mask: the masked, phase-randomised and corrected FSCs. */
  maskCorrection?: MaskCorrectedFsc;
  /** With a mask: RELION's checks; a rejected mask leaves the unmasked FSC as `final`, as RELION does. */
  diagnostics?: MaskDiagnostics;
  /** The FSC the resolution, weighting and low-pass come from (rlnFourierShellCorrelationCorrected). */
  final: FscCurve;
  /** Å at FSC 0.143 and 0.5 of `final`, interpolated. */
  resolution: number;
  resolutionHalf: number;
  bFactor: number;
  fit?: GuinierFit;
  guinier: { original: GuinierPlot; weighted: GuinierPlot; sharpened: GuinierPlot };
  /** Mean of the halves, FSC-weighted, sharpened and low-passed at `resolution`. */
  map: Volume;
  maskedMap?: Volume;
}

/**
 * RELION's post-processing of two (already symmetrised, if wanted) half maps of one sampling: the FSC
 * (mask-corrected with a mask), the combined map FSC-weighted, sharpened by the fitted or given B-factor
 * and low-passed at the 0.143 resolution. Throws GuinierFitRangeError when the fit range holds too few shells.
 */
export function postprocess(half1: Volume, half2: Volume, opts: PostprocessOptions): PostprocessResult {
  const n = half1.n;
  const voxelSize = half1.voxelSize;
  const unmasked = fscCurve(half1, half2);
  const maskCorrection = opts.mask
    ? maskCorrectedFsc(half1, half2, opts.mask, { seed: opts.seed, randomiseFrom: opts.randomiseFrom })
    : undefined;
  const diagnostics = maskCorrection && maskDiagnostics(maskCorrection);
  const final = maskCorrection && !diagnostics?.maskRejected ? maskCorrection.corrected : unmasked;
  const resolution = resolutionAt(final, FSC_GOLD_STANDARD, voxelSize, n);

  const combined = new Float32Array(half1.data.length);
  for (let i = 0; i < combined.length; i++) combined[i] = 0.5 * (half1.data[i] + half2.data[i]);
  const shells = shellIndices(n);
  const spec = fft3(combined, n);
  const original = guinierPlot(spec, shells, n, voxelSize);
  weightShells(spec, shells, fscWeightsByShell(final, n));
  const weighted = guinierPlot(spec, shells, n, voxelSize);

  let fit: GuinierFit | undefined;
  let bFactor: number;
  if (opts.bFactor === 'auto') {
    const range = defaultGuinierFitRange(resolution);
    fit = fitGuinier(weighted, opts.fitFrom ?? range.from, opts.fitTo ?? range.to);
    bFactor = fit.bFactor;
  } else {
    bFactor = opts.bFactor;
  }
  if (bFactor !== 0) applyBFactor(spec, n, voxelSize, bFactor);
  const sharpened = guinierPlot(spec, shells, n, voxelSize);

  // lowpassMask's default edge is RELION's --filter_edge_width, 2 shells
  const lowpass = lowpassMask(n, shellOfResolution(n, voxelSize, resolution));
  for (let i = 0; i < lowpass.length; i++) {
    spec[2 * i] *= lowpass[i];
    spec[2 * i + 1] *= lowpass[i];
  }
  const map = new Volume(n, voxelSize, ifft3Real(spec, n));
  let maskedMap: Volume | undefined;
  if (opts.mask) {
    maskedMap = new Volume(n, voxelSize);
    for (let i = 0; i < lowpass.length; i++) maskedMap.data[i] = map.data[i] * opts.mask[i];
  }
  return {
    unmasked,
    maskCorrection,
    diagnostics,
    final,
    resolution,
    resolutionHalf: resolutionAt(final, FSC_HALF, voxelSize, n),
    bFactor,
    fit,
    guinier: { original, weighted, sharpened },
    map,
    maskedMap,
  };
}
