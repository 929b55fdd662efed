/**
 * The defocus of a tilt image at a point of the specimen: the one convention the simulator (core/simulate.ts)
 * and the RELION 5 reader (io/particleCtf.ts) share, so a simulated list read back gives the simulated CTFs.
 *
 * RELION 5, src/jaz/tomography/tomogram.cpp:
 * - Tomogram::setProjectionMatrix: a tilt image's projection is P = S(shift)·S(image centre)·Rz(rlnTomoZRot)·
 *   Ry(rlnTomoYTilt)·Rx(rlnTomoXTilt)·S(−specimen centre), in tilt-series pixels; gravis' rotation(axis, angle)
 *   (src/jaz/gravis/t3Matrix.h) is the right-handed active rotation, angles in degrees.
 * - Tomogram::getDepthOffset(frame, p): the z of P·p minus the z of P·centre (centre = rlnTomoSize / 2).
 * - Tomogram::getCtf(frame, p): the tilt image's CTF (its rlnDefocusU/V, the CTF at the tomogram's centre) with
 *   handedness · pixel size · defocusSlope · depth added to defocus U and V (rlnTomoHand, rlnTomoDefocusSlope,
 *   default 1; tomogram_set.cpp TomogramSet::loadTomogram).
 * The translations have no z component and Rz leaves z alone, so with d = p − centre in Å the depth is
 * [Ry(yTilt)·Rx(xTilt)·d]_z = −sin(yTilt)·dx + cos(yTilt)·(sin(xTilt)·dy + cos(xTilt)·dz), and
 * defocus(p) = defocus(centre) + handedness · slope · depth. The point p is the particle's centre:
 * ParticleSet::getPosition (particle_set.cpp) moves the picked coordinate by the particle's origin shift.
 *
 * The simulator projects at tilt α along the z of R_y(α)·V with the same R_y (core/simulate.ts module doc), so
 * its images are RELION's with yTilt = α and xTilt = zRot = 0.
 */
import type { TiltCtf } from '../model/particles.ts';

/** A tilt image's CTF at the tomogram's centre, with the tilt about x that moves depths (radians). */
export interface CentralTiltCtf extends TiltCtf {
  xTilt: number;
}

/** Depth (Å) along the beam of the point `d` (Å from the tomogram's centre, x, y, z) in a tilt image (module doc). */
export function depthAlongBeam(d: ArrayLike<number>, yTilt: number, xTilt = 0): number {
  return -Math.sin(yTilt) * d[0] + Math.cos(yTilt) * (Math.sin(xTilt) * d[1] + Math.cos(xTilt) * d[2]);
}

/**
 * Each tilt image's CTF at the point `d` (Å from the tomogram's centre): its central defocus U and V moved by
 * handedness · slope · depth; angle, astigmatism and pre-exposure unchanged.
 */
export function tiltCtfsAt(tilts: readonly CentralTiltCtf[], d: ArrayLike<number>, handedness: number, slope = 1): TiltCtf[] {
  return tilts.map((t) => {
    const shift = handedness * slope * depthAlongBeam(d, t.angle, t.xTilt);
    const out: TiltCtf = {
      angle: t.angle,
      defocusU: t.defocusU + shift,
      defocusV: t.defocusV + shift,
      astigmatismAngle: t.astigmatismAngle,
    };
    if (t.preExposure !== undefined) out.preExposure = t.preExposure;
    return out;
  });
}
