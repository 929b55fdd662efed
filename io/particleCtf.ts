/**
 * Each particle's CTF from its list and tomogram set: the CTF of every tilt image of its tomogram at the
 * particle (model/particles.ts ParticleCtf), as RELION 5 computes it (core/defocus.ts cites the source): the
 * tilt image's defocus at the tomogram's centre (rlnDefocusU/V of the per-tilt STAR) moved by the depth of
 * the particle's centre along the beam, times rlnTomoHand and rlnTomoDefocusSlope; its astigmatism and
 * pre-exposure as the image has them; the optics of the tomogram set, else the particles' optics group.
 *
 * What it describes: the transfer of a subtomogram reconstructed from those tilt images by weighted
 * back-projection, in the tomogram's axes — what `subtomo extract` cuts and the simulator writes. RELION's
 * pseudo-subtomograms come with their own CTF volume (rlnCtfImage, io/ctfImage.ts), which describes them.
 *
 * Checks, as RELION's Tomogram::validateParticleOptics and TomogramSet::loadTomogram make them, with
 * messages that name the list, the particle and the file and line of the value: the tomogram's optics and
 * the particles' optics group agree (within 1e-3), every tilt image has defocus U, V and angle, the tomogram
 * says its handedness (rlnTomoHand, which RELION requires), no two images share a tilt angle, the particle
 * has a position, and the subtomograms' voxels are no finer than the tilt series' pixels.
 */
import { validateParticleCtf } from '../core/ctf.ts';
import { type CentralTiltCtf, tiltCtfsAt } from '../core/defocus.ts';
import { degrees } from '../core/rotate.ts';
import type { Optics, Particle, ParticleCtf, ParticleList, TiltImage, Tomogram } from '../model/particles.ts';
import { particleCentreAngstrom } from './positions.ts';

/** RELION's tolerance when it compares the optics of particles and tomograms. */
const OPTICS_TOLERANCE = 1e-3;

/** Whether any tomogram of the list has per-tilt defocus: the list then carries a CTF for its particles. */
export function hasTiltCtf(list: Pick<ParticleList, 'tomograms'>): boolean {
  return list.tomograms.some((t) => t.tilts?.some((image) => image.defocusU !== undefined));
}

/** A tomogram's tilt images as CTFs at its centre, ascending by angle, with its optics and geometry. */
interface TomogramCtf {
  optics: Optics;
  tilts: CentralTiltCtf[];
  handedness: number;
  slope: number;
}

/** The CTFs of the list's particles; one tomogram's tilt series is checked and sorted once. */
export class ParticleCtfs {
  private readonly byTomogram = new Map<string, TomogramCtf | Error>();
  private readonly tomograms: Map<string, Tomogram>;

  /** `voxelSize`: Å per voxel of the subtomograms, the unit of the poses' shifts. */
  constructor(
    private readonly list: ParticleList,
    private readonly voxelSize: number,
  ) {
    this.tomograms = new Map(list.tomograms.map((t) => [t.name, t]));
  }

  /**
   * The CTF of `particle`, or undefined when its tomogram has no per-tilt defocus. Throws a message naming the
   * list, the particle and what is missing or inconsistent.
   */
  of(particle: Particle): ParticleCtf | undefined {
    const tomogram = particle.tomogram === undefined ? undefined : this.tomograms.get(particle.tomogram);
    if (!tomogram?.tilts?.some((t) => t.defocusU !== undefined)) return undefined;
    const where = `${this.list.origin.path}: particle ${particle.name}`;
    let series = this.byTomogram.get(tomogram.name);
    if (series === undefined) {
      series = this.tomogramCtf(tomogram);
      this.byTomogram.set(tomogram.name, series);
    }
    if (series instanceof Error) throw new Error(`${where}: ${series.message}`);
    if (!particle.position) {
      throw new Error(`${where} has no position in tomogram ${tomogram.name} (rlnCenteredCoordinate{X,Y,Z}Angst), which its defocus needs`);
    }
    let centre;
    try {
      centre = particleCentreAngstrom({ ...particle, position: particle.position }, tomogram, this.voxelSize);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
    const ctf: ParticleCtf = { optics: series.optics, tilts: tiltCtfsAt(series.tilts, centre, series.handedness, series.slope) };
    try {
      validateParticleCtf(ctf);
    } catch (err) {
      throw new Error(`${where} (tomogram ${tomogram.name}): ${(err as Error).message}`);
    }
    return ctf;
  }

  /** The tomogram's tilt series as CTFs at its centre, or the problem that keeps it from being one. */
  private tomogramCtf(tomogram: Tomogram): TomogramCtf | Error {
    const name = `tomogram ${tomogram.name}`;
    const listOptics = this.list.optics;
    const optics = tomogram.optics ?? listOptics;
    if (!optics) {
      return new Error(
        `${name} has per-tilt defocus but no optics: neither the tomogram set nor the particles' optics group gives ` +
          'rlnVoltage, rlnSphericalAberration and rlnAmplitudeContrast',
      );
    }
    if (tomogram.optics && listOptics) {
      const labels: [keyof Optics, string][] = [
        ['voltageKv', 'rlnVoltage'],
        ['csMillimetre', 'rlnSphericalAberration'],
        ['amplitudeContrast', 'rlnAmplitudeContrast'],
      ];
      for (const [key, label] of labels) {
        if (Math.abs(tomogram.optics[key] - listOptics[key]) > OPTICS_TOLERANCE) {
          return new Error(
            `${name} has _${label} ${tomogram.optics[key]} in the tomogram set but ${listOptics[key]} in the particles' optics group`,
          );
        }
      }
    }
    if (tomogram.handedness === undefined) {
      return new Error(
        `${name} has per-tilt defocus but the tomogram set gives no _rlnTomoHand (the sign of the defocus change with depth; ` +
          'RELION requires it)',
      );
    }
    const pixel = tomogram.tiltSeriesPixelSize;
    if (pixel !== undefined && this.voxelSize < pixel * (1 - OPTICS_TOLERANCE)) {
      return new Error(
        `the subtomograms have ${this.voxelSize} Å voxels, finer than the ${pixel} Å pixels of ${name}'s tilt series ` +
          '(rlnTomoTiltSeriesPixelSize): the CTF metadata do not belong to these subtomograms',
      );
    }
    const images = [...tomogram.tilts!].sort((a, b) => a.angle - b.angle);
    const tilts: CentralTiltCtf[] = [];
    for (const [i, image] of images.entries()) {
      const at = image.source ?? `${name}, tilt at ${degrees(image.angle).toFixed(2)}°`;
      const missing = (['defocusU', 'defocusV', 'astigmatismAngle'] as const).filter((k) => image[k] === undefined);
      if (missing.length > 0) {
        const labels = { defocusU: '_rlnDefocusU', defocusV: '_rlnDefocusV', astigmatismAngle: '_rlnDefocusAngle' };
        return new Error(`${at}: ${name}'s tilt image has no ${missing.map((k) => labels[k]).join(', ')}, which its CTF needs`);
      }
      if (i > 0 && image.angle === images[i - 1].angle) {
        const other = images[i - 1].source ?? 'before it';
        return new Error(
          `${at}: ${name} has two tilt images at ${degrees(image.angle).toFixed(2)}° (the other: ${other}); ` +
            'one CTF per tilt angle is needed',
        );
      }
      tilts.push(centralTilt(image));
    }
    return { optics, tilts, handedness: tomogram.handedness, slope: tomogram.defocusSlope ?? 1 };
  }
}

function centralTilt(image: TiltImage): CentralTiltCtf {
  const tilt: CentralTiltCtf = {
    angle: image.angle,
    defocusU: image.defocusU!,
    defocusV: image.defocusV!,
    astigmatismAngle: image.astigmatismAngle!,
    xTilt: image.xTilt ?? 0,
  };
  if (image.preExposure !== undefined) tilt.preExposure = image.preExposure;
  return tilt;
}
