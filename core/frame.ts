/**
 * Pose errors of a reference-free alignment. A reference built from the data is the true structure in some
 * unknown global orientation G (ref = Λ_G truth), so an alignment that is right for every particle returns
 * R_est = R_true·S·G⁻¹ (S an operator of the structure's symmetry): Y = R_estᵀ·R_true = G·S⁻¹ is the same
 * rotation for every particle up to the symmetry. fitGlobalFrame finds G as the robust consensus of the Y's
 * and measures each particle's rotation error after taking G out: min_S angle(Y, G·S).
 */
import { type Mat3, degrees, matrixToQuaternion, multiply, quaternionToMatrix, transpose } from './rotate.ts';
import { type SymmetryGroup, nearestSymmetryMate, parseSymmetry, rotationErrorUnderSymmetry } from './symmetry.ts';

export interface FrameFit {
  /** G: the rotation that takes the true structure to the reference's frame. */
  frame: Mat3;
  /** Per particle, in input order: rotation error (degrees) with G taken out, under the symmetry. */
  errorsDeg: number[];
  /** Particles within the inlier radius of G: those the consensus was averaged over. */
  inliers: number;
}

/** Quaternion mean of rotations close to each other (signs made consistent with the first). */
function meanRotation(rotations: readonly Mat3[]): Mat3 {
  const sum = [0, 0, 0, 0];
  const first = matrixToQuaternion(rotations[0]);
  for (const R of rotations) {
    const q = matrixToQuaternion(R);
    const sign = q[0] * first[0] + q[1] * first[1] + q[2] * first[2] + q[3] * first[3] < 0 ? -1 : 1;
    for (let k = 0; k < 4; k++) sum[k] += sign * q[k];
  }
  return quaternionToMatrix(sum);
}

/**
 * Fits G to estimated and true rotations of the same particles: the particle whose Y has the most others
 * within `inlierDeg` (under the symmetry) seeds it, then G is re-estimated twice as the mean of the inliers'
 * nearest symmetry mates. Outliers (misaligned particles) do not pull G, so their errors stay large.
 */
export function fitGlobalFrame(estimates: readonly Mat3[], truths: readonly Mat3[], symmetry: SymmetryGroup | string, inlierDeg = 15): FrameFit {
  const group = typeof symmetry === 'string' ? parseSymmetry(symmetry) : symmetry;
  if (estimates.length !== truths.length || estimates.length === 0) {
    throw new RangeError(`fitGlobalFrame needs as many estimates as truths (≥ 1), got ${estimates.length} and ${truths.length}`);
  }
  const ys = estimates.map((R, i) => multiply(transpose(R), truths[i]));
  const within = (G: Mat3) => ys.map((Y) => degrees(rotationErrorUnderSymmetry(Y, G, group)));
  let seed = 0;
  let seedScore = -1;
  ys.forEach((Y, k) => {
    const d = within(Y);
    // Ties in the inlier count go to the tighter cluster.
    const score = d.filter((x) => x < inlierDeg).length - d.reduce((s, x) => s + Math.min(x, inlierDeg), 0) / (inlierDeg * ys.length + 1);
    if (score > seedScore) {
      seedScore = score;
      seed = k;
    }
  });
  let frame = ys[seed];
  let inliers = 0;
  for (let round = 0; round < 2; round++) {
    const mates: Mat3[] = [];
    for (const Y of ys) {
      const mate = nearestSymmetryMate(Y, frame, group);
      if (degrees(mate.angle) >= inlierDeg) continue;
      // Y ≈ G·S, so Y·Sᵀ is this particle's estimate of G.
      mates.push(multiply(Y, transpose(group.operators[mate.index])));
    }
    if (mates.length === 0) break;
    inliers = mates.length;
    frame = meanRotation(mates);
  }
  return { frame, errorsDeg: within(frame), inliers };
}
