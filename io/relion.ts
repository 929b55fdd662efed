/**
 * RELION particle STAR files ↔ ParticleList: RELION 4/3.1 subtomogram lists (and subtomo's own, which are
 * RELION 4 lists with two extra columns), RELION 5 particles.star, and Warp/M's RELION-style export. Labels
 * and their meaning are RELION 5's (src/metadata_label.h, src/jaz/tomography/particle_set.cpp); the
 * tomogram set is read by io/relion-tomograms.ts.
 *
 * Blocks. RELION 4 / Warp: data_optics + data_particles (RELION 3.0: one unnamed block). RELION 5:
 * data_general (rlnTomoSubTomosAre2DStacks), data_optics (rlnTomoTiltSeriesPixelSize, required by
 * ParticleSet::read), data_particles; a freshly picked particles.star may have data_particles alone.
 *
 * Poses. rlnAngleRot/Tilt/Psi and rlnOrigin{X,Y,Z}Angst go through io/star.ts's one conversion
 * (poseFromRelion / poseToRelion; RELION 3.0's rlnOrigin{X,Y,Z} are in pixels). RELION 5 composes the
 * particle's orientation in the tomogram as A = A_subtomogram · A_particle, with A_subtomogram from
 * rlnTomoSubtomogram{Rot,Tilt,Psi} and A_particle from rlnAngle{Rot,Tilt,Psi} (ParticleSet::getMatrix3x3),
 * and its centre as coordinate − A_subtomogram·origin / pixel size (ParticleSet::getPosition): the origin
 * is in the subtomogram's frame. relion_tomo_subtomo cuts each box in that frame (programs/subtomo.cpp:
 * projPart = projCut · A_subtomogram). So `pose` stays RELION's particle part (relative to the box) and
 * `subtomogramRotation` is S = A_subtomogram (as a matrix it is our R, io/star.ts); poseInTomogram
 * (io/positions.ts) composes them.
 *
 * Paths. RELION writes file names relative to its project directory (the directory it runs in, which holds
 * default_pipeline.star), whatever directory the STAR file is in; subtomo writes them relative to the STAR
 * file. `relionProjectDirectory` picks between the two.
 *
 * Writing. Into the flavour a list was read from, every block, column and row is kept as read and only
 * poses, class, half-set and scores are replaced (columns for them are appended when the file had none).
 * Into another flavour, fresh blocks carry what maps: names, tomogram, coordinates, images, CTF volumes with
 * rlnCtfDataAreCtfPremultiplied (which says what they hold), poses, class, half-set, tilt range and scores;
 * whatever else the source had (optics groups, CTF values, priors, …) is dropped. The per-tilt CTF stays in
 * the tomogram set (tomograms.star), which subtomo reads and never rewrites.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Half } from '../core/halfmaps.ts';
import { type Mat3, type Pose, degrees, eulerToMatrix, poseFromMatrix, rotationAngle } from '../core/rotate.ts';
import { type TiltRange, tiltRangeDegrees, validateTilt } from '../core/wedge.ts';
import type { ListFormat, Optics, Particle, ParticleList, Tomogram } from '../model/particles.ts';
import { readMrcHeader } from './mrc.ts';
import { SAME_ANGLE, centredAngstrom, poseInTomogram, positionInFrame, samePose } from './positions.ts';
import { RELION_POSE_COLUMNS, type StarTable, type StarValue, poseFromRelion, poseToRelion } from './star.ts';
import {
  type StarDocument,
  cellFinite,
  cellText,
  findBlock,
  hasColumn,
  hasColumnGroup,
  starWhere,
} from './starcells.ts';

export type RelionFormat = Exclude<ListFormat, 'dynamo'>;

/** subtomo's own columns (RELION keeps unknown labels): the missing wedge's tilt range, in degrees. */
export const TILT_MIN_COLUMN = 'subtomoTiltMinDeg';
export const TILT_MAX_COLUMN = 'subtomoTiltMaxDeg';
/**
 * subtomo's alignment scores: CCC, d = 2 − 2·CCC, refinement iterations, 1-based winning FRM candidate
 * (0: none of the particle's candidates could be refined; it kept its input pose and CCC 0).
 */
export const ALIGNMENT_COLUMNS = ['subtomoCcc', 'subtomoDissimilarity', 'subtomoIterations', 'subtomoFrmCandidate'] as const;
/** 1 when the particle's box reached beyond its tomogram at extraction (that part holds the tomogram's mean). */
export const CLIPPED_COLUMN = 'subtomoClipped';

const ANGLES = ['rlnAngleRot', 'rlnAngleTilt', 'rlnAnglePsi'] as const;
const ORIGINS_ANGST = ['rlnOriginXAngst', 'rlnOriginYAngst', 'rlnOriginZAngst'] as const;
/** RELION 3.0: origins in pixels. */
const ORIGINS_PIXELS = ['rlnOriginX', 'rlnOriginY', 'rlnOriginZ'] as const;
const SUBTOMOGRAM_ANGLES = ['rlnTomoSubtomogramRot', 'rlnTomoSubtomogramTilt', 'rlnTomoSubtomogramPsi'] as const;
const COORDINATES = ['rlnCoordinateX', 'rlnCoordinateY', 'rlnCoordinateZ'] as const;
const CENTRED = ['rlnCenteredCoordinateXAngst', 'rlnCenteredCoordinateYAngst', 'rlnCenteredCoordinateZAngst'] as const;
const TILT_COLUMNS = [TILT_MIN_COLUMN, TILT_MAX_COLUMN] as const;
const OPTICS_LABELS = ['rlnVoltage', 'rlnSphericalAberration', 'rlnAmplitudeContrast'] as const;
/** 1: the subtomograms carry one factor of their CTF already, and rlnCtfImage holds CTF² (io/ctfImage.ts). */
const PREMULTIPLIED = 'rlnCtfDataAreCtfPremultiplied';

/**
 * The RELION project directory a STAR file's relative names refer to: the nearest directory at or above
 * the file that holds default_pipeline.star (RELION's pipeliner keeps it there), else the file's own.
 */
export function relionProjectDirectory(starPath: string): string {
  const own = dirname(resolve(starPath));
  for (let dir = own; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'default_pipeline.star'))) return dir;
    if (dirname(dir) === dir) return own;
  }
}

/** The particle table: data_particles (RELION ≥ 3.1), or the only block of an older file. */
export function particleBlock(doc: StarDocument): StarTable {
  const named = findBlock(doc, 'particles');
  if (named) return named;
  if (doc.tables.length === 1) return doc.tables[0];
  throw new Error(`${doc.path}: no data_particles block (found: ${doc.tables.map((t) => `data_${t.name}`).join(', ')})`);
}

/** A RELION 5 optimisation set (data_optimisation_set: rlnTomoParticlesFile, rlnTomoTomogramsFile). */
export function optimisationSetFiles(doc: StarDocument): { particles: string; tomograms?: string } | undefined {
  const set = doc.tables.find((t) => hasColumn(t, 'rlnTomoParticlesFile'));
  if (!set || set.rows.length === 0) return undefined;
  const base = relionProjectDirectory(doc.path);
  const tomograms = hasColumn(set, 'rlnTomoTomogramsFile') ? resolve(base, cellText(doc, set, 0, 'rlnTomoTomogramsFile')) : undefined;
  return { particles: resolve(base, cellText(doc, set, 0, 'rlnTomoParticlesFile')), tomograms };
}

/** Which RELION flavour a particle STAR is, from its blocks and columns (see module doc). */
export function relionFormatOf(doc: StarDocument): RelionFormat {
  const particles = particleBlock(doc);
  const general = findBlock(doc, 'general');
  const generalBlock = general !== undefined && hasColumn(general, 'rlnTomoSubTomosAre2DStacks');
  if (generalBlock || (hasColumn(particles, 'rlnTomoName') && hasColumn(particles, CENTRED[0]))) return 'relion5';
  if (hasColumn(particles, 'rlnTomoName')) return 'relion4';
  if (hasColumn(particles, 'rlnMicrographName')) return 'warp';
  if (hasColumn(particles, 'rlnImageName')) return 'relion4';
  throw new Error(
    `${doc.path}: data_${particles.name} is not a particle list subtomo reads: it has none of _rlnImageName (RELION 4, subtomo), ` +
      '_rlnTomoName with _rlnCenteredCoordinateXAngst (RELION 5), _rlnMicrographName (Warp/M)',
  );
}

export interface RelionReadOptions {
  /** Directory relative file names are resolved against (relionProjectDirectory). */
  base: string;
  /** The tomogram set (tomograms.star), when known: particles must then name one of its tomograms. */
  tomograms?: Tomogram[];
  /** Å per pixel of coordinates the file gives without one (Warp, RELION 3). */
  pixelSize?: number;
}

/** The optics group row of each particle (rlnOpticsGroup), or undefined without a data_optics block. */
function opticsRows(doc: StarDocument, particles: StarTable): (number | undefined)[] {
  const optics = findBlock(doc, 'optics');
  if (!optics || optics === particles) return particles.rows.map(() => undefined);
  if (optics.rows.length === 1 && !hasColumn(optics, 'rlnOpticsGroup')) return particles.rows.map(() => 0);
  const byGroup = new Map<number, number>();
  optics.rows.forEach((_, r) => byGroup.set(cellFinite(doc, optics, r, 'rlnOpticsGroup'), r));
  if (!hasColumn(particles, 'rlnOpticsGroup')) {
    if (optics.rows.length === 1) return particles.rows.map(() => 0);
    throw new Error(`${doc.path}: data_optics has ${optics.rows.length} groups but data_${particles.name} has no _rlnOpticsGroup`);
  }
  return particles.rows.map((_, r) => {
    const group = cellFinite(doc, particles, r, 'rlnOpticsGroup');
    const row = byGroup.get(group);
    if (row === undefined) throw new Error(`${starWhere(doc, particles, r, 'rlnOpticsGroup')} is ${group}, which data_optics does not define`);
    return row;
  });
}

/** The one value of an optics label over the groups the particles use (undefined if absent); groups must agree. */
function opticsValue(doc: StarDocument, particles: StarTable, groups: (number | undefined)[], label: string): number | undefined {
  const optics = findBlock(doc, 'optics');
  const inParticles = hasColumn(particles, label);
  const table = inParticles ? particles : optics;
  if (!table || !hasColumn(table, label)) return undefined;
  const rows = inParticles ? particles.rows.map((_, r) => r) : [...new Set(groups.filter((g): g is number => g !== undefined))];
  const values = new Set(rows.map((r) => cellFinite(doc, table, r, label)));
  if (values.size > 1) {
    throw new Error(`${doc.path}: the particles' optics groups have different _${label} (${[...values].join(', ')}); subtomo needs one value`);
  }
  return values.size === 1 ? [...values][0] : undefined;
}

function opticsOf(doc: StarDocument, particles: StarTable, groups: (number | undefined)[]): Optics | undefined {
  const [voltageKv, csMillimetre, amplitudeContrast] = OPTICS_LABELS.map((l) => opticsValue(doc, particles, groups, l));
  if (voltageKv === undefined || csMillimetre === undefined || amplitudeContrast === undefined) return undefined;
  return { voltageKv, csMillimetre, amplitudeContrast };
}

/** RELION 3.0 states the pixel size as detector pixel (µm) and magnification. */
function detectorPixelSize(doc: StarDocument, particles: StarTable, groups: (number | undefined)[]): number | undefined {
  const detector = opticsValue(doc, particles, groups, 'rlnDetectorPixelSize');
  const magnification = opticsValue(doc, particles, groups, 'rlnMagnification');
  return detector !== undefined && magnification !== undefined ? (detector * 1e4) / magnification : undefined;
}

async function headerVoxelSize(image: string, source: string): Promise<number> {
  const header = await readMrcHeader(image).catch((err: Error) => {
    throw new Error(`${source}: no pixel size in the STAR file (rlnImagePixelSize) and the first particle cannot be read: ${err.message}`);
  });
  if (!(header.voxelSize > 0)) throw new Error(`${source}: no pixel size in the STAR file (rlnImagePixelSize) nor in the header of ${image}`);
  return header.voxelSize;
}

/** The pose of RELION angles (degrees) and origins (Å), through io/star.ts's conversion. */
function relionPose(angles: readonly number[], originsAngst: readonly number[], voxelSize: number): Pose {
  return poseFromRelion({ name: 'pose', columns: [...RELION_POSE_COLUMNS], rows: [[...angles, ...originsAngst]] }, 0, voxelSize, 'pose');
}

/** A rotation from three RELION angles (degrees). */
function relionRotation(angles: readonly number[]): Mat3 {
  return eulerToMatrix(relionPose(angles, [0, 0, 0], 1));
}

/** The three RELION angles (degrees) of a rotation. */
function relionAngles(R: Mat3): number[] {
  return poseToRelion(poseFromMatrix(R, [0, 0, 0]), 1).slice(0, 3);
}

function isTwoDimensionalImage(name: string): boolean {
  return /^\d+@/.test(name);
}

/** The ParticleList of a RELION particle STAR (its format from relionFormatOf). */
export async function relionParticleList(doc: StarDocument, format: RelionFormat, opts: RelionReadOptions): Promise<ParticleList> {
  const table = particleBlock(doc);
  if (table.rows.length === 0) throw new Error(`${doc.path}: the particle table data_${table.name} is empty`);
  const groups = opticsRows(doc, table);
  const general = findBlock(doc, 'general');
  const stacksLabel = 'rlnTomoSubTomosAre2DStacks';
  const stacks2d = general !== undefined && hasColumn(general, stacksLabel) && cellText(doc, general, 0, stacksLabel) === '1';
  const tomogramColumn = format === 'warp' ? 'rlnMicrographName' : hasColumn(table, 'rlnTomoName') ? 'rlnTomoName' : undefined;
  if (format === 'relion5' && !hasColumn(table, 'rlnTomoName')) {
    throw new Error(`${doc.path}: data_${table.name} lacks _rlnTomoName, which RELION 5 particles need`);
  }
  const hasCentred = hasColumnGroup(doc, table, CENTRED);
  const hasCoordinates = hasColumnGroup(doc, table, COORDINATES);
  if (format === 'relion5' && !hasCentred && !hasCoordinates) {
    throw new Error(`${doc.path}: data_${table.name} lacks _rlnCenteredCoordinate{X,Y,Z}Angst (RELION 5 particle positions)`);
  }
  const hasAngles = hasColumnGroup(doc, table, ANGLES);
  const originColumns = hasColumnGroup(doc, table, ORIGINS_ANGST)
    ? ORIGINS_ANGST
    : hasColumnGroup(doc, table, ORIGINS_PIXELS)
      ? ORIGINS_PIXELS
      : undefined;
  const hasSubtomogramAngles = hasColumnGroup(doc, table, SUBTOMOGRAM_ANGLES);
  const hasTilt = hasColumnGroup(doc, table, TILT_COLUMNS);

  const known = opts.tomograms && new Map(opts.tomograms.map((t) => [t.name, t]));
  const tomogramNames: string[] = table.rows.map((_, r) => (tomogramColumn ? cellText(doc, table, r, tomogramColumn) : ''));
  if (known && tomogramColumn) {
    tomogramNames.forEach((name, r) => {
      if (!known.has(name)) {
        const have = [...known.keys()].join(', ');
        throw new Error(`${starWhere(doc, table, r, tomogramColumn)} names tomogram '${name}', which the tomogram set does not have (it has ${have})`);
      }
    });
  }
  const tomograms: Tomogram[] = opts.tomograms
    ? opts.tomograms
    : [...new Set(tomogramColumn ? tomogramNames : [])].map((name) => ({ name }));
  const tomogramOf = new Map(tomograms.map((t) => [t.name, t]));

  const imageNames = hasColumn(table, 'rlnImageName') ? table.rows.map((_, r) => cellText(doc, table, r, 'rlnImageName')) : undefined;
  const images = imageNames && !stacks2d ? imageNames.map((n) => (isTwoDimensionalImage(n) ? undefined : resolve(opts.base, n))) : undefined;
  const tiltSeriesPixel = opticsValue(doc, table, groups, 'rlnTomoTiltSeriesPixelSize');
  const tomogramTiltPixels = new Set(tomograms.map((t) => t.tiltSeriesPixelSize).filter((p) => p !== undefined));
  const voxelSize =
    opticsValue(doc, table, groups, 'rlnImagePixelSize') ??
    detectorPixelSize(doc, table, groups) ??
    (format === 'relion5' ? (tiltSeriesPixel ?? (tomogramTiltPixels.size === 1 ? [...tomogramTiltPixels][0] : undefined)) : undefined) ??
    (images?.[0] ? await headerVoxelSize(images[0], doc.path) : undefined);
  const boxSize = opticsValue(doc, table, groups, 'rlnImageSize');

  const names = particleNames(doc, table, format, tomogramNames, imageNames);
  const particles = table.rows.map((_, r): Particle => {
    const where = (label: string) => starWhere(doc, table, r, label);
    const num = (label: string) => cellFinite(doc, table, r, label);
    const tomogramName = tomogramColumn ? tomogramNames[r] : undefined;
    const tomogram = tomogramName !== undefined ? tomogramOf.get(tomogramName) : undefined;
    const p: Particle = { name: names[r], sourceRow: r };
    if (images?.[r]) p.image = images[r];
    if (hasColumn(table, 'rlnCtfImage') && !stacks2d) p.ctfImage = resolve(opts.base, cellText(doc, table, r, 'rlnCtfImage'));
    if (tomogramName !== undefined) p.tomogram = tomogramName;
    if (hasCentred) {
      p.position = { frame: 'centered-angstrom', x: num(CENTRED[0]), y: num(CENTRED[1]), z: num(CENTRED[2]) };
    } else if (hasCoordinates) {
      // RELION 4 coordinates are tilt-series pixels; Warp's are the picked tomogram's (io/positions.ts).
      const pixelSize = format === 'warp' ? opts.pixelSize : (tiltSeriesPixel ?? tomogram?.tiltSeriesPixelSize ?? opts.pixelSize);
      const [x, y, z] = COORDINATES.map(num);
      p.position = { frame: 'pixels', x, y, z, origin: 0, ...(pixelSize ? { pixelSize } : {}) };
    }
    if (hasAngles || originColumns) {
      const angles = hasAngles ? ANGLES.map(num) : [0, 0, 0];
      const origins = originColumns ? originColumns.map(num) : [0, 0, 0];
      if (voxelSize === undefined && origins.some((o) => o !== 0)) {
        throw new Error(
          `${where(originColumns![0])}: a shift needs the pixel size, which the file does not state (rlnImagePixelSize in data_optics)`,
        );
      }
      const angst = originColumns === ORIGINS_PIXELS ? origins.map((o) => o * (voxelSize ?? 1)) : origins;
      p.pose = relionPose(angles, angst, voxelSize ?? 1);
    }
    if (hasSubtomogramAngles) {
      const angles = SUBTOMOGRAM_ANGLES.map(num);
      if (angles.some((a) => a !== 0)) p.subtomogramRotation = relionRotation(angles);
    }
    const tilt = hasTilt
      ? tiltFromColumns(num(TILT_MIN_COLUMN), num(TILT_MAX_COLUMN), where(TILT_MIN_COLUMN))
      : tomogram && tiltFromTomogram(tomogram);
    if (tilt) p.tilt = tilt;
    if (hasColumn(table, 'rlnRandomSubset')) p.half = halfOf(num('rlnRandomSubset'), where('rlnRandomSubset'));
    if (hasColumn(table, 'rlnClassNumber')) {
      const c = num('rlnClassNumber');
      if (!Number.isInteger(c)) throw new Error(`${where('rlnClassNumber')} must be an integer, got ${c}`);
      p.classNumber = c;
    }
    if (hasColumn(table, CLIPPED_COLUMN)) p.clipped = num(CLIPPED_COLUMN) === 1;
    if (hasColumn(table, ALIGNMENT_COLUMNS[0])) {
      const scores: NonNullable<Particle['scores']> = { ccc: num(ALIGNMENT_COLUMNS[0]) };
      if (hasColumn(table, ALIGNMENT_COLUMNS[1])) scores.dissimilarity = num(ALIGNMENT_COLUMNS[1]);
      if (hasColumn(table, ALIGNMENT_COLUMNS[2])) scores.iterations = num(ALIGNMENT_COLUMNS[2]);
      if (hasColumn(table, ALIGNMENT_COLUMNS[3])) scores.candidate = num(ALIGNMENT_COLUMNS[3]) - 1;
      p.scores = scores;
    }
    return p;
  });

  const list: ParticleList = {
    particles,
    tomograms,
    origin: {
      format,
      path: doc.path,
      tables: doc.tables.map((t) => ({ name: t.name, columns: [...t.columns], rows: t.rows.map((row) => [...row]) })),
      particleTable: table.name,
      base: opts.base,
    },
  };
  if (voxelSize !== undefined) list.voxelSize = voxelSize;
  if (boxSize !== undefined) list.boxSize = boxSize;
  const optics = opticsOf(doc, table, groups);
  if (optics) list.optics = optics;
  const premultiplied = opticsValue(doc, table, groups, PREMULTIPLIED);
  if (premultiplied !== undefined) list.ctfPremultiplied = premultiplied === 1;
  return list;
}

/**
 * Names as the module doc of model/particles.ts says. A repeated rlnTomoParticleName is an error naming both
 * lines; a repeated rlnImageName is a symmetry-expanded list (relion_particle_symmetry_expand copies rows), whose
 * later copies are named `<image>#2`, `<image>#3`, … (drivers/particleList.ts keeps the copies in one half-set).
 */
function particleNames(doc: StarDocument, table: StarTable, format: RelionFormat, tomograms: string[], images?: string[]): string[] {
  const label = format === 'relion5' && hasColumn(table, 'rlnTomoParticleName') ? 'rlnTomoParticleName' : images ? 'rlnImageName' : undefined;
  const perTomogram = new Map<string, number>();
  const names = table.rows.map((_, r) => {
    if (label) return cellText(doc, table, r, label);
    // RELION's own naming when rlnTomoParticleName is missing (ParticleSet::read): <tomogram>/<n>.
    const n = (perTomogram.get(tomograms[r]) ?? 0) + 1;
    perTomogram.set(tomograms[r], n);
    return tomograms[r] === '' ? String(r + 1) : `${tomograms[r]}/${n}`;
  });
  if (label === 'rlnImageName') {
    const copies = new Map<string, number>();
    return names.map((name) => {
      const k = (copies.get(name) ?? 0) + 1;
      copies.set(name, k);
      return k === 1 ? name : `${name}#${k}`;
    });
  }
  if (label) {
    const first = new Map<string, number>();
    names.forEach((name, r) => {
      const previous = first.get(name);
      if (previous !== undefined) {
        const line = doc.rowLines.get(table)![previous];
        throw new Error(`${starWhere(doc, table, r, label)}: '${name}' is already the name of the particle on line ${line}`);
      }
      first.set(name, r);
    });
  }
  return names;
}

function tiltFromColumns(minDeg: number, maxDeg: number, where: string): TiltRange {
  if (!(minDeg >= -90 && maxDeg <= 90 && minDeg <= maxDeg)) {
    throw new Error(`${where}: tilt range [${minDeg}°, ${maxDeg}°]; expected −90° ≤ min ≤ max ≤ 90°`);
  }
  return tiltRangeDegrees(minDeg, maxDeg);
}

/** The wedge of a tomogram: the range of its tilt images' angles (RELION 5 per-tilt STAR). */
function tiltFromTomogram(tomogram: Tomogram): TiltRange | undefined {
  if (!tomogram.tilts || tomogram.tilts.length === 0) return undefined;
  const angles = tomogram.tilts.map((t) => t.angle);
  return validateTilt({ min: Math.min(...angles), max: Math.max(...angles) });
}

function halfOf(subset: number, where: string): Half {
  if (subset !== 1 && subset !== 2) throw new Error(`${where} is ${subset}; expected 1 (odd half) or 2 (even half)`);
  return subset === 1 ? 'odd' : 'even';
}

/** The tilt columns' values (degrees), rounded to 1e-9° so a range read from a file is written back as the same decimal. */
export function tiltColumns(tilt: TiltRange): [number, number] {
  const deg = (a: number) => Math.round(degrees(a) * 1e9) / 1e9;
  return [deg(tilt.min), deg(tilt.max)];
}

// ---------------------------------------------------------------------------------------------------------
// Writing

/**
 * The STAR blocks of `list` in `format`: the source's blocks with poses, class, half-set and scores
 * replaced when `format` is the one it was read from, else fresh blocks (module doc). `base`: the directory
 * the output's relative file names will refer to; image names are written relative to it (absolute without
 * one), and relative names kept from the source are rewritten only when it differs from the source's base.
 */
export function relionTables(list: ParticleList, format: RelionFormat, base?: string): StarTable[] {
  const sameFormat = list.origin.format === format && list.particles.every((p) => p.sourceRow !== undefined);
  return sameFormat ? updatedTables(list, base) : freshTables(list, format, base);
}

const PATH_COLUMNS = ['rlnImageName', 'rlnCtfImage'];

/** A relative name kept from the source, made relative to the output's base when the two differ. */
function rebased(value: StarValue, from: string | undefined, to: string | undefined): StarValue {
  if (typeof value !== 'string' || from === undefined || to === undefined || from === to || isAbsolute(value)) return value;
  const at = /^\d+@/.exec(value)?.[0] ?? '';
  return at + relative(to, resolve(from, value.slice(at.length)));
}

/** A particle whose value is absent where others have one: fill (poses) or refuse (class, half, scores). */
function requireAll<T>(list: ParticleList, value: (p: Particle) => T | undefined, what: string): boolean {
  const have = list.particles.filter((p) => value(p) !== undefined).length;
  if (have === 0) return false;
  if (have < list.particles.length) {
    const lacking = list.particles.find((p) => value(p) === undefined)!;
    throw new Error(`particle ${lacking.name} has no ${what} while ${have} others have one; a column needs a value for every particle`);
  }
  return true;
}

/** Angles and origins (Å) of a pose; a particle without one gets RELION's default, no rotation and no shift. */
function poseValues(list: ParticleList, name: string, pose: Pose | undefined): number[] {
  const p = pose ?? { phi: 0, theta: 0, psi: 0, tx: 0, ty: 0, tz: 0 };
  if (list.voxelSize === undefined && (p.tx !== 0 || p.ty !== 0 || p.tz !== 0)) {
    throw new Error(`particle ${name}: RELION origins are in Å and the list has no voxel size to convert its shift`);
  }
  return poseToRelion(p, list.voxelSize ?? 1);
}

/** Whether the numbers in `row` at `at` are finite and satisfy `same` (the value there is what is wanted). */
function sameCells(row: readonly StarValue[], at: readonly number[], same: (values: number[]) => boolean): boolean {
  const values = at.map((c) => Number(row[c]));
  return values.every(Number.isFinite) && same(values);
}

function subtomogramValues(p: Particle): number[] {
  return p.subtomogramRotation ? relionAngles(p.subtomogramRotation) : [0, 0, 0];
}

/** The score columns every particle has a value for: CCC and d = 2 − 2·CCC, iterations and candidate when known. */
function scoreColumns(list: ParticleList): string[] {
  if (!requireAll(list, (p) => p.scores, 'alignment score')) return [];
  const labels: string[] = [ALIGNMENT_COLUMNS[0], ALIGNMENT_COLUMNS[1]];
  if (requireAll(list, (p) => p.scores!.iterations, 'iteration count')) labels.push(ALIGNMENT_COLUMNS[2]);
  if (requireAll(list, (p) => p.scores!.candidate, 'FRM candidate')) labels.push(ALIGNMENT_COLUMNS[3]);
  return labels;
}

function scoreValues(p: Particle, labels: readonly string[]): number[] {
  const s = p.scores!;
  const all = [s.ccc, s.dissimilarity ?? 2 - 2 * s.ccc, s.iterations ?? NaN, (s.candidate ?? NaN) + 1];
  return labels.map((l) => all[ALIGNMENT_COLUMNS.indexOf(l as (typeof ALIGNMENT_COLUMNS)[number])]);
}

function updatedTables(list: ParticleList, base?: string): StarTable[] {
  const source = list.origin.tables.find((t) => t.name === list.origin.particleTable)!;
  const columns = [...source.columns];
  const pathAt = PATH_COLUMNS.map((l) => columns.indexOf(l)).filter((c) => c >= 0);
  const ensure = (labels: readonly string[]) => labels.map((l) => (columns.includes(l) ? columns.indexOf(l) : columns.push(l) - 1));
  const anyPose = list.particles.some((p) => p.pose);
  const pixelOrigins = source.columns.includes(ORIGINS_PIXELS[0]) && !source.columns.includes(ORIGINS_ANGST[0]);
  const hadPose = ANGLES.every((l) => source.columns.includes(l));
  // Origin columns are added only for a shift: a file of unshifted particles stays without them.
  const shifted = list.particles.some((p) => p.pose && (p.pose.tx !== 0 || p.pose.ty !== 0 || p.pose.tz !== 0));
  const originLabels = pixelOrigins ? ORIGINS_PIXELS : ORIGINS_ANGST;
  const withOrigins = anyPose && (shifted || originLabels.some((l) => source.columns.includes(l)));
  const poseAt = anyPose ? ensure([...ANGLES, ...(withOrigins ? originLabels : [])]) : undefined;
  const subtomogramAt =
    source.columns.includes(SUBTOMOGRAM_ANGLES[0]) || list.particles.some((p) => p.subtomogramRotation) ? ensure(SUBTOMOGRAM_ANGLES) : undefined;
  const classAt = requireAll(list, (p) => p.classNumber, 'class number') ? ensure(['rlnClassNumber']) : undefined;
  const halfAt = requireAll(list, (p) => p.half, 'half-set') ? ensure(['rlnRandomSubset']) : undefined;
  const scoreLabels = scoreColumns(list);
  const scoreAt = scoreLabels.length > 0 ? ensure(scoreLabels) : undefined;
  const clippedAt = list.particles.some((p) => p.clipped !== undefined) ? ensure([CLIPPED_COLUMN]) : undefined;

  // The pose a row's cells give, as the reader derived it (origins appended as 0 when the file had none).
  const readBack = (v: number[]): Pose => {
    const origins = withOrigins ? v.slice(3).map((o) => (pixelOrigins ? o * (list.voxelSize ?? 1) : o)) : [0, 0, 0];
    return relionPose(v.slice(0, 3), origins, list.voxelSize ?? 1);
  };
  const rows = list.particles.map((p) => {
    const row: StarValue[] = [...source.rows[p.sourceRow!]];
    while (row.length < columns.length) row.push(0);
    for (const c of pathAt) row[c] = rebased(row[c], list.origin.base, base);
    const put = (at: number[], values: number[]) => at.forEach((c, i) => (row[c] = values[i]));
    if (poseAt && !(hadPose && p.pose && sameCells(row, poseAt, (v) => samePose(readBack(v), p.pose!)))) {
      const values = poseValues(list, p.name, p.pose);
      if (pixelOrigins) for (let i = 3; i < 6; i++) values[i] /= list.voxelSize ?? 1;
      put(poseAt, values.slice(0, poseAt.length));
    }
    const S = p.subtomogramRotation;
    const unchangedS = (v: number[]) => (S ? rotationAngle(relionRotation(v), S) < SAME_ANGLE : v.every((a) => a === 0));
    if (subtomogramAt && !sameCells(row, subtomogramAt, unchangedS)) put(subtomogramAt, subtomogramValues(p));
    if (classAt) put(classAt, [p.classNumber!]);
    if (halfAt) put(halfAt, [p.half === 'odd' ? 1 : 2]);
    if (scoreAt) put(scoreAt, scoreValues(p, scoreLabels));
    if (clippedAt) put(clippedAt, [p.clipped ? 1 : 0]);
    return row;
  });
  return list.origin.tables.map((t) =>
    t === source ? { name: t.name, columns, rows } : { name: t.name, columns: [...t.columns], rows: t.rows.map((r) => [...r]) },
  );
}

/** The one value of a tomogram property over the list's tomograms, when they agree. */
function sharedValue(values: (number | undefined)[]): number | undefined {
  const set = new Set(values.filter((v) => v !== undefined));
  return set.size === 1 ? [...set][0] : undefined;
}

function freshTables(list: ParticleList, format: RelionFormat, base?: string): StarTable[] {
  const tomogramOf = new Map(list.tomograms.map((t) => [t.name, t]));
  const used = [...new Set(list.particles.map((p) => p.tomogram).filter((t): t is string => t !== undefined))].map(
    (name) => tomogramOf.get(name) ?? { name },
  );
  const tiltSeriesPixel = sharedValue(used.map((t) => t.tiltSeriesPixelSize));
  const optics = list.optics ?? (used.length > 0 && used.every((t) => t.optics) ? used[0].optics : undefined);
  const withImages = requireAll(list, (p) => p.image, 'subtomogram image');
  const path = (file: string) => (base ? relative(base, file) : file);

  const opticsColumns: string[] = ['rlnOpticsGroup', 'rlnOpticsGroupName'];
  const opticsRow: StarValue[] = [1, 'opticsGroup1'];
  const addOptics = (label: string, value: StarValue | undefined) => {
    if (value === undefined) return;
    opticsColumns.push(label);
    opticsRow.push(value);
  };
  if (format === 'relion5') {
    if (tiltSeriesPixel === undefined) {
      throw new Error(
        "RELION 5 needs the tilt series pixel size (rlnTomoTiltSeriesPixelSize) in data_optics; the list's tomograms " +
          'do not give one (pass their tomograms.star)',
      );
    }
    addOptics('rlnTomoTiltSeriesPixelSize', tiltSeriesPixel);
  } else if (format === 'relion4') {
    addOptics('rlnTomoTiltSeriesPixelSize', tiltSeriesPixel);
  }
  addOptics('rlnVoltage', optics?.voltageKv);
  addOptics('rlnSphericalAberration', optics?.csMillimetre);
  addOptics('rlnAmplitudeContrast', optics?.amplitudeContrast);
  addOptics('rlnImagePixelSize', list.voxelSize);
  if (withImages) {
    addOptics('rlnImageSize', list.boxSize);
    addOptics('rlnImageDimensionality', 3);
  }
  const withCtfImages = withImages && requireAll(list, (p) => p.ctfImage, 'CTF image');
  // What the CTF volumes hold goes with them (io/ctfImage.ts): CTF² of premultiplied data, else the CTF.
  if (withCtfImages && list.ctfPremultiplied !== undefined) addOptics(PREMULTIPLIED, list.ctfPremultiplied ? 1 : 0);

  const columns: string[] = [];
  const cells: ((p: Particle) => StarValue[])[] = [];
  const add = (labels: readonly string[], values: (p: Particle) => StarValue[]) => {
    columns.push(...labels);
    cells.push(values);
  };
  const tomogramOfParticle = (p: Particle): Tomogram => tomogramOf.get(p.tomogram!) ?? { name: p.tomogram! };
  const withTomograms = requireAll(list, (p) => p.tomogram, 'tomogram');
  if (format === 'relion5' && !withTomograms) throw new Error('RELION 5 particles need their tomogram (rlnTomoName); the list names none');
  if (withTomograms) add([format === 'warp' ? 'rlnMicrographName' : 'rlnTomoName'], (p) => [p.tomogram!]);
  if (format === 'relion5') add(['rlnTomoParticleName'], (p) => [p.name]);
  if (requireAll(list, (p) => p.position, 'position')) {
    if (format === 'relion5') {
      add(CENTRED, (p) => placed(p, () => centredAngstrom(p.position!, tomogramOfParticle(p))));
    } else {
      add(COORDINATES, (p) =>
        placed(p, () => {
          const tomogram = tomogramOfParticle(p);
          return positionInFrame(p.position!, tomogram, coordinateFrame(format, p, tomogram));
        }),
      );
    }
  }
  if (withImages) add(['rlnImageName'], (p) => [path(p.image!)]);
  if (withCtfImages) add(['rlnCtfImage'], (p) => [path(p.ctfImage!)]);
  // Warp knows no subtomogram rotation: its poses are in the tomogram's axes.
  const composed = format === 'warp';
  if (!composed && list.particles.some((p) => p.subtomogramRotation)) add(SUBTOMOGRAM_ANGLES, subtomogramValues);
  if (list.particles.some((p) => p.pose)) {
    add([...ANGLES, ...ORIGINS_ANGST], (p) => poseValues(list, p.name, composed ? poseInTomogram(p) : p.pose));
  }
  if (requireAll(list, (p) => p.classNumber, 'class number')) add(['rlnClassNumber'], (p) => [p.classNumber!]);
  if (requireAll(list, (p) => p.half, 'half-set')) add(['rlnRandomSubset'], (p) => [p.half === 'odd' ? 1 : 2]);
  add(['rlnOpticsGroup'], () => [1]);
  if (list.particles.every((p) => p.tilt)) add(TILT_COLUMNS, (p) => tiltColumns(p.tilt!));
  const scoreLabels = scoreColumns(list);
  if (scoreLabels.length > 0) add(scoreLabels, (p) => scoreValues(p, scoreLabels));
  if (list.particles.some((p) => p.clipped !== undefined)) add([CLIPPED_COLUMN], (p) => [p.clipped ? 1 : 0]);

  const tables: StarTable[] = [];
  if (format === 'relion5') tables.push({ name: 'general', columns: ['rlnTomoSubTomosAre2DStacks'], rows: [[0]] });
  tables.push({ name: 'optics', columns: opticsColumns, rows: [opticsRow] });
  tables.push({ name: 'particles', columns, rows: list.particles.map((p) => cells.flatMap((c) => c(p))) });
  return tables;
}

/**
 * RELION 4 coordinates are tilt-series pixels; Warp's the tomogram's own (io/positions.ts). Without the
 * tilt series' pixel size, pixel positions keep the pixels they have (nothing tells their binning), and
 * centred ones cannot be placed.
 */
function coordinateFrame(format: RelionFormat, p: Particle, tomogram: Tomogram): { pixelSize?: number; origin: 0 } {
  const own = p.position!.frame === 'pixels' ? p.position!.pixelSize : undefined;
  if (format === 'relion4' && p.position!.frame === 'centered-angstrom' && tomogram.tiltSeriesPixelSize === undefined) {
    throw new Error(`RELION 4 coordinates are in tilt-series pixels, and tomogram ${tomogram.name} has no rlnTomoTiltSeriesPixelSize`);
  }
  const pixelSize = format === 'relion4' ? (tomogram.tiltSeriesPixelSize ?? own) : (tomogram.pixelSize ?? own);
  return pixelSize === undefined ? { origin: 0 } : { pixelSize, origin: 0 };
}

function placed(p: Particle, convert: () => number[]): number[] {
  try {
    return convert();
  } catch (err) {
    throw new Error(`particle ${p.name}: ${(err as Error).message}`);
  }
}
