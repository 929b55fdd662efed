/**
 * Xu's local refinement baseline: Levenberg–Marquardt on the whole volume with the same constrained
 * objective as SAG (core/alignobjective.ts), minimising d(β) = ‖g_Ω − f_Ω,β‖² (design "The paper and what
 * public peers do").
 *
 * - Parameters: the chart Euler angles of core/eulerchart.ts (centred on the start rotation, radians) and
 *   the shift (voxels).
 * - Jacobian (masked voxels × 6) of the constrained, normalised transformed reference f_Ω,β by central
 *   differences with ε = 1° per angle and 1 voxel per shift; after each step ε_p shrinks to |Δ_p| (never
 *   below 1e-3 of its start value), as the step sizes show the scale that matters.
 * - Step: (JᵀJ + λ·diag(JᵀJ))·Δ = Jᵀ(g_Ω − f_Ω,β), λ = 1 at the start; a step that lowers d is accepted and
 *   λ ÷ 10, otherwise λ × 10 and the step is solved again with the same Jacobian.
 * - Stop when |d_k − d_{k−1}| < d_0·1e-5, when λ exceeds 1e12 (no descent step exists at this Jacobian's
 *   precision) or after `maxIterations` Jacobians.
 * Each iteration starts with the objective's `freeze` at the current pose, so d_k is the literal
 * dissimilarity there; `lossTrace` lists d_0, d_1, ….
 */
import {
  type ConstrainedObjective,
  type RefinementResult,
  type RefinementStart,
  refinementResult,
} from './alignobjective.ts';
import { EulerChart } from './eulerchart.ts';
import { type Mat3, radians } from './rotate.ts';

export interface LmOptions {
  /** Jacobian evaluations at most; default 30. */
  maxIterations?: number;
  /** Initial damping λ; default 1. */
  lambda?: number;
  /** Stop when |d_k − d_{k−1}| < d_0·relativeTolerance; default 1e-5. */
  relativeTolerance?: number;
}

const START_STEPS = [radians(1), radians(1), radians(1), 1, 1, 1];
const SMALLEST_STEP_FRACTION = 1e-3;
const MAX_LAMBDA = 1e12;

export function refineLm(objective: ConstrainedObjective, start: RefinementStart, options: LmOptions = {}): RefinementResult {
  const maxIterations = options.maxIterations ?? 30;
  const tolerance = options.relativeTolerance ?? 1e-5;
  let lambda = options.lambda ?? 1;
  if (!Number.isInteger(maxIterations) || maxIterations < 0) {
    throw new RangeError(`LM maxIterations must be an integer ≥ 0, got ${maxIterations}`);
  }
  if (!(lambda > 0)) throw new RangeError(`LM initial λ must be positive, got ${lambda}`);
  if (!(tolerance >= 0)) throw new RangeError(`LM relative tolerance must be ≥ 0, got ${tolerance}`);

  const count = objective.count;
  const chart = new EulerChart(start.R);
  const q = Float64Array.of(0, 0, 0, start.t[0], start.t[1], start.t[2]);
  const trial = new Float64Array(6);
  const R: Mat3 = new Float64Array(9);
  const T = new Float64Array(3);
  const setPose = (b: Float64Array): void => {
    chart.rotation(b[0], b[1], b[2], R);
    T[0] = b[3];
    T[1] = b[4];
    T[2] = b[5];
  };
  const eps = START_STEPS.slice();
  const f = new Float64Array(count);
  const minus = new Float64Array(count);
  const jacobian = Array.from({ length: 6 }, () => new Float64Array(count));
  const A = new Float64Array(36);
  const b = new Float64Array(6);
  const delta = new Float64Array(6);
  const g = objective.target;
  const samplesBefore = objective.samples;

  setPose(q);
  let d = objective.start(R, T, f);
  const d0 = d;
  const lossTrace = [d];
  let iterations = 0;
  let stopped = false;
  for (let k = 0; k < maxIterations; k++) {
    iterations++;
    for (let p = 0; p < 6; p++) {
      const column = jacobian[p];
      trial.set(q);
      trial[p] = q[p] + eps[p];
      setPose(trial);
      objective.evaluate(R, T, column);
      trial[p] = q[p] - eps[p];
      setPose(trial);
      objective.evaluate(R, T, minus);
      const inv = 1 / (2 * eps[p]);
      for (let v = 0; v < count; v++) column[v] = (column[v] - minus[v]) * inv;
    }
    for (let p = 0; p < 6; p++) {
      const cp = jacobian[p];
      let rhs = 0;
      for (let v = 0; v < count; v++) rhs += cp[v] * (g[v] - f[v]);
      b[p] = rhs;
      for (let r = p; r < 6; r++) {
        const cr = jacobian[r];
        let s = 0;
        for (let v = 0; v < count; v++) s += cp[v] * cr[v];
        A[6 * p + r] = s;
        A[6 * r + p] = s;
      }
    }
    let accepted = false;
    let dTrial = d;
    while (lambda <= MAX_LAMBDA) {
      solveDamped(A, lambda, b, delta);
      for (let p = 0; p < 6; p++) trial[p] = q[p] + delta[p];
      setPose(trial);
      dTrial = objective.evaluate(R, T);
      if (dTrial < d) {
        accepted = true;
        lambda /= 10;
        break;
      }
      lambda *= 10;
    }
    if (!accepted) {
      stopped = true;
      break;
    }
    q.set(trial);
    for (let p = 0; p < 6; p++) {
      eps[p] = Math.min(START_STEPS[p], Math.max(SMALLEST_STEP_FRACTION * START_STEPS[p], Math.abs(delta[p])));
    }
    setPose(q);
    const previous = d;
    d = objective.freeze(R, T, f);
    lossTrace.push(d);
    if (Math.abs(previous - d) < d0 * tolerance) {
      stopped = true;
      break;
    }
  }
  setPose(q);
  return refinementResult(objective, R, T, iterations, (objective.samples - samplesBefore) / count, lossTrace, !stopped && maxIterations > 0);
}

/**
 * Solve (A + λ·diag(A))·x = b for the symmetric 6×6 A by Gaussian elimination with partial pivoting.
 * A parameter with no influence (zero column) gets a zero step instead of a division by zero.
 */
function solveDamped(A: Float64Array, lambda: number, b: Float64Array, x: Float64Array): void {
  const M = new Float64Array(42); // 6 rows × (6 + 1)
  let scale = 0;
  for (let i = 0; i < 6; i++) scale = Math.max(scale, A[7 * i]);
  const floor = 1e-15 * scale;
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < 6; j++) M[7 * i + j] = A[6 * i + j];
    M[7 * i + i] = A[7 * i] * (1 + lambda) + floor;
    M[7 * i + 6] = b[i];
  }
  for (let col = 0; col < 6; col++) {
    let pivot = col;
    for (let r = col + 1; r < 6; r++) if (Math.abs(M[7 * r + col]) > Math.abs(M[7 * pivot + col])) pivot = r;
    if (pivot !== col) {
      for (let j = 0; j < 7; j++) {
        const t = M[7 * col + j];
        M[7 * col + j] = M[7 * pivot + j];
        M[7 * pivot + j] = t;
      }
    }
    const diag = M[7 * col + col];
    if (diag === 0) continue;
    for (let r = col + 1; r < 6; r++) {
      const factor = M[7 * r + col] / diag;
      if (factor === 0) continue;
      for (let j = col; j < 7; j++) M[7 * r + j] -= factor * M[7 * col + j];
    }
  }
  for (let i = 5; i >= 0; i--) {
    const diag = M[7 * i + i];
    let s = M[7 * i + 6];
    for (let j = i + 1; j < 6; j++) s -= M[7 * i + j] * x[j];
    x[i] = diag === 0 ? 0 : s / diag;
  }
}
