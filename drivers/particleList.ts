/**
 * A user's particle list made ready for alignment and averaging — what `subtomo align`, `subtomo average`
 * and a campaign's load step share: the particles of one class when asked, each with its subtomogram, its
 * missing wedge (the list's or its tomogram's tilt range, else the one the user gives: a wedge cannot be
 * guessed), its CTF when the list carries one, no particle listed twice, and the voxel size of the subtomograms.
 *
 * CTF: a list whose tomogram set has per-tilt defocus gives each particle its `ctf` (io/particleCtf.ts), and
 * a particle with rlnCtfImage keeps that CTF volume (`ctfImage`, read by io/ctfImage.ts with the list's
 * `ctfPremultiplied`). When the list carries per-tilt CTFs, a particle with neither is an error, and so is a
 * tilt range of the list that disagrees with the tilt images of the particle's CTF.
 */
import { resolve } from 'node:path';
import { degrees } from '../core/rotate.ts';
import type { TiltRange } from '../core/wedge.ts';
import { readMrcHeader } from '../io/mrc.ts';
import { ParticleCtfs, hasTiltCtf } from '../io/particleCtf.ts';
import { type ReadListOptions, readParticleList } from '../io/particles.ts';
import type { CtfImageRef } from '../model/jobs.ts';
import type { Particle, ParticleCtf, ParticleList } from '../model/particles.ts';

export interface ListSelection extends ReadListOptions {
  /** Tilt range for particles whose list and tomogram give none (`--tilt-range`, `data.tiltRange`). */
  tiltRange?: TiltRange;
  /** Only the particles of this class (rlnClassNumber, Dynamo column 22). */
  classNumber?: number;
  /** How messages name the tilt-range setting (a flag or a config field). */
  tiltSetting?: string;
  /** false: leave the CTF metadata aside (`--no-ctf`): no particle gets a `ctf` or a `ctfImage`, and nothing is checked. */
  ctf?: boolean;
}

/** A particle ready for alignment: it has a subtomogram and a wedge, and its CTF when the list gives one. */
export type ReadyParticle = Particle & { image: string; tilt: TiltRange; ctf?: ParticleCtf };

/** Tilt ranges that differ by less than this (radians) are the same range written with other digits. */
const SAME_TILT = 1e-6;

export interface PreparedList {
  list: ParticleList;
  /** The selected particles, in list order. */
  particles: ReadyParticle[];
  /** Voxel size of the subtomograms, Å. */
  voxelSize: number;
}

/** The subset of `list` that `selection` asks for, checked (module doc); the list is kept for writing back. */
export async function prepareParticles(list: ParticleList, selection: ListSelection = {}): Promise<PreparedList> {
  const source = list.origin.path;
  const chosen = selection.classNumber === undefined ? list.particles : list.particles.filter((p) => p.classNumber === selection.classNumber);
  if (chosen.length === 0) {
    throw new Error(
      selection.classNumber === undefined
        ? `${source} lists no particle`
        : `${source} has no particle of class ${selection.classNumber} (classes there: ${[...new Set(list.particles.map((p) => p.classNumber))].join(', ') || 'none'})`,
    );
  }
  const withCtf = selection.ctf !== false;
  const seen = new Map<string, Particle>();
  const particles = chosen.map((p): ReadyParticle => {
    if (!p.image) {
      throw new Error(`${source}: particle ${p.name} has no subtomogram volume (rlnImageName); cut the particles out of their tomograms first: subtomo extract`);
    }
    const tilt = p.tilt ?? selection.tiltRange;
    if (!tilt) {
      throw new Error(
        `${source}: particle ${p.name} has no tilt range, and neither has its tomogram (per-tilt angles in tomograms.star); ` +
          `give its missing wedge with ${selection.tiltSetting ?? '--tilt-range MIN,MAX (degrees, e.g. -60,60)'}`,
      );
    }
    const image = resolve(p.image);
    // One subtomogram in several rows is a symmetry-expanded list (subtomo expand, relion_particle_symmetry_expand):
    // fine as long as every copy is in the same, stated half-set; otherwise one particle would be in both halves.
    const first = seen.get(image);
    if (first !== undefined && (first.half === undefined || first.half !== p.half)) {
      throw new Error(
        `${source}: particles ${first.name} and ${p.name} name the same subtomogram ${image}` +
          `${first.half && p.half ? ` in different half-sets (${first.half}, ${p.half})` : ' without a half-set (rlnRandomSubset)'}; ` +
          'each particle must be listed once, or its copies kept in one half-set',
      );
    }
    seen.set(image, first ?? p);
    const ready: ReadyParticle = { ...p, image, tilt };
    if (!withCtf) delete ready.ctfImage;
    return ready;
  });
  let voxelSize = list.voxelSize ?? selection.pixelSize;
  if (voxelSize === undefined) {
    const header = await readMrcHeader(particles[0].image).catch((err: Error) => {
      throw new Error(`${source}: no pixel size in the list and the first subtomogram cannot be read: ${err.message}`);
    });
    if (!(header.voxelSize > 0)) throw new Error(`${source}: no pixel size in the list nor in the header of ${particles[0].image}; give --pixel-size`);
    voxelSize = header.voxelSize;
  }
  if (withCtf && hasTiltCtf(list)) attachCtfs(list, particles, voxelSize);
  return { list, particles, voxelSize };
}

/** Gives each particle its CTF from the list's tomogram set, checked against its wedge (module doc). */
function attachCtfs(list: ParticleList, particles: ReadyParticle[], voxelSize: number): void {
  const source = list.origin.path;
  const ctfs = new ParticleCtfs(list, voxelSize);
  for (const p of particles) {
    const ctf = ctfs.of(p);
    const { tilt } = p;
    if (ctf) {
      const [lo, hi] = [ctf.tilts[0].angle, ctf.tilts[ctf.tilts.length - 1].angle];
      if (Math.abs(tilt.min - lo) > SAME_TILT || Math.abs(tilt.max - hi) > SAME_TILT) {
        const range = (a: number, b: number) => `${degrees(a).toFixed(2)}° … ${degrees(b).toFixed(2)}°`;
        throw new Error(
          `${source}: particle ${p.name} has the tilt range ${range(tilt.min, tilt.max)} but the tilt images of its CTF span ` +
            `${range(lo, hi)} (tomogram ${p.tomogram}): the list and its tomogram set disagree about its missing wedge`,
        );
      }
      p.ctf = ctf;
    } else if (!p.ctfImage) {
      throw new Error(
        `${source}: particle ${p.name} has no CTF: its tomogram ${p.tomogram ?? '(none named)'} has no per-tilt defocus ` +
          '(rlnDefocusU in its tilt series STAR) and the particle no rlnCtfImage, while other tomograms of the set have one; ' +
          'give every particle a CTF, or none',
      );
    }
  }
}

/**
 * The CTF of a prepared particle as averaging and alignment jobs carry it (model/jobs.ts): its per-tilt CTF,
 * else its CTF volume with the list's premultiplication flag, else nothing (the binary wedge of its tilt range).
 */
export function jobCtfOf(prepared: PreparedList, p: ReadyParticle): { ctf?: ParticleCtf; ctfImage?: CtfImageRef } {
  if (p.ctf) return { ctf: p.ctf };
  if (p.ctfImage) return { ctfImage: { path: resolve(p.ctfImage), premultiplied: prepared.list.ctfPremultiplied ?? false } };
  return {};
}

/** Reads a particle list in any format (io/particles.ts) and prepares it. */
export async function readPreparedList(path: string, selection: ListSelection = {}): Promise<PreparedList> {
  return prepareParticles(await readParticleList(path, selection), selection);
}

/** `list` with the prepared particles replaced by `updated` (same order), keeping only the selected ones. */
export function withUpdatedParticles(prepared: PreparedList, updated: readonly Particle[]): ParticleList {
  return { ...prepared.list, particles: [...updated], voxelSize: prepared.voxelSize };
}
