/**
 * The particle-set file that campaign steps pass to each other by reference: every particle MRC with its
 * content hash (so a later step notices a changed file), its tilt range and its gold-standard half-set.
 */
import { writeFile } from 'node:fs/promises';
import type { Half } from '../core/halfmaps.ts';
import type { Pose } from '../core/rotate.ts';
import type { TiltRange } from '../core/wedge.ts';
import type { ArtifactRef } from '../io/artifacts.ts';
import type { CtfImageRef } from '../model/jobs.ts';
import type { ParticleCtf } from '../model/particles.ts';
import { invalidInput, readJsonArtifact } from './common.ts';

export const HALVES: readonly Half[] = ['odd', 'even'];

export interface ParticleRecord {
  /** rlnImageName of the particle's STAR row. */
  name: string;
  /** Absolute path of the MRC. */
  path: string;
  sha256: string;
  bytes: number;
  tilt: TiltRange;
  /** rlnRandomSubset of the list, else alternating rows. */
  half: Half;
  /** The list's pose of the particle, when it has one (the start of `initialPoses: star`). */
  pose?: Pose;
  /** Its true class, when the list knows it (simulated mixtures; drivers/classify.ts TRUE_CLASS_COLUMN). */
  trueClass?: string;
  /** Its CTF, when the list carries one and the campaign uses it (config `ctf`): per tilt, or a CTF volume. */
  ctf?: ParticleCtf;
  ctfImage?: CtfImageRef;
}

export const PARTICLE_SET_FORMAT = 'subtomo-particle-set/2';

export interface ParticleSet {
  format: typeof PARTICLE_SET_FORMAT;
  /** The STAR file the particles were read from. */
  source: string;
  boxSize: number;
  voxelSize: number;
  particles: ParticleRecord[];
}

export interface Particle extends ParticleRecord {
  ref: ArtifactRef;
}

export async function writeParticleSet(path: string, set: ParticleSet): Promise<void> {
  await writeFile(path, `${JSON.stringify(set, null, 1)}\n`);
}

/** Reads a particle set written by an earlier step; each particle's ref carries its recorded hash. */
export async function readParticleSet(ref: ArtifactRef): Promise<{ set: ParticleSet; particles: Particle[] }> {
  const set = await readJsonArtifact<ParticleSet>(ref, 'particle set');
  if (set.format !== PARTICLE_SET_FORMAT) throw invalidInput(`${ref.path} is not a particle set (format ${String(set.format)})`);
  const particles = set.particles.map((p) => ({ ...p, ref: { path: p.path, sha256: p.sha256, bytes: p.bytes } }));
  return { set, particles };
}

/** A per-particle pose as stored in pose/alignment JSON files; ParticleAlignment has this shape. */
export interface PoseEntry {
  name: string;
  pose: Pose;
  /** An alignment none of whose candidates refined: the pose is a placeholder (model/jobs.ts ParticleAlignment). */
  failed?: boolean;
}

/** Every particle's pose by name; a particle without one is an error naming it. */
export function posesByName(entries: readonly PoseEntry[], particles: readonly Particle[], source: string): Map<string, Pose> {
  const byName = new Map(entries.map((e) => [e.name, e.pose]));
  for (const p of particles) {
    if (!byName.has(p.name)) throw invalidInput(`${source} has no pose for particle ${p.name}`);
  }
  return byName;
}
