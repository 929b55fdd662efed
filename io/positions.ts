/**
 * Where a particle sits in its tomogram, per format, the conversions between the frames, and its pose in
 * the tomogram's axes. Every
 * conversion goes through one frame: the 0-based voxel position in the reconstructed tomogram (voxel i's
 * centre is at i, so the first voxel's centre is 0), in the tomogram's own pixels (`Tomogram.pixelSize`).
 *
 * - RELION 5, rlnCenteredCoordinate{X,Y,Z}Angst: Å from the tomogram's centre. RELION turns them into
 *   tilt-series pixels p = c / rlnTomoTiltSeriesPixelSize + rlnTomoSize / 2 (src/jaz/tomography/
 *   particle_set.cpp, getParticleCoordDecenteredPixel, with tomogram.centre = size / 2 from tomogram_set.cpp
 *   loadTomogram) and reconstructs voxel i of a tomogram binned by b at tilt-series pixel i·b
 *   (programs/reconstruct_tomogram.cpp → projection/real_backprojection.h: origin + i·spacing, origin 0
 *   "from relion-4.1 onwards"). So voxel = c / (pixel size · b) + size / (2b) = c / Tomogram.pixelSize +
 *   Tomogram.centre.
 * - RELION 4, rlnCoordinate{X,Y,Z}: tilt-series pixels of the same frame, origin 0: RELION 5 reads them as
 *   such ("backwards compatibility with relion-4" in getParticleCoordDecenteredPixel); RELION 4.0 added 1
 *   to them (ver4.0 particle_set.cpp getPosition) and reconstructed with origin 1 (ver4.0
 *   reconstruct_tomogram.cpp, --x0 default 1.0), which is the same voxel.
 * - Warp/M, rlnCoordinate{X,Y,Z}: "pixel coordinates in a tomogram, starting from zero at the center of the
 *   first voxel" (WarpTools' Tomogram Particle File Reference): origin 0, in pixels of the tomogram the
 *   particles were picked in, which the file does not state.
 * - Dynamo, table columns 24–26: pixel indices counted from 1 (Dynamo wiki, "Volume center": "Dynamo uses
 *   the convention of counting pixels with the index 1"; a template is placed with its central pixel at the
 *   given pixel, and dtcrop cuts particles around the table position the same way): origin 1, in the
 *   tomogram's pixels.
 *
 * A pixel position without a pixel size is taken to be in the tomogram's own pixels (no scaling), which is
 * what Warp and Dynamo users pick in.
 */
import { type Pose, composePoses, eulerToMatrix, poseFromMatrix, rotationAngle } from '../core/rotate.ts';
import type { Particle, Tomogram, TomogramPosition } from '../model/particles.ts';

export type Vec3 = [number, number, number];

/** What placing a particle needs to know about its tomogram. */
export type TomogramGeometry = Pick<Tomogram, 'size' | 'pixelSize' | 'centre'> & { name?: string };

/** A pixel frame of a file: its pixel size (when known) and the coordinate of the first voxel's centre. */
export interface PixelFrame {
  pixelSize?: number;
  origin: 0 | 1;
}

function label(tomogram: TomogramGeometry): string {
  return tomogram.name === undefined ? 'the tomogram' : `tomogram ${tomogram.name}`;
}

function centreOfTomogram(tomogram: TomogramGeometry): Vec3 {
  if (tomogram.centre) return tomogram.centre;
  if (tomogram.size) return [tomogram.size[0] / 2, tomogram.size[1] / 2, tomogram.size[2] / 2];
  throw new Error(`${label(tomogram)} has no size (rlnTomoSize{X,Y,Z}), which centred coordinates are measured from`);
}

function pixelSizeOf(tomogram: TomogramGeometry): number {
  if (tomogram.pixelSize && tomogram.pixelSize > 0) return tomogram.pixelSize;
  throw new Error(`${label(tomogram)} has no pixel size (rlnTomoTiltSeriesPixelSize, .vll apix), which centred coordinates need`);
}

/** 0-based voxel position [x, y, z] of the particle's centre in the reconstructed tomogram (module doc). */
export function positionInPixels(position: TomogramPosition, tomogram: TomogramGeometry): Vec3 {
  if (position.frame === 'centered-angstrom') {
    const p = pixelSizeOf(tomogram);
    const c = centreOfTomogram(tomogram);
    return [position.x / p + c[0], position.y / p + c[1], position.z / p + c[2]];
  }
  const scale = position.pixelSize && tomogram.pixelSize ? position.pixelSize / tomogram.pixelSize : 1;
  const o = position.origin;
  return [(position.x - o) * scale, (position.y - o) * scale, (position.z - o) * scale];
}

/** The position as RELION 5's centred Ångström. */
export function centredAngstrom(position: TomogramPosition, tomogram: TomogramGeometry): Vec3 {
  if (position.frame === 'centered-angstrom') return [position.x, position.y, position.z];
  const p = pixelSizeOf(tomogram);
  const c = centreOfTomogram(tomogram);
  const v = positionInPixels(position, tomogram);
  return [(v[0] - c[0]) * p, (v[1] - c[1]) * p, (v[2] - c[2]) * p];
}

/**
 * The position in a file's pixel frame. Pixel positions convert without the tomogram (only the pixel sizes
 * and origins); centred ones need its size and pixel size. An unknown pixel size on either side means the
 * same pixels.
 */
export function positionInFrame(position: TomogramPosition, tomogram: TomogramGeometry, frame: PixelFrame): Vec3 {
  if (position.frame === 'pixels') {
    const scale = position.pixelSize && frame.pixelSize ? position.pixelSize / frame.pixelSize : 1;
    const o = position.origin;
    return [(position.x - o) * scale + frame.origin, (position.y - o) * scale + frame.origin, (position.z - o) * scale + frame.origin];
  }
  const v = positionInPixels(position, tomogram);
  const scale = frame.pixelSize ? pixelSizeOf(tomogram) / frame.pixelSize : 1;
  return [v[0] * scale + frame.origin, v[1] * scale + frame.origin, v[2] * scale + frame.origin];
}

/**
 * The particle's pose in the tomogram's axes: its box is turned by `subtomogramRotation` S (RELION's
 * A_subtomogram), so R_tomogram = S·R and T_tomogram = S·T (ParticleSet::getMatrix3x3 and getPosition in
 * RELION 5's src/jaz/tomography/particle_set.cpp).
 */
export function poseInTomogram(particle: Pick<Particle, 'pose' | 'subtomogramRotation'>): Pose | undefined {
  if (!particle.pose || !particle.subtomogramRotation) return particle.pose;
  return composePoses(poseFromMatrix(particle.subtomogramRotation, [0, 0, 0]), particle.pose);
}

/**
 * Where the particle's centre lies, in Å from its tomogram's centre along the tomogram's axes: its position
 * moved by its pose's shift (in the box's voxels of `voxelSize` Å, turned into the tomogram's axes by S), as
 * RELION 5's ParticleSet::getPosition moves the coordinate by −A_subtomogram·origin (particle_set.cpp): the
 * point whose depth sets the particle's defocus (core/defocus.ts).
 */
export function particleCentreAngstrom(
  particle: Pick<Particle, 'position' | 'pose' | 'subtomogramRotation'> & { position: TomogramPosition },
  tomogram: TomogramGeometry,
  voxelSize: number,
): Vec3 {
  const c = centredAngstrom(particle.position, tomogram);
  const pose = poseInTomogram(particle);
  return pose ? [c[0] + pose.tx * voxelSize, c[1] + pose.ty * voxelSize, c[2] + pose.tz * voxelSize] : c;
}

// Poses equal within these are written back as the cells they were read from (no re-derived digits).
export const SAME_ANGLE = 1e-12;
const SAME_SHIFT = 1e-9;

export function samePose(a: Pose, b: Pose): boolean {
  return (
    rotationAngle(eulerToMatrix(a), eulerToMatrix(b)) < SAME_ANGLE &&
    Math.abs(a.tx - b.tx) < SAME_SHIFT &&
    Math.abs(a.ty - b.ty) < SAME_SHIFT &&
    Math.abs(a.tz - b.tz) < SAME_SHIFT
  );
}
