/**
 * Particle lists as STAR files: what `subtomo simulate` writes and `subtomo align` / `subtomo average` read
 * and write. Poses use the one RELION conversion of io/star.ts (poseToRelion / poseFromRelion); the tilt
 * range of each particle's missing wedge travels in subtomo's own columns, which RELION ignores.
 *
 * Half-sets: RELION's rlnRandomSubset (1 = odd, 2 = even) when present, else alternating by row.
 */
import { dirname, relative, resolve } from 'node:path';
import { type Half, alternatingHalf } from '../core/halfmaps.ts';
import { type Pose, degrees } from '../core/rotate.ts';
import { type TiltRange, tiltRangeDegrees } from '../core/wedge.ts';
import { readMrcHeader } from './mrc.ts';
import { RELION_POSE_COLUMNS, type StarTable, poseFromRelion, poseToRelion, readStar, starNumber } from './star.ts';

export const TILT_MIN_COLUMN = 'subtomoTiltMinDeg';
export const TILT_MAX_COLUMN = 'subtomoTiltMaxDeg';
export const ALIGNMENT_COLUMNS = ['subtomoCcc', 'subtomoDissimilarity', 'subtomoIterations', 'subtomoFrmCandidate'] as const;

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

/** The particle table: data_particles (RELION ≥ 3.1), or the only block of an older file. */
function particleTable(tables: readonly StarTable[], source: string): StarTable {
  const named = tables.find((t) => t.name === 'particles');
  if (named) return named;
  if (tables.length === 1) return tables[0];
  throw new Error(`${source}: no data_particles block (found: ${tables.map((t) => `data_${t.name}`).join(', ')})`);
}

function pixelSizeFromStar(tables: readonly StarTable[], particles: StarTable, source: string): number | null {
  if (particles.columns.includes('rlnImagePixelSize') && particles.rows.length > 0) {
    return starNumber(particles, 0, 'rlnImagePixelSize', source);
  }
  const optics = tables.find((t) => t.name === 'optics');
  if (!optics || !optics.columns.includes('rlnImagePixelSize') || optics.rows.length === 0) return null;
  const sizes = new Set(optics.rows.map((_, r) => starNumber(optics, r, 'rlnImagePixelSize', source)));
  if (sizes.size > 1) {
    throw new Error(`${source}: optics groups have different pixel sizes (${[...sizes].join(', ')} Å); subtomo needs one voxel size`);
  }
  return [...sizes][0];
}

/**
 * Reads a particle STAR file. Tilt columns are required (a wedge cannot be guessed); pose columns are
 * optional but must be complete. Errors name the file, the column and the row.
 */
export async function readParticleStar(path: string): Promise<ParticleStar> {
  const source = resolve(path);
  const tables = await readStar(source);
  const table = particleTable(tables, source);
  if (table.rows.length === 0) throw new Error(`${source}: the particle table is empty`);
  const missing = ['rlnImageName', TILT_MIN_COLUMN, TILT_MAX_COLUMN].filter((c) => !table.columns.includes(c));
  if (missing.length > 0) {
    throw new Error(
      `${source}: data_${table.name} lacks column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `_${c}`).join(', ')} ` +
        '(subtomo needs each particle\'s MRC and the tilt range of its missing wedge, in degrees, as `subtomo simulate` writes them)',
    );
  }
  const poseColumns = RELION_POSE_COLUMNS.filter((c) => table.columns.includes(c));
  if (poseColumns.length > 0 && poseColumns.length < RELION_POSE_COLUMNS.length) {
    const absent = RELION_POSE_COLUMNS.filter((c) => !table.columns.includes(c));
    throw new Error(`${source}: incomplete pose columns, ${absent.map((c) => `_${c}`).join(', ')} missing`);
  }
  const hasPoses = poseColumns.length > 0;
  const nameColumn = table.columns.indexOf('rlnImageName');
  const subsetColumn = table.columns.indexOf('rlnRandomSubset');
  const base = dirname(source);
  const imageNames = table.rows.map((row) => String(row[nameColumn]));
  const voxelSize = pixelSizeFromStar(tables, table, source) ?? (await headerVoxelSize(resolve(base, imageNames[0]), source));

  const particles = table.rows.map((row, r): StarParticle => {
    const tiltMinDeg = starNumber(table, r, TILT_MIN_COLUMN, source);
    const tiltMaxDeg = starNumber(table, r, TILT_MAX_COLUMN, source);
    if (!(tiltMinDeg >= -90 && tiltMaxDeg <= 90 && tiltMinDeg <= tiltMaxDeg)) {
      throw new Error(`${source}: row ${r + 1} has tilt range [${tiltMinDeg}°, ${tiltMaxDeg}°]; expected −90° ≤ min ≤ max ≤ 90°`);
    }
    let half = alternatingHalf(r);
    if (subsetColumn >= 0) {
      const subset = starNumber(table, r, 'rlnRandomSubset', source);
      if (subset !== 1 && subset !== 2) throw new Error(`${source}: row ${r + 1} has _rlnRandomSubset ${subset}; expected 1 or 2`);
      half = subset === 1 ? 'odd' : 'even';
    }
    return {
      imageName: imageNames[r],
      path: resolve(base, imageNames[r]),
      tilt: tiltRangeDegrees(tiltMinDeg, tiltMaxDeg),
      pose: hasPoses ? poseFromRelion(table, r, voxelSize, source) : null,
      half,
    };
  });
  return { source, particles, voxelSize };
}

async function headerVoxelSize(path: string, source: string): Promise<number> {
  const header = await readMrcHeader(path).catch((err: Error) => {
    throw new Error(`${source}: no pixel size in the STAR file and the first particle cannot be read: ${err.message}`);
  });
  if (!(header.voxelSize > 0)) {
    throw new Error(`${source}: no pixel size in the STAR file (rlnImagePixelSize) nor in the header of ${path}`);
  }
  return header.voxelSize;
}

/**
 * The tilt columns' values (degrees) of a tilt range: rounded to 1e-9° so that a range read from a file is
 * written back as the same decimal, not as the last bit of its radians round trip (60 → 59.99999999999999).
 */
export function tiltColumns(tilt: TiltRange): [number, number] {
  const deg = (a: number) => Math.round(degrees(a) * 1e9) / 1e9;
  return [deg(tilt.min), deg(tilt.max)];
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
