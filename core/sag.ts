/**
 * SAG fine-grained refinement of β = (φ, θ, ψ, τ1, τ2, τ3) (paper Eq. 9–13, Algorithms 1 and 2; Schmidt,
 * Le Roux & Bach 2017, "Minimizing finite sums with the stochastic average gradient"). docs/sag.md has the
 * measurements behind every choice and constant below.
 *
 * Objective: the literal constrained dissimilarity d(β) = 2 − 2·CCC (Eq. 4–8), which `freeze` of
 * core/alignobjective.ts computes at an "anchor" pose, with its exact gradient (`literalGradient`: a
 * transform and two FFT pairs). Between anchors SAG minimises a model of d split over the n x-slices
 * (Eq. 10):
 *
 *   m(β) = 2·Σ_i J̃_i(β) + 2n·[δ·Δ + ½·Δᵀ·K·Δ],   Δ = β − β_anchor,
 *
 * J̃_i the objective's slice functions (the fast path: the reference itself, unfiltered, moved by trilinear
 * interpolation, with the anchor's literal-minus-fast correction and volume-wide scalars frozen); δ =
 * ∇J_literal − ∇J_fast at the anchor, which makes m first-order exact there (the particle's missing wedge
 * stays in the particle frame while the reference turns, a term no rigidly moved map has); K = c·(P_lit −
 * P_fast), the difference of the literal and the fast Gauss–Newton matrices at the start, which gives m the
 * literal's curvature.
 *
 * Parameters: Euler angles in a chart centred on the start rotation (core/eulerchart.ts), scaled by a
 * characteristic radius ρ (default n/4 voxels), so one unit of any parameter moves voxels at radius ρ by
 * about one voxel: (ρ·Δφ, ρ·Δθ, ρ·Δψ, τ1, τ2, τ3). Gradients are in units of J = d/(2n).
 *
 * Iteration (Algorithm 1: one random slice; Algorithm 2: B consecutive slices starting at a random index in
 * 0 … n−B): compute the fresh slice gradients, replace their entries in the gradient memory y_i and in
 * D = Σ y_i, then β ← β − P⁻¹·(D/n + ∇[δ·Δ + ½ΔᵀKΔ])/L.
 * - Metric P = P_lit + FAST_METRIC_SHARE·P_fast (Gauss–Newton matrices, 1/n per slice, at the start): SAG
 *   in the coordinates z = P^½·β, where the six directions have comparable curvature (on noisy particles
 *   they differ by 10–16× in the plain scaled parameters). The share of the fast matrix keeps directions
 *   the literal d hardly sees (near-symmetries such as GroEL's 7-fold axis at 60 Å) from taking steps
 *   driven by noise alone.
 * - Step 1/L with L an adaptive Lipschitz estimate in that metric (Schmidt et al. §4.6): it starts from
 *   Eq. 13's bound, L = λ + c·max_i tr(P⁻¹·H_i) (the slice Jacobian's squared Frobenius norm in the metric,
 *   times the model's curvature c = CCC); a step doubles it while the sufficient-decrease test fails on the
 *   sampled batch mean f_B — the descent lemma f_B(β + Δ) ≤ f_B(β) + ∇f_B·Δ + (L/2)·ΔᵀPΔ along the step Δ
 *   actually taken, which for Δ = −P⁻¹∇f_B/L is Schmidt et al.'s f_B(β − P⁻¹∇f_B/L) ≤ f_B(β) −
 *   ∇f_BᵀP⁻¹∇f_B/(2L) — and a step that passed at once lets it decay by 2^(−B/n) (a half per epoch).
 *   Two floors keep SAG's memory from overshooting: L ≥ STABILITY·m·c with m = ⌈n/B⌉ steps per epoch
 *   (each step moves along the memory's average, which lags the pose by about half an epoch; without the
 *   floor Algorithm 1 oscillates), and L doubles for the rest of the refinement when an epoch raised d
 *   (the epoch's own sufficient-decrease test, on the model, or on the literal d between anchors); it
 *   settles the jitter at the trilinear interpolant's kinks. At the floor the batch test is skipped: there it
 *   failed 3 times in 3,928 steps, each test a pass of slice values over the batch.
 * - Bounds: no step moves voxels at radius ρ, or the shift, by more than MAX_STEP voxels (a step is
 *   shortened, not redirected), and the shift stays within `maxShift` (projected onto that ball), so a
 *   refinement on noise cannot walk the reference out of the box.
 * - The batch-mean form of D's update keeps D = Σ y_i exactly; the paper's printed Algorithm 2 divides
 *   both terms by B, which would let D drift away from the sum it stands for.
 *
 * Epochs, anchors and the stop:
 * - After each epoch (n slice gradients) a full pass at β refreshes the memory and evaluates the model
 *   (`lossTrace`, in units of J = d/(2n), records it and every anchor's literal d).
 * - Anchors: at the start, whenever the pose has moved more than ANCHOR_MOVE voxels since the last one,
 *   and when the model has settled; each is followed by a full pass (memory and D under the new anchor).
 * - Settled on the model: the model changed by at most `tolerance`·d₀ over the epoch and, from the
 *   fresh pass (the memory's stale sum can vanish while the gradient at β does not), either the decrease of
 *   d predicted for a Gauss–Newton step of the model, projected onto |T| ≤ maxShift, is at most
 *   `gradientTolerance`·d₀, or the epoch moved the pose by less than STALL voxels (at a kink of the
 *   trilinear interpolant the gradient need not vanish). d₀ is d at the start, as Xu's LM scales its test.
 * - Converged: settled within ANCHOR_SETTLE of the anchor (the model is exact there), or settled and the
 *   anchor then made shows that the literal d fell by at most `tolerance`·d₀ since the previous anchor, or
 *   that the exact gradient predicts at most `gradientTolerance`·d₀.
 * - `maxEpochs` is only a safety cap; a refinement that reaches it is returned with `capped` set.
 * The returned pose is the lowest literal d seen at an anchor (or the converged pose next to its anchor).
 */
import { SAG_DEFAULTS } from '../model/defaults.ts';
import {
  type ConstrainedObjective,
  type RefinementResult,
  type RefinementStart,
  refinementResult,
} from './alignobjective.ts';
import { EulerChart } from './eulerchart.ts';
import { Rng } from './random.ts';
import type { Mat3 } from './rotate.ts';

export interface SagOptions {
  /** 1 = one slice per step (Algorithm 1), 2 = mini-batches (Algorithm 2, default). */
  algorithm?: 1 | 2;
  /** Slices per mini-batch for Algorithm 2; default `defaultBatchSize(n)`. Must be 1 … n. */
  batchSize?: number;
  /** Safety cap on epochs (n slice gradients each) after the initial pass (defaults: model/defaults.ts SAG_DEFAULTS). */
  maxEpochs?: number;
  /** Stop test (a): relative change of d over an epoch. */
  tolerance?: number;
  /** Stop test (b): decrease of d predicted for one more full-gradient step, relative to d. */
  gradientTolerance?: number;
  /** λ of Eq. 13 (a regulariser's curvature; the objective has none). */
  lambda?: number;
  /** Characteristic radius ρ (voxels) that scales the angles; default n/4. */
  angleScale?: number;
  /** Largest |T| (voxels of the objective's box); default unbounded. */
  maxShift?: number;
  /** Seed of the random slice order. */
  seed?: number;
}

export interface SagResult extends RefinementResult {
  /** Final step-size constant L (in the metric). */
  lipschitz: number;
  /** Epochs run after the initial pass. */
  epochs: number;
  /** Anchors after the start (each a transform, two FFT pairs and a full pass of slice gradients). */
  anchors: number;
  /** Cumulative `evaluations` (full passes) at each entry of `lossTrace`. */
  evaluationTrace: number[];
  /** Milliseconds since the start at each entry of `lossTrace` (for speed plots; not reproducible). */
  timeTrace: number[];
}

/** Default Algorithm 2 batch: n/8 slices (the paper uses n/16 … n/2). */
export function defaultBatchSize(n: number): number {
  return Math.max(2, Math.round(n / 8));
}

const MAX_DOUBLINGS = 60;
/** Schmidt et al.'s decrease of L per epoch (2^(−1/m) per step with m = n/B batches). */
const LIPSCHITZ_DECAY = 0.5;
/** L ≥ STABILITY·m·c: a lagging memory overshoots above about two model-Newton steps per epoch. */
const STABILITY = 2;
/** An epoch that raises the model by more than this fraction of the tolerance (noise) doubles L. */
const EPOCH_NOISE = 0.1;
/** Largest move of a step, voxels at radius ρ (rotation) or of the shift. */
const MAX_STEP = 1;
/** Anchor again after the pose has moved this far (voxels at radius ρ, or of the shift) since the last anchor. */
const ANCHOR_MOVE = 0.5;
/** A pose settled this close to its anchor stops without another anchoring: the model is exact there. */
const ANCHOR_SETTLE = 0.02;
/** An epoch that moved the pose less than this (voxels) has stalled. */
const STALL = 0.005;
/** Floor of the curvature c = CCC of the model's Hessian c·P (c can be ≈ 0 or negative far from the optimum). */
const CURVATURE_FLOOR = 0.02;
/** Share of the fast path's Gauss–Newton matrix in the metric (see the module doc). */
const FAST_METRIC_SHARE = 0.1;
/** Ridge added to P, relative to its mean diagonal: keeps P invertible when a parameter has no influence. */
const METRIC_RIDGE = 1e-9;

export function refineSag(objective: ConstrainedObjective, start: RefinementStart, options: SagOptions = {}): SagResult {
  const n = objective.n;
  const algorithm = options.algorithm ?? SAG_DEFAULTS.algorithm;
  if (algorithm !== 1 && algorithm !== 2) throw new RangeError(`SAG algorithm must be 1 or 2, got ${algorithm}`);
  const batch = algorithm === 1 ? 1 : (options.batchSize ?? defaultBatchSize(n));
  if (!Number.isInteger(batch) || batch < 1 || batch > n) {
    throw new RangeError(`SAG mini-batch size must be an integer from 1 to ${n} (the box size), got ${batch}`);
  }
  const maxEpochs = options.maxEpochs ?? SAG_DEFAULTS.maxEpochs;
  const tolerance = options.tolerance ?? SAG_DEFAULTS.tolerance;
  const gradientTolerance = options.gradientTolerance ?? SAG_DEFAULTS.gradientTolerance;
  const lambda = options.lambda ?? SAG_DEFAULTS.lambda;
  const rho = options.angleScale ?? n / 4;
  const maxShift = options.maxShift ?? Infinity;
  if (!Number.isInteger(maxEpochs) || maxEpochs < 0) throw new RangeError(`SAG maxEpochs must be an integer ≥ 0, got ${maxEpochs}`);
  if (!(tolerance >= 0)) throw new RangeError(`SAG tolerance must be ≥ 0, got ${tolerance}`);
  if (!(gradientTolerance >= 0)) throw new RangeError(`SAG gradient tolerance must be ≥ 0, got ${gradientTolerance}`);
  if (!(lambda >= 0)) throw new RangeError(`SAG λ (Eq. 13) must be ≥ 0, got ${lambda}`);
  if (!(rho > 0)) throw new RangeError(`SAG angle scale must be a positive radius in voxels, got ${rho}`);
  if (!(maxShift >= 0)) throw new RangeError(`SAG maximum shift must be ≥ 0 voxels, got ${maxShift}`);

  const rng = new Rng(options.seed ?? 0);
  const chart = new EulerChart(start.R);
  const beta = Float64Array.of(0, 0, 0, start.t[0], start.t[1], start.t[2]);
  projectShift(beta, maxShift);
  const R: Mat3 = new Float64Array(9);
  const dR: [Mat3, Mat3, Mat3] = [new Float64Array(9), new Float64Array(9), new Float64Array(9)];
  const T = new Float64Array(3);
  const setPose = (b: Float64Array): void => {
    chart.rotation(b[0] / rho, b[1] / rho, b[2] / rho, R, dR);
    T[0] = b[3];
    T[1] = b[4];
    T[2] = b[5];
  };
  const samplesBefore = objective.samples;
  const startTime = performance.now();
  const passes = (): number => (objective.samples - samplesBefore) / objective.count;

  const memory = new Float64Array(6 * n);
  const D = new Float64Array(6);
  const metric = new Metric();
  const g = new Float64Array(6);
  const gBatch = new Float64Array(6);
  const gFull = new Float64Array(6);
  const direction = new Float64Array(6);
  const step = new Float64Array(6);
  const trial = new Float64Array(6);
  const literal = new Float64Array(6);
  const anchoredAt = beta.slice();
  // The model's terms beyond the slices (module doc): δ·Δ + ½·ΔᵀKΔ, and their gradient into `extraGradient`.
  const delta = new Float64Array(6);
  const K = new Float64Array(36);
  const offset = new Float64Array(6);
  const extraGradient = new Float64Array(6);
  const extra = (b: Float64Array): number => {
    for (let p = 0; p < 6; p++) offset[p] = b[p] - anchoredAt[p];
    let v = 0;
    for (let p = 0; p < 6; p++) {
      let k = 0;
      for (let q = 0; q < 6; q++) k += K[6 * p + q] * offset[q];
      extraGradient[p] = delta[p] + k;
      v += offset[p] * (delta[p] + 0.5 * k);
    }
    return v;
  };

  /** A full pass at β: every slice's gradient into the memory, D = Σ y_i; returns the model's d there. */
  const refresh = (): number => {
    D.fill(0);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      sum += objective.sliceGradient(i, R, T, dR, g);
      scaleAngles(g, rho);
      for (let p = 0; p < 6; p++) {
        memory[6 * i + p] = g[p];
        D[p] += g[p];
      }
    }
    return 2 * sum + 2 * n * extra(beta);
  };
  /**
   * After `freeze` (forGradient) at β: the memory under the new anchor (its full pass from the anchor's own
   * samples) and δ from the literal gradient there; with `metrics`, also each slice's Gauss–Newton matrix
   * (scaled parameters) into it. `last` (a converged refinement's final anchor) skips all.
   */
  const anchor = (last: boolean, metrics?: Float64Array): void => {
    anchoredAt.set(beta);
    if (last) return;
    delta.fill(0);
    objective.anchorSliceGradients(dR, memory, metrics);
    D.fill(0);
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < 3; p++) memory[6 * i + p] /= rho;
      for (let p = 0; p < 6; p++) D[p] += memory[6 * i + p];
      if (metrics) scaleMetric(metrics.subarray(36 * i, 36 * i + 36), rho);
    }
    objective.literalGradient(R, T, dR, literal);
    scaleAngles(literal, rho);
    for (let p = 0; p < 6; p++) delta[p] = literal[p] / (2 * n) - D[p] / n;
  };
  /** c of the model's Gauss–Newton Hessian c·P (the anchor's CCC, floored). */
  const curvature = (): number => Math.max(objective.ccc, CURVATURE_FLOOR);
  /** The model's gradient at β (J units) from the memory's D, into gFull. */
  const fullGradient = (): Float64Array => {
    extra(beta);
    for (let p = 0; p < 6; p++) gFull[p] = D[p] / n + extraGradient[p];
    return gFull;
  };
  /**
   * Decrease of d predicted for a Gauss–Newton step of the model (Hessian c·P, d = 2n·J), projected onto
   * |T| ≤ maxShift: at the bound the gradient need not vanish.
   */
  const predictedDecrease = (): number => {
    metric.solve(fullGradient(), direction);
    const c = curvature();
    for (let p = 0; p < 6; p++) trial[p] = beta[p] - direction[p] / c;
    projectShift(trial, maxShift);
    for (let p = 0; p < 6; p++) direction[p] = trial[p] - beta[p];
    return -2 * n * (dot(gFull, direction) + 0.5 * c * metric.quadratic(direction));
  };

  setPose(beta);
  let d = objective.start(R, T, undefined, true);
  // The scale of both stop tests (as Xu's LM, core/lm.ts): d at the start, so they do not tighten as d falls.
  const d0 = d;
  const lossTrace = [objective.lossOfDissimilarity(d)];
  const evaluationTrace = [passes()];
  const timeTrace = [performance.now() - startTime];
  // The returned pose: the lowest literal d at an anchor, or a converged pose next to its anchor.
  const best = beta.slice();
  let bestD = d;
  let bestIsLiteral = true;

  // P_fast and the slices' H_i from the first pass; P_lit from the start's anchor (objective.literalMetric).
  const sliceMetrics = new Float64Array(36 * n);
  anchor(false, sliceMetrics);
  const P = metric.matrix;
  for (let i = 0; i < n; i++) for (let k = 0; k < 36; k++) P[k] += sliceMetrics[36 * i + k] / n;
  if (objective.anchored) {
    const literalP = new Float64Array(36);
    objective.literalMetric(R, T, dR, literalP);
    scaleMetric(literalP, rho);
    const c = curvature();
    for (let k = 0; k < 36; k++) {
      literalP[k] /= n;
      K[k] = c * (literalP[k] - P[k]);
      P[k] = literalP[k] + FAST_METRIC_SHARE * P[k];
    }
  }
  metric.factor();
  let bound = 0;
  for (let i = 0; i < n; i++) bound = Math.max(bound, metric.traceOfInverseTimes(sliceMetrics.subarray(36 * i, 36 * i + 36)));
  let L = lambda + curvature() * bound;
  if (!(L > 0) || !Number.isFinite(L)) {
    throw new Error('SAG: the reference has no gradient inside the mask, so its pose cannot be refined');
  }
  // Schmidt et al. skip the test for vanishing gradients; relative to the start so it is scale free.
  metric.solve(fullGradient(), direction);
  const testThreshold = 1e-14 * dot(gFull, direction);

  const stepsPerEpoch = Math.ceil(n / batch);
  let epochFloor = 0;
  /** An epoch raised d: L doubles, and stays at least there. */
  const raiseFloor = (): void => {
    epochFloor = 2 * Math.max(L, epochFloor);
    L = epochFloor;
  };
  /** The lower bound of L: the memory's stability and the epochs' own test (module doc). */
  const floor = (): number => Math.max(STABILITY * stepsPerEpoch * curvature(), epochFloor);
  let iterations = 0;
  let epochs = 0;
  let anchors = 0;
  let converged = false;
  let lastAnchoredD = d;
  const epochStart = beta.slice();
  while (epochs < maxEpochs && !converged) {
    epochStart.set(beta);
    for (let s = 0; s < stepsPerEpoch; s++) {
      const first = algorithm === 1 ? Math.floor(rng.uniform() * n) : Math.floor(rng.uniform() * (n - batch + 1));
      setPose(beta);
      let fBatch = 0;
      gBatch.fill(0);
      for (let i = first; i < first + batch; i++) {
        fBatch += objective.sliceGradient(i, R, T, dR, g);
        scaleAngles(g, rho);
        for (let p = 0; p < 6; p++) {
          gBatch[p] += g[p];
          D[p] += g[p] - memory[6 * i + p];
          memory[6 * i + p] = g[p];
        }
      }
      // The batch mean of the model: the slices' mean plus the anchor's extra terms.
      fBatch = fBatch / batch + extra(beta);
      for (let p = 0; p < 6; p++) gBatch[p] = gBatch[p] / batch + extraGradient[p];
      metric.solve(gBatch, direction);
      // At the floor, the floor is the step: the test there (a pass of slice values over the batch) failed
      // 3 times in 3,928 steps on bench/pass.ts data, and the epochs' own test covers it.
      if (L > floor() && dot(gBatch, direction) > testThreshold) {
        let doubled = false;
        for (let k = 0; k < MAX_DOUBLINGS; k++) {
          for (let p = 0; p < 6; p++) step[p] = -direction[p] / L;
          takeStep(beta, step, maxShift, trial);
          setPose(trial);
          let fTrial = 0;
          for (let i = first; i < first + batch; i++) fTrial += objective.sliceValue(i, R, T);
          for (let p = 0; p < 6; p++) step[p] = trial[p] - beta[p];
          if (fTrial / batch + extra(trial) <= fBatch + dot(gBatch, step) + 0.5 * L * metric.quadratic(step)) break;
          L *= 2;
          doubled = true;
        }
        if (!doubled) L *= LIPSCHITZ_DECAY ** (batch / n);
        L = Math.max(L, floor());
      }
      metric.solve(fullGradient(), step);
      for (let p = 0; p < 6; p++) step[p] = -step[p] / L;
      takeStep(beta, step, maxShift, beta);
      iterations++;
    }
    epochs++;
    setPose(beta);
    const moved = displacement(beta, anchoredAt);
    if (moved > ANCHOR_MOVE) {
      d = objective.freeze(R, T, undefined, true);
      anchors++;
      anchor(false);
      // the epoch's sufficient-decrease test on the literal d (the model changed with the anchor)
      if (d - lastAnchoredD > EPOCH_NOISE * tolerance * d0) raiseFloor();
      lastAnchoredD = d;
    } else {
      // A full pass: the model's d, and a fresh memory (its stale sum can vanish while the gradient at β
      // does not; refreshed memories also took fewer epochs than value passes alone).
      const previous = d;
      d = refresh();
      // The epoch's own sufficient-decrease test, on the model (a fixed function between anchors).
      if (d - previous > EPOCH_NOISE * tolerance * d0) raiseFloor();
      const settled =
        Math.abs(previous - d) <= tolerance * d0 &&
        (displacement(beta, epochStart) <= STALL || predictedDecrease() <= gradientTolerance * d0);
      if (settled && moved <= ANCHOR_SETTLE) {
        converged = true;
      } else if (settled) {
        d = objective.freeze(R, T, undefined, true);
        anchors++;
        // the literal d fell by at most the tolerance since the last anchor: converged without the gradient
        converged = lastAnchoredD - d <= tolerance * d0;
        lastAnchoredD = d;
        anchor(converged);
        if (!converged) converged = predictedDecrease() <= gradientTolerance * d0;
      }
    }
    const anchoredHere = displacement(beta, anchoredAt) === 0;
    if (d < bestD && (converged || anchoredHere)) {
      bestD = d;
      bestIsLiteral = anchoredHere;
      best.set(beta);
    }
    lossTrace.push(objective.lossOfDissimilarity(d));
    evaluationTrace.push(passes());
    timeTrace.push(performance.now() - startTime);
  }

  setPose(best);
  // a converged pose next to its anchor is scored literally here (cheaper than exactCcc)
  const literalD = bestIsLiteral ? bestD : objective.literalDissimilarity(R, T);
  const result = refinementResult(objective, R, T, iterations, passes(), lossTrace, !converged, literalD);
  return { ...result, lipschitz: L, epochs, anchors, evaluationTrace, timeTrace };
}

/**
 * from + step, the step shortened so that neither its rotation (scaled angles) nor its shift moves more
 * than MAX_STEP voxels, the shift then projected onto |T| ≤ maxShift; into `out` (may be `from`).
 */
function takeStep(from: Float64Array, step: Float64Array, maxShift: number, out: Float64Array): void {
  const largest = Math.max(Math.hypot(step[0], step[1], step[2]), Math.hypot(step[3], step[4], step[5]));
  const f = largest > MAX_STEP ? MAX_STEP / largest : 1;
  for (let p = 0; p < 6; p++) out[p] = from[p] + f * step[p];
  projectShift(out, maxShift);
}

/** Moves the shift of β onto the ball |T| ≤ maxShift. */
function projectShift(beta: Float64Array, maxShift: number): void {
  const t = Math.hypot(beta[3], beta[4], beta[5]);
  if (t > maxShift) {
    const f = maxShift / t;
    beta[3] *= f;
    beta[4] *= f;
    beta[5] *= f;
  }
}

/** How far apart two poses are: the larger of the rotation's move at radius ρ and the shift's, voxels. */
function displacement(a: Float64Array, b: Float64Array): number {
  return Math.max(Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]), Math.hypot(a[3] - b[3], a[4] - b[4], a[5] - b[5]));
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let p = 0; p < 6; p++) s += a[p] * b[p];
  return s;
}

/** Gradient in the chart angles → in the scaled angles ρ·Δ (∂/∂(ρΔ) = ∂/∂Δ / ρ). */
function scaleAngles(g: Float64Array, rho: number): void {
  g[0] /= rho;
  g[1] /= rho;
  g[2] /= rho;
}

/** A 6×6 Gauss–Newton matrix in the chart angles → in the scaled angles. */
function scaleMetric(H: Float64Array, rho: number): void {
  for (let p = 0; p < 6; p++) {
    for (let q = 0; q < 6; q++) {
      if (p < 3) H[6 * p + q] /= rho;
      if (q < 3) H[6 * p + q] /= rho;
    }
  }
}

/** The metric P (symmetric positive definite 6×6) with its Cholesky factor for solves. */
class Metric {
  readonly matrix = new Float64Array(36);
  private readonly lower = new Float64Array(36);
  private readonly column = new Float64Array(6);

  /** Cholesky factor of P + ridge·I (ridge relative to P's mean diagonal). */
  factor(): void {
    const P = this.matrix, C = this.lower;
    let diagonal = 0;
    for (let p = 0; p < 6; p++) diagonal += P[7 * p] / 6;
    const ridge = METRIC_RIDGE * diagonal + Number.MIN_VALUE;
    C.fill(0);
    for (let j = 0; j < 6; j++) {
      let s = P[7 * j] + ridge;
      for (let k = 0; k < j; k++) s -= C[6 * j + k] * C[6 * j + k];
      const cjj = Math.sqrt(Math.max(s, ridge));
      C[7 * j] = cjj;
      for (let i = j + 1; i < 6; i++) {
        let t = P[6 * i + j];
        for (let k = 0; k < j; k++) t -= C[6 * i + k] * C[6 * j + k];
        C[6 * i + j] = t / cjj;
      }
    }
  }

  /** x = P⁻¹·b. */
  solve(b: Float64Array, x: Float64Array): void {
    const C = this.lower;
    for (let i = 0; i < 6; i++) {
      let s = b[i];
      for (let k = 0; k < i; k++) s -= C[6 * i + k] * x[k];
      x[i] = s / C[7 * i];
    }
    for (let i = 5; i >= 0; i--) {
      let s = x[i];
      for (let k = i + 1; k < 6; k++) s -= C[6 * k + i] * x[k];
      x[i] = s / C[7 * i];
    }
  }

  /** xᵀ·P·x. */
  quadratic(x: Float64Array): number {
    const P = this.matrix;
    let s = 0;
    for (let p = 0; p < 6; p++) {
      let row = 0;
      for (let q = 0; q < 6; q++) row += P[6 * p + q] * x[q];
      s += x[p] * row;
    }
    return s;
  }

  /** tr(P⁻¹·H) for a symmetric 6×6 H. */
  traceOfInverseTimes(H: Float64Array): number {
    const col = this.column;
    let trace = 0;
    for (let q = 0; q < 6; q++) {
      for (let p = 0; p < 6; p++) col[p] = H[6 * p + q];
      this.solve(col, col);
      trace += col[q];
    }
    return trace;
  }
}
