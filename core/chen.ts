/**
 * Chen's baseline (PyTom-style FRM-iterative best CC): from a candidate, alternate a local rotation search
 * at the current shift and the FTM translation peak at the current rotation, keeping the best constrained
 * correlation, for at most `rounds` rounds (PyTom: 10).
 *
 * The rotation search is a hill climb on a local grid: the 26 neighbours Rot(a·step)·R, a ∈ {−1, 0, 1}³
 * \ {0} (small rotations about the lab axes), moving to the best neighbour while it improves, at steps of
 * 4°, then 1°, then 0.25°. Rotations are scored with the same constrained dissimilarity as SAG and LM
 * (core/alignobjective.ts), anchored to the literal one at the start of each round; translations come from
 * core/ftm.ts with its sub-voxel peak. The refinement stops early when a round moves the rotation by less
 * than half the finest step and the shift by less than 0.05 voxel. `lossTrace` lists d after each round
 * (d at the start first).
 */
import {
  type ConstrainedObjective,
  type RefinementResult,
  type RefinementStart,
  refinementResult,
} from './alignobjective.ts';
import type { TranslationMatcher } from './ftm.ts';
import { type Mat3, multiply, quaternionToMatrix, radians, rotationAngle } from './rotate.ts';
import type { Volume } from './volume.ts';
import type { TiltRange } from './wedge.ts';

export interface ChenOptions {
  /** Rounds of rotation search + translation peak; default 10. */
  rounds?: number;
  /** Angular steps of the local grid, degrees, coarse to fine; default [4, 1, 0.25]. */
  stepsDegrees?: number[];
}

export interface ChenContext {
  reference: Volume;
  matcher: TranslationMatcher;
  maxShift: number;
  wedgeRef?: TiltRange;
}

/** Hill-climb moves per step level before moving on (a safeguard; a climb normally stops far earlier). */
const MAX_MOVES_PER_LEVEL = 40;
const SHIFT_CONVERGED = 0.05;

export function refineChen(
  objective: ConstrainedObjective,
  context: ChenContext,
  start: RefinementStart,
  options: ChenOptions = {},
): RefinementResult {
  const rounds = options.rounds ?? 10;
  const steps = (options.stepsDegrees ?? [4, 1, 0.25]).map((s) => {
    if (!(s > 0) || !Number.isFinite(s)) throw new RangeError(`Chen angular steps must be positive degrees, got ${s}`);
    return radians(s);
  });
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`Chen rounds must be an integer ≥ 1, got ${rounds}`);
  const neighbours = neighbourRotations(steps);
  const finest = Math.min(...steps);

  let R: Mat3 = Float64Array.from(start.R);
  let T = Float64Array.from(start.t);
  const samplesBefore = objective.samples;
  let d = objective.start(R, T);
  const lossTrace = [d];
  let best = { R: R.slice(), T: T.slice(), d };
  const candidate = new Float64Array(9);
  for (let round = 0; round < rounds; round++) {
    const roundStart = { R: R.slice(), T: T.slice() };
    for (let level = 0; level < steps.length; level++) {
      for (let move = 0; move < MAX_MOVES_PER_LEVEL; move++) {
        let bestNeighbour = -1;
        let bestD = d;
        for (let k = 0; k < neighbours[level].length; k++) {
          multiply(neighbours[level][k], R, candidate);
          const dk = objective.evaluate(candidate, T);
          if (dk < bestD) {
            bestD = dk;
            bestNeighbour = k;
          }
        }
        if (bestNeighbour < 0) break;
        R = multiply(neighbours[level][bestNeighbour], R);
        d = bestD;
      }
    }
    const match = context.matcher.match(context.reference, R, { maxShift: context.maxShift, wedgeRef: context.wedgeRef });
    T = Float64Array.from(match.t);
    d = objective.freeze(R, T);
    lossTrace.push(d);
    if (d < best.d) best = { R: R.slice(), T: T.slice(), d };
    const moved = rotationAngle(roundStart.R, R);
    const shifted = Math.hypot(T[0] - roundStart.T[0], T[1] - roundStart.T[1], T[2] - roundStart.T[2]);
    if (moved < finest / 2 && shifted < SHIFT_CONVERGED) {
      return finish(objective, best, round + 1, samplesBefore, lossTrace, false);
    }
  }
  return finish(objective, best, rounds, samplesBefore, lossTrace, true);
}

function finish(
  objective: ConstrainedObjective,
  best: { R: Mat3; T: Float64Array },
  rounds: number,
  samplesBefore: number,
  lossTrace: number[],
  capped: boolean,
): RefinementResult {
  return refinementResult(objective, best.R, best.T, rounds, (objective.samples - samplesBefore) / objective.count, lossTrace, capped);
}

/** For each step, the 26 rotations by step·a about the axis a ∈ {−1, 0, 1}³ \ {0} (angle step·|a|). */
function neighbourRotations(steps: number[]): Mat3[][] {
  return steps.map((step) => {
    const list: Mat3[] = [];
    for (let a = -1; a <= 1; a++) {
      for (let b = -1; b <= 1; b++) {
        for (let c = -1; c <= 1; c++) {
          if (a === 0 && b === 0 && c === 0) continue;
          const norm = Math.hypot(a, b, c);
          const half = (step * norm) / 2;
          const s = Math.sin(half) / norm;
          list.push(quaternionToMatrix([Math.cos(half), a * s, b * s, c * s]));
        }
      }
    }
    return list;
  });
}
