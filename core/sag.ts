/**
 * SAG fine-grained refinement of β = (φ, θ, ψ, τ1, τ2, τ3) (paper Eq. 9–13, Algorithms 1 and 2; Schmidt,
 * Le Roux & Bach 2017).
 *
 * Objective: J(β) = (1/2n) Σ_i h_i(β) over the n x-slices, h_i = ‖g_Ω(x_i) − f_Ω,β(x_i)‖², evaluated by
 * core/alignobjective.ts (particle fixed, prefiltered reference moved by trilinear interpolation, exact
 * analytic slice gradients). Within an epoch the moving side's normalisation μ, σ (and, with wedges, the
 * literal-minus-fast correction) are held at the values of the last full-loss evaluation; they are
 * recomputed at every epoch boundary, where the full loss is evaluated literally (`lossTrace`, in units of
 * the paper's J = d/(2n)).
 *
 * Parameters: Euler angles in a chart centred on the start rotation (core/eulerchart.ts), scaled by a
 * characteristic radius ρ (default n/4 voxels): the optimiser sees (ρ·Δφ, ρ·Δθ, ρ·Δψ, τ1, τ2, τ3), so one
 * unit of any parameter moves voxels at radius ρ by about one voxel and one step size 1/L suits all six.
 *
 * Iteration (Algorithm 1: one random slice; Algorithm 2: B consecutive slices starting at a random
 * index in 0 … n−B): compute the fresh slice gradients, replace their entries in the gradient memory
 * y_i and in D = Σ y_i, then β ← β − D/(n·L).
 * - Step size 1/L with L from Eq. 13: L = λ + max_i ‖∂f_Ω,β(x_i)/∂β‖²_F (the Frobenius norm bounds the
 *   largest eigenvalue of the slice's Gauss–Newton Hessian), computed in a first pass over all slices
 *   that also fills the gradient memory, so every slice has been visited and D starts as the full gradient
 *   (the paper starts from D = 0).
 * - L doubles while the sufficient-decrease test of Schmidt et al. fails on the sampled batch mean f_B:
 *   f_B(β − ∇f_B/L) ≤ f_B(β) − ‖∇f_B‖²/(2L), and, as in their practical SAG, shrinks by 2^(−B/n) after
 *   every step (halves once per epoch), so L tracks the local curvature instead of the Frobenius bound.
 *   This is what makes Algorithm 2 pay off here: with L at the local curvature, Algorithm 1's n steps per
 *   epoch on a mostly stale gradient memory overshoot (and on noisy data occasionally diverge), while
 *   B-slice batches take n/B fresher steps. test/sag.test.ts measures it on noisy wedged particles
 *   (≈ 20 % fewer passes). Per slice, both cost the same in this implementation (no per-step full-volume
 *   work), so the paper's other reason — amortising a full transform per step — does not apply; with L
 *   frozen at the Eq. 13 bound the two needed about the same number of passes on noise-free particles.
 * - The batch-mean form of D's update keeps D = Σ y_i exactly; the paper's printed Algorithm 2 divides
 *   both terms by B, which would let D drift away from the sum it stands for.
 * - Stop when the full loss changes by less than `tolerance` (relative) over an epoch (n slice gradients)
 *   or after `maxEpochs`. The pose with the lowest full loss seen at an epoch boundary is returned.
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
  /** Epochs (n slice gradients each) after the initial pass (defaults: model/defaults.ts SAG_DEFAULTS). */
  maxEpochs?: number;
  /** Relative change of the full loss over an epoch that ends the refinement. */
  tolerance?: number;

  /** λ of Eq. 13 (a regulariser's curvature; the objective has none). */
  lambda?: number;
  /** Characteristic radius ρ (voxels) that scales the angles; default n/4. */
  angleScale?: number;
  /** Seed of the random slice order. */
  seed?: number;
}

export interface SagResult extends RefinementResult {
  /** Final step-size constant L. */
  lipschitz: number;
  /** Epochs run after the initial pass. */
  epochs: number;
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
  const lambda = options.lambda ?? SAG_DEFAULTS.lambda;
  const rho = options.angleScale ?? n / 4;
  if (!Number.isInteger(maxEpochs) || maxEpochs < 0) throw new RangeError(`SAG maxEpochs must be an integer ≥ 0, got ${maxEpochs}`);
  if (!(tolerance >= 0)) throw new RangeError(`SAG tolerance must be ≥ 0, got ${tolerance}`);
  if (!(lambda >= 0)) throw new RangeError(`SAG λ (Eq. 13) must be ≥ 0, got ${lambda}`);
  if (!(rho > 0)) throw new RangeError(`SAG angle scale must be a positive radius in voxels, got ${rho}`);

  const rng = new Rng(options.seed ?? 0);
  const chart = new EulerChart(start.R);
  const beta = Float64Array.of(0, 0, 0, start.t[0], start.t[1], start.t[2]);
  const trial = new Float64Array(6);
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

  setPose(beta);
  let loss = objective.lossOfDissimilarity(objective.start(R, T));
  const lossTrace = [loss];
  const evaluationTrace = [passes()];
  const timeTrace = [performance.now() - startTime];
  let bestLoss = loss;
  const best = beta.slice();

  // Initial pass: gradient memory y_i = ∇J_i(β0), D = Σ y_i, and Eq. 13's L from the slice Jacobians.
  const memory = new Float64Array(6 * n);
  const D = new Float64Array(6);
  const g = new Float64Array(6);
  const gBatch = new Float64Array(6);
  const columns = new Float64Array(6);
  let maxJacobian = 0;
  let meanGradient2 = 0;
  for (let i = 0; i < n; i++) {
    slicePartial(objective, i, R, T, dR, rho, g);
    for (let p = 0; p < 6; p++) {
      memory[6 * i + p] = g[p];
      D[p] += g[p];
      meanGradient2 += (g[p] * g[p]) / n;
    }
    objective.sliceJacobianColumns(i, R, T, dR, columns);
    const frobenius2 = (columns[0] + columns[1] + columns[2]) / (rho * rho) + columns[3] + columns[4] + columns[5];
    if (frobenius2 > maxJacobian) maxJacobian = frobenius2;
  }
  let L = lambda + maxJacobian;
  if (!(L > 0) || !Number.isFinite(L)) {
    throw new Error('SAG: the reference has no gradient inside the mask, so its pose cannot be refined');
  }
  // Schmidt et al. skip the test for vanishing gradients; relative to the start so it is scale free.
  const testThreshold = 1e-14 * meanGradient2;

  const stepsPerEpoch = Math.ceil(n / batch);
  let iterations = 0;
  let epochs = 0;
  for (let epoch = 0; epoch < maxEpochs; epoch++) {
    for (let s = 0; s < stepsPerEpoch; s++) {
      const first = algorithm === 1 ? Math.floor(rng.uniform() * n) : Math.floor(rng.uniform() * (n - batch + 1));
      setPose(beta);
      let fBatch = 0;
      gBatch.fill(0);
      for (let i = first; i < first + batch; i++) {
        fBatch += slicePartial(objective, i, R, T, dR, rho, g);
        for (let p = 0; p < 6; p++) {
          gBatch[p] += g[p];
          D[p] += g[p] - memory[6 * i + p];
          memory[6 * i + p] = g[p];
        }
      }
      fBatch /= batch;
      let gg = 0;
      for (let p = 0; p < 6; p++) {
        gBatch[p] /= batch;
        gg += gBatch[p] * gBatch[p];
      }
      if (gg > testThreshold) {
        for (let k = 0; k < MAX_DOUBLINGS; k++) {
          for (let p = 0; p < 6; p++) trial[p] = beta[p] - gBatch[p] / L;
          setPose(trial);
          let fTrial = 0;
          for (let i = first; i < first + batch; i++) fTrial += objective.sliceValue(i, R, T);
          if (fTrial / batch <= fBatch - gg / (2 * L)) break;
          L *= 2;
        }
      }
      for (let p = 0; p < 6; p++) beta[p] -= D[p] / (n * L);
      L *= LIPSCHITZ_DECAY ** (batch / n);
      iterations++;
    }
    epochs++;
    setPose(beta);
    const previous = loss;
    loss = objective.lossOfDissimilarity(objective.freeze(R, T));
    lossTrace.push(loss);
    evaluationTrace.push(passes());
    timeTrace.push(performance.now() - startTime);
    if (loss < bestLoss) {
      bestLoss = loss;
      best.set(beta);
    }
    if (Math.abs(previous - loss) <= tolerance * previous) break;
  }

  setPose(best);
  const result = refinementResult(objective, R, T, iterations, passes(), lossTrace);
  return { ...result, lipschitz: L, epochs, evaluationTrace, timeTrace };
}

/** J_i and its gradient in the optimiser's scaled parameters (angles divided by ρ). */
function slicePartial(
  objective: ConstrainedObjective,
  i: number,
  R: Mat3,
  T: Float64Array,
  dR: readonly Mat3[],
  rho: number,
  g: Float64Array,
): number {
  const value = objective.sliceGradient(i, R, T, dR, g);
  g[0] /= rho;
  g[1] /= rho;
  g[2] /= rho;
  return value;
}
