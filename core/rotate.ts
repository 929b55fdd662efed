/**
 * The one rotation/pose module of subtomo (conventions: docs/design.md, "Poses").
 *
 * - Rotations are 3×3 row-major matrices acting on column vectors (x, y, z), active (they move the object).
 * - Euler angles are ZYZ in radians: R = Rz(φ)·Ry(θ)·Rz(ψ).
 * - A pose β = (R, T) transforms a volume as (Λ_β V)(x) = V(R⁻¹(x − c − T) + c), c = floor(n/2):
 *   rotate about the centre, then shift by T voxels.
 */
import type { Rng } from './random.ts';
import { Volume, centreOf } from './volume.ts';

/** Row-major 3×3 matrix, length 9: element (i, j) is at 3*i + j. */
export type Mat3 = Float64Array;

/** ZYZ Euler angles in radians. */
export interface Euler {
  phi: number;
  theta: number;
  psi: number;
}

/** ZYZ Euler angles (radians) and a shift (voxels) applied after the rotation about the box centre. */
export interface Pose {
  phi: number;
  theta: number;
  psi: number;
  tx: number;
  ty: number;
  tz: number;
}

export function degrees(rad: number): number {
  return (rad * 180) / Math.PI;
}

export function radians(deg: number): number {
  return (deg * Math.PI) / 180;
}

// Math.cos(π/2) is 6e-17, not 0; snapping such residues makes rotations by multiples of 90° exact axis
// permutations, so symmetry operators and voxel permutations stay bit exact. The largest error this can
// introduce is 1e-14 rad, far below anything measurable.
const TRIG_SNAP = 1e-14;
function cosExact(a: number): number {
  const c = Math.cos(a);
  return Math.abs(c) < TRIG_SNAP ? 0 : c;
}
function sinExact(a: number): number {
  const s = Math.sin(a);
  return Math.abs(s) < TRIG_SNAP ? 0 : s;
}

export function identity(): Mat3 {
  return Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
}

/** Active rotation by `angle` radians about the x axis. */
export function rotationX(angle: number): Mat3 {
  const c = cosExact(angle);
  const s = sinExact(angle);
  return Float64Array.of(1, 0, 0, 0, c, -s, 0, s, c);
}

/** Active rotation by `angle` radians about the y axis. */
export function rotationY(angle: number): Mat3 {
  const c = cosExact(angle);
  const s = sinExact(angle);
  return Float64Array.of(c, 0, s, 0, 1, 0, -s, 0, c);
}

/** Active rotation by `angle` radians about the z axis. */
export function rotationZ(angle: number): Mat3 {
  const c = cosExact(angle);
  const s = sinExact(angle);
  return Float64Array.of(c, -s, 0, s, c, 0, 0, 0, 1);
}

/** R = Rz(φ)·Ry(θ)·Rz(ψ), written out in closed form. */
export function eulerToMatrix(e: Euler, out: Mat3 = new Float64Array(9)): Mat3 {
  const cf = cosExact(e.phi), sf = sinExact(e.phi);
  const ct = cosExact(e.theta), st = sinExact(e.theta);
  const cp = cosExact(e.psi), sp = sinExact(e.psi);
  out[0] = cf * ct * cp - sf * sp;
  out[1] = -cf * ct * sp - sf * cp;
  out[2] = cf * st;
  out[3] = sf * ct * cp + cf * sp;
  out[4] = -sf * ct * sp + cf * cp;
  out[5] = sf * st;
  out[6] = -st * cp;
  out[7] = st * sp;
  out[8] = ct;
  return out;
}

// Below this sin θ, φ and ψ are not separable (gimbal lock) and we report ψ = 0; the matrix round trip
// then errs by at most sin θ. It is a convention only: the general branch stays accurate for any θ.
const GIMBAL_SIN = 1e-14;

/**
 * ZYZ angles of a rotation matrix with θ ∈ [0, π] and φ, ψ ∈ (−π, π]. At gimbal lock (θ ≈ 0 or π) only
 * φ ± ψ is defined and ψ = 0 is returned.
 */
export function matrixToEuler(R: Mat3): Euler {
  // From the closed form: R00 + R11 = (1 + cos θ)·cos(φ + ψ), R10 − R01 = (1 + cos θ)·sin(φ + ψ),
  // R11 − R00 = (1 − cos θ)·cos(φ − ψ), −(R10 + R01) = (1 − cos θ)·sin(φ − ψ).
  const sinTheta = Math.hypot(R[2], R[5]);
  const theta = Math.atan2(sinTheta, R[8]);
  const sum = Math.atan2(R[3] - R[1], R[0] + R[4]);
  const diff = Math.atan2(-(R[3] + R[1]), R[4] - R[0]);
  if (sinTheta < GIMBAL_SIN) {
    return { phi: wrapAngle(R[8] > 0 ? sum : diff), theta, psi: 0 };
  }
  const phi = Math.atan2(R[5], R[2]);
  // ψ from whichever of φ ± ψ is well conditioned keeps the matrix round trip at machine precision even
  // when sin θ is tiny and φ alone is poorly determined.
  const psi = R[8] >= 0 ? sum - phi : phi - diff;
  return { phi: wrapAngle(phi), theta, psi: wrapAngle(psi) };
}

/** Angle mapped to (−π, π]. */
export function wrapAngle(a: number): number {
  let w = a % (2 * Math.PI);
  if (w <= -Math.PI) w += 2 * Math.PI;
  else if (w > Math.PI) w -= 2 * Math.PI;
  return w;
}

export function multiply(a: Mat3, b: Mat3, out: Mat3 = new Float64Array(9)): Mat3 {
  const a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6], a7 = a[7], a8 = a[8];
  const b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3], b4 = b[4], b5 = b[5], b6 = b[6], b7 = b[7], b8 = b[8];
  out[0] = a0 * b0 + a1 * b3 + a2 * b6;
  out[1] = a0 * b1 + a1 * b4 + a2 * b7;
  out[2] = a0 * b2 + a1 * b5 + a2 * b8;
  out[3] = a3 * b0 + a4 * b3 + a5 * b6;
  out[4] = a3 * b1 + a4 * b4 + a5 * b7;
  out[5] = a3 * b2 + a4 * b5 + a5 * b8;
  out[6] = a6 * b0 + a7 * b3 + a8 * b6;
  out[7] = a6 * b1 + a7 * b4 + a8 * b7;
  out[8] = a6 * b2 + a7 * b5 + a8 * b8;
  return out;
}

/** Rᵀ, which is R⁻¹ for a rotation. */
export function transpose(R: Mat3, out: Mat3 = new Float64Array(9)): Mat3 {
  const r1 = R[1], r2 = R[2], r5 = R[5];
  out[0] = R[0];
  out[4] = R[4];
  out[8] = R[8];
  out[1] = R[3];
  out[2] = R[6];
  out[5] = R[7];
  out[3] = r1;
  out[6] = r2;
  out[7] = r5;
  return out;
}

/** R·v for a 3-vector v. */
export function applyMat(R: Mat3, v: ArrayLike<number>, out: Float64Array = new Float64Array(3)): Float64Array {
  const x = v[0], y = v[1], z = v[2];
  out[0] = R[0] * x + R[1] * y + R[2] * z;
  out[1] = R[3] * x + R[4] * y + R[5] * z;
  out[2] = R[6] * x + R[7] * y + R[8] * z;
  return out;
}

export function determinant(R: Mat3): number {
  return (
    R[0] * (R[4] * R[8] - R[5] * R[7]) - R[1] * (R[3] * R[8] - R[5] * R[6]) + R[2] * (R[3] * R[7] - R[4] * R[6])
  );
}

export function poseFromMatrix(R: Mat3, t: ArrayLike<number>): Pose {
  const e = matrixToEuler(R);
  return { phi: e.phi, theta: e.theta, psi: e.psi, tx: t[0], ty: t[1], tz: t[2] };
}

/**
 * The pose equal to applying b, then a: Λ_a Λ_b V = Λ_(a∘b) V with
 * R = R_a·R_b and T = T_a + R_a·T_b (substitute one transform into the other).
 */
export function composePoses(a: Pose, b: Pose): Pose {
  const Ra = eulerToMatrix(a);
  const R = multiply(Ra, eulerToMatrix(b));
  const t = applyMat(Ra, [b.tx, b.ty, b.tz]);
  return poseFromMatrix(R, [a.tx + t[0], a.ty + t[1], a.tz + t[2]]);
}

/** (R⁻¹, −R⁻¹T): the pose that undoes p (used to bring a subtomogram back onto the reference). */
export function inversePose(p: Pose): Pose {
  const Rinv = transpose(eulerToMatrix(p));
  const t = applyMat(Rinv, [p.tx, p.ty, p.tz]);
  return poseFromMatrix(Rinv, [-t[0], -t[1], -t[2]]);
}

/**
 * Angle (radians, [0, π]) of the rotation Raᵀ·Rb, i.e. arccos((tr(Raᵀ Rb) − 1)/2) clamped. Evaluated as
 * 2·atan2(sin(ω/2), cos(ω/2)) with sin(ω/2) = ‖Ra − Rb‖_F / √8, which stays accurate for tiny angles where
 * arccos near 1 loses half the digits.
 */
export function rotationAngle(Ra: Mat3, Rb: Mat3): number {
  let trace = 0;
  let diff2 = 0;
  for (let i = 0; i < 9; i++) {
    trace += Ra[i] * Rb[i];
    const d = Ra[i] - Rb[i];
    diff2 += d * d;
  }
  const sinHalf = Math.sqrt(diff2 / 8);
  const cosHalf = Math.sqrt(Math.max(0, (trace + 1) / 4));
  return Math.min(Math.PI, 2 * Math.atan2(sinHalf, cosHalf));
}

/** Rotation matrix of the quaternion q = [w, x, y, z] (normalised here; need not be unit on input). */
export function quaternionToMatrix(q: ArrayLike<number>, out: Mat3 = new Float64Array(9)): Mat3 {
  const norm = Math.hypot(q[0], q[1], q[2], q[3]);
  if (!(norm > 0)) throw new RangeError(`cannot make a rotation from the zero quaternion [${Array.from(q).join(', ')}]`);
  const w = q[0] / norm, x = q[1] / norm, y = q[2] / norm, z = q[3] / norm;
  out[0] = 1 - 2 * (y * y + z * z);
  out[1] = 2 * (x * y - w * z);
  out[2] = 2 * (x * z + w * y);
  out[3] = 2 * (x * y + w * z);
  out[4] = 1 - 2 * (x * x + z * z);
  out[5] = 2 * (y * z - w * x);
  out[6] = 2 * (x * z - w * y);
  out[7] = 2 * (y * z + w * x);
  out[8] = 1 - 2 * (x * x + y * y);
  return out;
}

/**
 * Unit quaternion [w, x, y, z] with w ≥ 0 of a rotation matrix, the inverse of quaternionToMatrix. Shepperd's
 * method: the square root is taken of the largest of the four candidates, so no branch divides by a tiny number.
 */
export function matrixToQuaternion(R: Mat3): [number, number, number, number] {
  const trace = R[0] + R[4] + R[8];
  let q: [number, number, number, number];
  if (trace >= R[0] && trace >= R[4] && trace >= R[8]) {
    const w = Math.sqrt(1 + trace) / 2;
    q = [w, (R[7] - R[5]) / (4 * w), (R[2] - R[6]) / (4 * w), (R[3] - R[1]) / (4 * w)];
  } else if (R[0] >= R[4] && R[0] >= R[8]) {
    const x = Math.sqrt(1 + R[0] - R[4] - R[8]) / 2;
    q = [(R[7] - R[5]) / (4 * x), x, (R[1] + R[3]) / (4 * x), (R[2] + R[6]) / (4 * x)];
  } else if (R[4] >= R[8]) {
    const y = Math.sqrt(1 - R[0] + R[4] - R[8]) / 2;
    q = [(R[2] - R[6]) / (4 * y), (R[1] + R[3]) / (4 * y), y, (R[5] + R[7]) / (4 * y)];
  } else {
    const z = Math.sqrt(1 - R[0] - R[4] + R[8]) / 2;
    q = [(R[3] - R[1]) / (4 * z), (R[2] + R[6]) / (4 * z), (R[5] + R[7]) / (4 * z), z];
  }
  return q[0] < 0 ? [-q[0], -q[1], -q[2], -q[3]] : q;
}

/**
 * Haar-uniform random rotation: a uniform unit quaternion (Shoemake 1992, from three uniforms) mapped to
 * a matrix. Uniform Euler angles are not uniform on SO(3) and an SVD of a random matrix can be a reflection.
 */
export function randomRotation(rng: Rng): Mat3 {
  const u1 = rng.uniform();
  const a = 2 * Math.PI * rng.uniform();
  const b = 2 * Math.PI * rng.uniform();
  const r1 = Math.sqrt(1 - u1);
  const r2 = Math.sqrt(u1);
  return quaternionToMatrix([r2 * Math.cos(b), r1 * Math.sin(a), r1 * Math.cos(a), r2 * Math.sin(b)]);
}

/**
 * Trilinear interpolation of an n³ x-fastest grid at (x, y, z) in voxel coordinates. Corners outside the
 * box read `outside`, so the interpolant blends smoothly into the background at the border.
 */
export function sampleTrilinear(data: Float32Array, n: number, x: number, y: number, z: number, outside = 0): number {
  const x0 = Math.floor(x), y0 = Math.floor(y), z0 = Math.floor(z);
  const nm1 = n - 1;
  // The interior case is kept small so that V8 inlines it into callers' loops; the border goes out of line.
  if (x0 >= 0 && x0 < nm1 && y0 >= 0 && y0 < nm1 && z0 >= 0 && z0 < nm1) {
    const fx = x - x0, fy = y - y0, fz = z - z0;
    const i = x0 + n * (y0 + n * z0);
    const nn = n * n;
    const c00 = data[i] + fx * (data[i + 1] - data[i]);
    const c10 = data[i + n] + fx * (data[i + n + 1] - data[i + n]);
    const c01 = data[i + nn] + fx * (data[i + nn + 1] - data[i + nn]);
    const c11 = data[i + nn + n] + fx * (data[i + nn + n + 1] - data[i + nn + n]);
    const c0 = c00 + fy * (c10 - c00);
    const c1 = c01 + fy * (c11 - c01);
    return c0 + fz * (c1 - c0);
  }
  sampleBorder(data, n, x, y, z, borderScratch, outside);
  return borderScratch[0];
}

/** sampleTrilinear's and sampleTrilinearWithGradient's border results. */
const borderScratch = new Float64Array(4);

function voxelOr(data: Float32Array, n: number, x: number, y: number, z: number, outside: number): number {
  return x >= 0 && x < n && y >= 0 && y < n && z >= 0 && z < n ? data[x + n * (y + n * z)] : outside;
}

/**
 * Trilinear value at (x, y, z) and its exact partial derivatives (∂/∂x, ∂/∂y, ∂/∂z) written to grad[0..2].
 * The derivative is that of the interpolant inside the cell whose lower corner is floor(x, y, z) (the
 * interpolant is only C⁰ across cell faces). Corners outside the box read `outside`.
 */
export function sampleTrilinearWithGradient(
  data: Float32Array,
  n: number,
  x: number,
  y: number,
  z: number,
  grad: Float64Array,
  outside = 0,
): number {
  const x0 = Math.floor(x), y0 = Math.floor(y), z0 = Math.floor(z);
  const nm1 = n - 1;
  if (x0 >= 0 && x0 < nm1 && y0 >= 0 && y0 < nm1 && z0 >= 0 && z0 < nm1) {
    const fx = x - x0, fy = y - y0, fz = z - z0;
    const i = x0 + n * (y0 + n * z0);
    const nn = n * n;
    const v000 = data[i], v100 = data[i + 1], v010 = data[i + n], v110 = data[i + n + 1];
    const v001 = data[i + nn], v101 = data[i + nn + 1], v011 = data[i + nn + n], v111 = data[i + nn + n + 1];
    // Edges along x, then faces along y, then the value along z; each stage's difference is a derivative.
    const dx00 = v100 - v000, dx10 = v110 - v010, dx01 = v101 - v001, dx11 = v111 - v011;
    const c00 = v000 + fx * dx00;
    const c10 = v010 + fx * dx10;
    const c01 = v001 + fx * dx01;
    const c11 = v011 + fx * dx11;
    const c0 = c00 + fy * (c10 - c00);
    const c1 = c01 + fy * (c11 - c01);
    const dx0 = dx00 + fy * (dx10 - dx00);
    const dx1 = dx01 + fy * (dx11 - dx01);
    grad[0] = dx0 + fz * (dx1 - dx0);
    grad[1] = (1 - fz) * (c10 - c00) + fz * (c11 - c01);
    grad[2] = c1 - c0;
    return c0 + fz * (c1 - c0);
  }
  sampleBorder(data, n, x, y, z, borderScratch, outside);
  grad[0] = borderScratch[1];
  grad[1] = borderScratch[2];
  grad[2] = borderScratch[3];
  return borderScratch[0];
}

/**
 * Both samplers at cells that touch or cross the box border (corners outside read `outside`): the value and
 * the gradient into out[0] and out[1 … 3]. Kernels that write out the interior case call it for the rest:
 * through a typed array, the value stays an unboxed double (a returned one is boxed at every call).
 */
export function sampleBorder(data: Float32Array, n: number, x: number, y: number, z: number, out: Float64Array, outside = 0): void {
  const x0 = Math.floor(x), y0 = Math.floor(y), z0 = Math.floor(z);
  const nm1 = n - 1;
  if (x0 < -1 || x0 > nm1 || y0 < -1 || y0 > nm1 || z0 < -1 || z0 > nm1 || x !== x || y !== y || z !== z) {
    out[0] = outside;
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
    return;
  }
  const fx = x - x0, fy = y - y0, fz = z - z0;
  const v000 = voxelOr(data, n, x0, y0, z0, outside);
  const v100 = voxelOr(data, n, x0 + 1, y0, z0, outside);
  const v010 = voxelOr(data, n, x0, y0 + 1, z0, outside);
  const v110 = voxelOr(data, n, x0 + 1, y0 + 1, z0, outside);
  const v001 = voxelOr(data, n, x0, y0, z0 + 1, outside);
  const v101 = voxelOr(data, n, x0 + 1, y0, z0 + 1, outside);
  const v011 = voxelOr(data, n, x0, y0 + 1, z0 + 1, outside);
  const v111 = voxelOr(data, n, x0 + 1, y0 + 1, z0 + 1, outside);
  const dx00 = v100 - v000, dx10 = v110 - v010, dx01 = v101 - v001, dx11 = v111 - v011;
  const c00 = v000 + fx * dx00;
  const c10 = v010 + fx * dx10;
  const c01 = v001 + fx * dx01;
  const c11 = v011 + fx * dx11;
  const c0 = c00 + fy * (c10 - c00);
  const c1 = c01 + fy * (c11 - c01);
  const dx0 = dx00 + fy * (dx10 - dx00);
  const dx1 = dx01 + fy * (dx11 - dx01);
  out[0] = c0 + fz * (c1 - c0);
  out[1] = dx0 + fz * (dx1 - dx0);
  out[2] = (1 - fz) * (c10 - c00) + fz * (c11 - c01);
  out[3] = c1 - c0;
}

/**
 * The x indices [range[0], range[1]) of a row of sample points p(x) = b + x·r, x = 0 … m−1, that come within
 * a voxel of an n³ grid on every axis (−1 ≤ p_a < n); trilinear samples outside that range read only the
 * background. The range is widened by one index at each end, so rounding in p(x) never drops a sample that
 * touches the grid.
 */
export function rowRange(b: ArrayLike<number>, r: ArrayLike<number>, n: number, m: number, range: Int32Array): void {
  let lo = 0;
  let hi = m;
  for (let a = 0; a < 3; a++) {
    const ba = b[a], ra = r[a];
    if (ra === 0) {
      if (!(ba >= -1 && ba < n)) hi = 0;
      continue;
    }
    // −1 ≤ ba + x·ra < n
    const e1 = (-1 - ba) / ra, e2 = (n - ba) / ra;
    const from = Math.min(e1, e2), to = Math.max(e1, e2);
    lo = Math.max(lo, Math.ceil(from) - 1);
    hi = Math.min(hi, Math.floor(to) + 2);
  }
  // clamped to [0, m] before the Int32Array stores them: a row nearly parallel to an axis (ra ~ 1e-17) gives
  // bounds beyond ±2³¹, which the store would wrap into a negative start and a loop over 10⁹ voxels
  range[0] = Math.min(m, Math.max(0, lo));
  range[1] = Math.max(range[0], Math.min(m, hi));
}

/** Λ_β V for pose β (see module doc). `out` (same n, not V itself) is reused when given. */
export function transformVolume(v: Volume, pose: Pose, out?: Volume, outside = 0): Volume {
  return transformVolumeByMatrix(v, eulerToMatrix(pose), [pose.tx, pose.ty, pose.tz], out, outside);
}

/**
 * (Λ V)(x) = V(R⁻¹(x − c − t) + c) with trilinear interpolation; samples outside the box read `outside`.
 * Source coordinates are affine in the output x index, so each row is base + x·step with no per-voxel
 * matrix product and no accumulated drift.
 *
 * `out` may be a coarser grid of m voxels with n = s·m (s an integer, both even, e.g. a Fourier-cropped
 * box sampling a finer copy of the same volume): output voxel x, the shift t and the centre c = m/2 are
 * then in output voxels, and V is read at s·(R⁻¹(x − c − t) + c).
 */
export function transformVolumeByMatrix(
  v: Volume,
  R: Mat3,
  t: ArrayLike<number>,
  out?: Volume,
  outside = 0,
): Volume {
  const n = v.n;
  const m = out ? out.n : n;
  const s = n / m;
  if (m !== n && (!Number.isInteger(s) || m % 2 !== 0 || n % 2 !== 0)) {
    throw new RangeError(`output volume is ${m}³ but the input is ${n}³ (a coarser output must divide an even input evenly)`);
  }
  if (out && out.data === v.data) throw new RangeError('transformVolume cannot write into its own input volume');
  const result = out ?? new Volume(n, v.voxelSize);
  const src = v.data;
  const dst = result.data;
  const c = centreOf(n);
  const co = centreOf(m);
  const nm1 = n - 1;
  const nn = n * n;
  // s·(c_o + Rᵀ·(x − c_o − t)) = c + (s·Rᵀ)·(x − c_o − t): column j of Rᵀ is row j of R.
  const r0 = s * R[0], r1 = s * R[1], r2 = s * R[2], r3 = s * R[3], r4 = s * R[4], r5 = s * R[5];
  const r6 = s * R[6], r7 = s * R[7], r8 = s * R[8];
  const dx0 = -co - t[0];
  const base = new Float64Array(3);
  const slope = Float64Array.of(r0, r1, r2);
  const range = new Int32Array(2);
  const border = new Float64Array(4);
  let o = 0;
  for (let z = 0; z < m; z++) {
    const dz = z - co - t[2];
    for (let y = 0; y < m; y++) {
      const dy = y - co - t[1];
      const bx = c + r0 * dx0 + r3 * dy + r6 * dz;
      const by = c + r1 * dx0 + r4 * dy + r7 * dz;
      const bz = c + r2 * dx0 + r5 * dy + r8 * dz;
      base[0] = bx;
      base[1] = by;
      base[2] = bz;
      // rows cross the rotated box's corners: only the part near the grid is sampled
      rowRange(base, slope, n, m, range);
      const first = range[0], last = range[1];
      dst.fill(outside, o, o + first);
      dst.fill(outside, o + last, o + m);
      o += first;
      for (let x = first; x < last; x++, o++) {
        const sx = bx + x * r0;
        const sy = by + x * r1;
        const sz = bz + x * r2;
        const x0 = Math.floor(sx), y0 = Math.floor(sy), z0 = Math.floor(sz);
        if (x0 >= 0 && x0 < nm1 && y0 >= 0 && y0 < nm1 && z0 >= 0 && z0 < nm1) {
          const fx = sx - x0, fy = sy - y0, fz = sz - z0;
          const i = x0 + n * (y0 + n * z0);
          const c00 = src[i] + fx * (src[i + 1] - src[i]);
          const c10 = src[i + n] + fx * (src[i + n + 1] - src[i + n]);
          const c01 = src[i + nn] + fx * (src[i + nn + 1] - src[i + nn]);
          const c11 = src[i + nn + n] + fx * (src[i + nn + n + 1] - src[i + nn + n]);
          const c0 = c00 + fy * (c10 - c00);
          const c1 = c01 + fy * (c11 - c01);
          dst[o] = c0 + fz * (c1 - c0);
        } else {
          sampleBorder(src, n, sx, sy, sz, border, outside);
          dst[o] = border[0];
        }
      }
      o += m - last;
    }
  }
  return result;
}
