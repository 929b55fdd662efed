/**
 * ZYZ Euler angles in a chart centred on a candidate rotation, for local refinement (SAG, LM).
 *
 * The paper refines β = (φ, θ, ψ, τ1, τ2, τ3) by gradient steps on the Euler angles. Plain ZYZ angles are
 * singular at θ = 0 and π (φ and ψ then turn about the same axis), and near there a small rotation about
 * x or y needs a large change of φ and ψ: gradient descent crawls. A candidate from FRM can sit anywhere,
 * including next to θ = 0, so the refinement uses the chart
 *
 *   R(φ, θ, ψ) = Q · Rz(φ)·Ry(θ)·Rz(ψ),   Q = R_candidate · Ry(π/2)ᵀ,
 *
 * whose origin (φ, θ, ψ) = (0, π/2, 0) is the candidate. There the three angles turn about three
 * orthogonal axes (body x, y, z), so the chart is well conditioned for every rotation within ~60° of the
 * candidate, whatever the candidate is. The parameters are still ZYZ Euler angles with analytic
 * derivatives; poses are reported in the standard ZYZ convention of core/rotate.ts.
 */
import { type Mat3, eulerToMatrix, multiply, rotationY, transpose } from './rotate.ts';

const ORIGIN_THETA = Math.PI / 2;

export class EulerChart {
  /** Q: chart rotation (φ, θ, ψ) ↦ Q·R_zyz(φ, θ, ψ). */
  private readonly frame: Mat3;
  private readonly euler = new Float64Array(9);
  private readonly partial = new Float64Array(9);
  private readonly scratch = new Float64Array(9);
  private readonly angles = { phi: 0, theta: ORIGIN_THETA, psi: 0 };

  constructor(centre: ArrayLike<number>) {
    this.frame = multiply(Float64Array.from(centre), transpose(rotationY(ORIGIN_THETA)));
  }

  /**
   * Rotation at chart offsets d = (Δφ, Δθ, Δψ) radians from the origin (d = 0 is the centre). With `dR`,
   * also writes ∂R/∂φ, ∂R/∂θ, ∂R/∂ψ.
   */
  rotation(d0: number, d1: number, d2: number, out: Mat3, dR?: [Mat3, Mat3, Mat3]): Mat3 {
    const phi = d0;
    const angles = this.angles;
    angles.phi = phi;
    angles.theta = ORIGIN_THETA + d1;
    angles.psi = d2;
    const E = eulerToMatrix(angles, this.euler);
    multiply(this.frame, E, out);
    if (!dR) return out;
    // ∂/∂φ Rz(φ)·Ry·Rz = Kz·E and ∂/∂ψ = E·Kz with the z generator Kz (x, y, z) ↦ (−y, x, 0);
    // ∂/∂θ = Rz(φ)·Ky·Ry(θ)·Rz(ψ) with Ky (x, y, z) ↦ (z, 0, −x).
    const P = this.partial;
    // Kz·E: rows (−E[1,:], E[0,:], 0)
    P[0] = -E[3]; P[1] = -E[4]; P[2] = -E[5];
    P[3] = E[0]; P[4] = E[1]; P[5] = E[2];
    P[6] = 0; P[7] = 0; P[8] = 0;
    multiply(this.frame, P, dR[0]);
    // E·Kz: columns (E[:,1], −E[:,0], 0)
    P[0] = E[1]; P[1] = -E[0]; P[2] = 0;
    P[3] = E[4]; P[4] = -E[3]; P[5] = 0;
    P[6] = E[7]; P[7] = -E[6]; P[8] = 0;
    multiply(this.frame, P, dR[2]);
    // Rz(φ)·Ky·Ry(θ)·Rz(ψ) = Rz(φ)·Ky·Rz(φ)ᵀ·E: Ky rotated by Rz(φ) is the generator about (−sin φ, cos φ, 0).
    const s = Math.sin(phi), c = Math.cos(phi);
    const K = this.scratch;
    // generator of axis a: [a]× = [[0, −az, ay], [az, 0, −ax], [−ay, ax, 0]] with a = (−s, c, 0)
    K[0] = 0; K[1] = 0; K[2] = c;
    K[3] = 0; K[4] = 0; K[5] = s;
    K[6] = -c; K[7] = -s; K[8] = 0;
    multiply(K, E, P);
    multiply(this.frame, P, dR[1]);
    return out;
  }
}
