/**
 * Point-group symmetry of the structure being averaged: cyclic C_n and dihedral D_n (GroEL is D7).
 *
 * Axes, as RELION (src/symmetries.cpp: C_n = "rot_axis n 0 0 1", D_n adds "rot_axis 2 1 0 0"), Xmipp and
 * Dynamo: the n-fold axis is z; the n two-fold axes of D_n lie in the x–y plane, the first along x. The
 * built-in phantom (core/phantom.ts) and GroEL14 built from 1OEL's BIOMT operators are placed this way.
 * Operators (active rotations about the box centre, core/rotate.ts):
 *   C_n: Rz(2πk/n), k = 0 … n−1 (k = 0 is the identity);  D_n: those and Rz(2πk/n)·Rx(π).
 *
 * Which side the operator goes on. A symmetric reference satisfies Λ_S ref = ref for every operator S, so
 * for a particle ≈ Λ_R ref (design "Poses") we have Λ_R ref = Λ_R Λ_S ref = Λ_{R·S} ref (composition
 * multiplies R_a·R_b): R and R·S describe the same particle, the operator acts on the RIGHT. The shift is
 * unaffected, because the symmetry centre is the box centre about which the rotation acts. Left
 * multiplication S·R would be right only for a symmetric *particle frame*, which is not what poses mean.
 */
import { type SymmetryName, parseSymmetryName } from '../model/symmetry.ts';
import { degrees, multiply, rotationAngle, rotationX, rotationZ, transformVolumeByMatrix, eulerToMatrix } from './rotate.ts';
import type { Mat3, Pose } from './rotate.ts';
import { Volume } from './volume.ts';

export interface SymmetryGroup extends Omit<SymmetryName, 'order'> {
  /** The group's rotations, identity first; |C_n| = n, |D_n| = 2n. */
  operators: readonly Mat3[];
}

/** The group named by `text` (model/symmetry.ts parseSymmetryName: its grammar and errors) with its rotations. */
export function parseSymmetry(text: string): SymmetryGroup {
  const { name, kind, n } = parseSymmetryName(text);
  const operators: Mat3[] = [];
  for (let k = 0; k < n; k++) operators.push(rotationZ((2 * Math.PI * k) / n));
  if (kind === 'D') {
    const flip = rotationX(Math.PI);
    for (let k = 0; k < n; k++) operators.push(multiply(operators[k], flip));
  }
  return { name, kind, n, operators };
}

/** The rotations of the group named `name` (see parseSymmetry), identity first. */
export function symmetryOperators(name: string): Mat3[] {
  return [...parseSymmetry(name).operators];
}

function groupOf(group: SymmetryGroup | string): SymmetryGroup {
  return typeof group === 'string' ? parseSymmetry(group) : group;
}

/**
 * (1/|G|) Σ_S Λ_S v: the average of the volume over the group's rotations about the box centre (trilinear
 * interpolation; outside the box reads 0). Applying it to an already symmetric volume changes it only by
 * interpolation blur.
 */
export function symmetrise(v: Volume, group: SymmetryGroup | string): Volume {
  const { operators } = groupOf(group);
  const sum = new Float64Array(v.data.length);
  const moved = new Volume(v.n, v.voxelSize);
  const zero = [0, 0, 0];
  for (const S of operators) {
    transformVolumeByMatrix(v, S, zero, moved);
    const d = moved.data;
    for (let i = 0; i < d.length; i++) sum[i] += d[i];
  }
  const out = new Volume(v.n, v.voxelSize);
  const scale = 1 / operators.length;
  for (let i = 0; i < sum.length; i++) out.data[i] = sum[i] * scale;
  return out;
}

/** The operator S minimising angle(Rest, Rtrue·S), its index in `group.operators` and that angle (radians). */
export function nearestSymmetryMate(Rest: Mat3, Rtrue: Mat3, group: SymmetryGroup | string): { index: number; angle: number } {
  const { operators } = groupOf(group);
  const mate = new Float64Array(9);
  let best = { index: 0, angle: Infinity };
  operators.forEach((S, index) => {
    const angle = rotationAngle(Rest, multiply(Rtrue, S, mate));
    if (angle < best.angle) best = { index, angle };
  });
  return best;
}

/**
 * Rotation error (radians, [0, π]) of an estimate against the truth for a structure with symmetry `group`:
 * min over operators S of angle(Rest, Rtrue·S) (operator on the right, see module doc). C1 gives the plain
 * rotationAngle.
 */
export function rotationErrorUnderSymmetry(Rest: Mat3, Rtrue: Mat3, group: SymmetryGroup | string): number {
  return nearestSymmetryMate(Rest, Rtrue, group).angle;
}

/** |T_est − T_true| in voxels; symmetry about the box centre leaves the shift unchanged. */
export function translationError(Test: ArrayLike<number>, Ttrue: ArrayLike<number>): number {
  return Math.hypot(Test[0] - Ttrue[0], Test[1] - Ttrue[1], Test[2] - Ttrue[2]);
}

export interface PoseError {
  /** Rotation error in degrees (design "Poses"), after the symmetry. */
  rotationDeg: number;
  /** Translation error in voxels. */
  translationVoxels: number;
  /** Index of the operator S of the nearest symmetry mate Rtrue·S. */
  operator: number;
}

/** Rotation (degrees) and translation (voxels) error of an estimated pose under the structure's symmetry. */
export function poseErrorUnderSymmetry(estimate: Pose, truth: Pose, group: SymmetryGroup | string): PoseError {
  const mate = nearestSymmetryMate(eulerToMatrix(estimate), eulerToMatrix(truth), group);
  return {
    rotationDeg: degrees(mate.angle),
    translationVoxels: translationError([estimate.tx, estimate.ty, estimate.tz], [truth.tx, truth.ty, truth.tz]),
    operator: mate.index,
  };
}
