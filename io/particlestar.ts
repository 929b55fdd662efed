/**
 * subtomo's own particle STAR files, as `subtomo simulate` writes them and `subtomo align` / `subtomo average`
 * read and write them. Reading goes through io/particles.ts (readParticleList) and adds what these commands
 * still require: an image and a tilt range for every particle. Half-sets: rlnRandomSubset when present, else
 * alternating by row. (Kept until the commands take a ParticleList.)
 */
import { dirname, relative, resolve } from 'node:path';
import { type Half, alternatingHalf } from '../core/halfmaps.ts';
import type { Pose } from '../core/rotate.ts';
import type { TiltRange } from '../core/wedge.ts';
import { readParticleList } from './particles.ts';
import { ALIGNMENT_COLUMNS, TILT_MAX_COLUMN, TILT_MIN_COLUMN, particleBlock, tiltColumns } from './relion.ts';
import { RELION_POSE_COLUMNS, type StarTable, poseToRelion } from './star.ts';
import { readStarDocument } from './starcells.ts';

export { ALIGNMENT_COLUMNS, TILT_MAX_COLUMN, TILT_MIN_COLUMN, tiltColumns };

export interface StarParticle {
  /** rlnImageName as written in the STAR file. */
  imageName: string;
  /** Absolute path of the subtomogram (rlnImageName is relative to the STAR file's directory). */
  path: string;
  tilt: TiltRange;
  /** Pose from the RELION columns (radians, voxels), or null when the file has none. */
  pose: Pose | null;
  half: Half;
}

export interface ParticleStar {
  source: string;
  particles: StarParticle[];
  /** Voxel size (Å) used to convert rlnOrigin*Angst: the optics group's pixel size or the first MRC header's. */
  voxelSize: number;
}

/**
 * Reads a particle STAR file. Tilt columns are required (a wedge cannot be guessed); pose columns are
 * optional but must be complete. Errors name the file, the column and the row.
 */
export async function readParticleStar(path: string): Promise<ParticleStar> {
  const source = resolve(path);
  const table = particleBlock(await readStarDocument(source));
  const missing = ['rlnImageName', TILT_MIN_COLUMN, TILT_MAX_COLUMN].filter((c) => !table.columns.includes(c));
  if (missing.length > 0) {
    throw new Error(
      `${source}: data_${table.name} lacks column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `_${c}`).join(', ')} ` +
        "(subtomo needs each particle's MRC and the tilt range of its missing wedge, in degrees, as `subtomo simulate` writes them)",
    );
  }
  const list = await readParticleList(source);
  const nameColumn = table.columns.indexOf('rlnImageName');
  const particles = list.particles.map((p, r): StarParticle => ({
    imageName: String(table.rows[p.sourceRow!][nameColumn]),
    path: p.image!,
    tilt: p.tilt!,
    pose: p.pose ?? null,
    half: p.half ?? alternatingHalf(r),
  }));
  return { source, particles, voxelSize: list.voxelSize! };
}

/** One particle of an alignment result, for `alignedParticleStar`. */
export interface AlignedParticleRow {
  path: string;
  tilt: TiltRange;
  pose: Pose;
  ccc: number;
  dissimilarity: number;
  iterations: number;
  /** 0-based index of the winning FRM candidate. */
  candidateIndex: number;
}

/**
 * RELION-5-style tables (optics + particles) for aligned particles written to `starPath`: image names
 * relative to the STAR's directory, poses via poseToRelion, the tilt range, and the alignment scores
 * (CCC, dissimilarity d = 2 − 2·CCC, refinement iterations, 1-based FRM candidate that won).
 */
export function alignedParticleStar(starPath: string, rows: readonly AlignedParticleRow[], n: number, voxelSize: number): StarTable[] {
  const base = dirname(resolve(starPath));
  return [
    {
      name: 'optics',
      columns: ['rlnOpticsGroup', 'rlnOpticsGroupName', 'rlnImagePixelSize', 'rlnImageSize', 'rlnImageDimensionality'],
      rows: [[1, 'opticsGroup1', voxelSize, n, 3]],
    },
    {
      name: 'particles',
      columns: ['rlnImageName', 'rlnOpticsGroup', ...RELION_POSE_COLUMNS, TILT_MIN_COLUMN, TILT_MAX_COLUMN, ...ALIGNMENT_COLUMNS],
      rows: rows.map((p) => [
        relative(base, p.path),
        1,
        ...poseToRelion(p.pose, voxelSize),
        ...tiltColumns(p.tilt),
        p.ccc,
        p.dissimilarity,
        p.iterations,
        p.candidateIndex + 1,
      ]),
    },
  ];
}
