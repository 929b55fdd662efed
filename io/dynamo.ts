/**
 * Dynamo tables (.tbl, text) ↔ subtomo poses and per-particle tilt ranges.
 *
 * Columns (1-based), from Dynamo's `dthelp` as printed on the Dynamo wiki page "Table convention" (also
 * teamtomo/dynamotable's convention.py):
 *   1 tag · 2 aligned · 3 averaged · 4–6 dx dy dz (shift from the box centre, pixels) · 7–9 tdrot tilt narot
 *   (degrees) · 10 cc · 11 cc2 · 12 cpu · 13 ftype (0 full range, 1 single tilt about y) · 14–15 ymintilt
 *   ymaxtilt · 16–17 xmintilt xmaxtilt · 18–19 fs1 fs2 · 20 tomo · 21 reg · 22 class · 23 annotation ·
 *   24–26 x y z (position in the tomogram) · 27 dshift · 28 daxis · 29 dnarot · 30 dcc · 31 otag · 32 npar ·
 *   34 ref · 35 sref.
 * subtomo uses 1–10, 13–15, 20 (with the .vll, below), 22 and 24–26 (pixel indices counted from 1:
 * io/positions.ts); every other column of a row that was read is carried through unchanged, and new rows get
 * Dynamo's 35 columns with aligned = 1 and zeros elsewhere. A blank table's zeros mean "not set": tomo 0,
 * class 0 and position (0, 0, 0) are read as absent.
 *
 * Tomograms: column 20 is the tomogram's number in a volume list file (.vll; Dynamo wiki "Volume list
 * file"): one tomogram path per line, numbered 1, 2, … in order of appearance (`* index = N` below a path
 * renumbers it); `#` starts a comment line, `* key = value` sets a parameter of the tomogram above (subtomo
 * reads `index`, `label`, the tomogram's name, and `apix`, its pixel size in Å), `>` and `!` lines name
 * tables or models attached to it (ignored). Relative paths are taken from the .vll's directory.
 *
 * Rotation. Dynamo's dynamo_euler2matrix(tdrot, tilt, narot) is Rz(narot)·Rx(tilt)·Rz(tdrot) in our active,
 * counter-clockwise matrices (its closed form as public Python ports of dynamo_euler2matrix.m transcribe it:
 * m31 = sin tdrot·sin tilt, m32 = cos tdrot·sin tilt, m33 = cos tilt, m13 = sin narot·sin tilt, …; the tests
 * also reproduce a matrix printed by Dynamo, recorded in A. Burt's ABTT tests). That
 * matrix rotates the particle onto the reference; Dynamo itself maps the reference's z axis into a particle
 * with its transpose (dynamo_angles2orientations: north_rotated = m'·north), and A. Burt's eulerangles notes
 * and package (metadata 'dynamo': zxz, extrinsic, particle → reference) say the same, with a Dynamo/RELION
 * pair that gives identical reconstructions (test/dynamo.test.ts checks it). So our R (particle ≈ Λ_R
 * reference) is
 *     R = dynamo_euler2matrix(tdrot, tilt, narot)ᵀ = Rz(−tdrot)·Rx(−tilt)·Rz(−narot),
 * i.e. "rotate about z by tdrot, about the new x by tilt, about the new z by narot", positive clockwise.
 * Against RELION this gives the known relation tdrot = psi − 90°, tilt = tilt, narot = rot + 90°.
 * Angles are written with tilt ∈ [0°, 180°] and tdrot, narot ∈ (−180°, 180°]; at tilt 0° or 180° only
 * tdrot ± narot is defined and tdrot = 0 is written.
 *
 * Shift. dx, dy, dz are where the particle's centre sits relative to the box centre, in pixels of the
 * particle (conversions to RELION use rlnCoordinate = x + dx), which is our T: dx = T. RELION's origin is
 * −T·voxel (io/star.ts), so rlnOriginXAngst = −dx·voxel.
 *
 * Tilt range: ftype 1 with ymintilt/ymaxtilt is our single-axis tilt about y, passed through unchanged;
 * ftype 0 (full sampling) is [−90°, 90°]. Other ftypes (tilt about x, dual axis, cones, custom masks) are
 * refused. The Dynamo wiki ("Indicating the missing wedge") warns that the sign of an asymmetric range
 * depends on how the tilt series was aligned; subtomo does not flip it, so check asymmetric wedges visually.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { degrees, eulerToMatrix, multiply, poseFromMatrix, radians, rotationX, rotationZ, transpose, wrapAngle } from '../core/rotate.ts';
import type { Mat3, Pose } from '../core/rotate.ts';
import { tiltRangeDegrees } from '../core/wedge.ts';
import type { Particle, ParticleList, Tomogram } from '../model/particles.ts';
import { poseInTomogram, positionInFrame, samePose } from './positions.ts';

/** 1-based column numbers of the Dynamo table fields subtomo reads or writes. */
export const DYNAMO_COLUMN = {
  tag: 1,
  aligned: 2,
  averaged: 3,
  dx: 4,
  dy: 5,
  dz: 6,
  tdrot: 7,
  tilt: 8,
  narot: 9,
  cc: 10,
  ftype: 13,
  ymintilt: 14,
  ymaxtilt: 15,
  tomo: 20,
  class: 22,
  x: 24,
  y: 25,
  z: 26,
} as const;

/** Width of a standard Dynamo table (dynamo_table_blank). */
export const DYNAMO_TABLE_COLUMNS = 35;

export interface DynamoAngles {
  /** Degrees. */
  tdrot: number;
  tilt: number;
  narot: number;
}

/** Dynamo's own matrix dynamo_euler2matrix(tdrot, tilt, narot) = Rz(narot)·Rx(tilt)·Rz(tdrot) (particle → reference). */
export function dynamoMatrix(a: DynamoAngles): Mat3 {
  return multiply(rotationZ(radians(a.narot)), multiply(rotationX(radians(a.tilt)), rotationZ(radians(a.tdrot))));
}

/** Our R (particle ≈ Λ_R reference) for Dynamo angles: the transpose of dynamoMatrix. */
export function rotationFromDynamo(a: DynamoAngles): Mat3 {
  return transpose(dynamoMatrix(a));
}

// As core/rotate.ts: below this sin(tilt) only tdrot ± narot is defined.
const GIMBAL_SIN = 1e-14;

/** Dynamo angles (degrees) of our R, via the ZXZ decomposition of M = Rᵀ = Rz(narot)·Rx(tilt)·Rz(tdrot). */
export function dynamoFromRotation(R: Mat3): DynamoAngles {
  const M = transpose(R);
  const [m11, m12, , m21, m22, , m31, m32, m33] = M;
  // From the closed form with a = tdrot, b = tilt, c = narot:
  // m31 = sin a sin b, m32 = cos a sin b, m13 = sin c sin b, m23 = −cos c sin b, m33 = cos b,
  // m11 + m22 = (1 + cos b)·cos(a + c), m21 − m12 = (1 + cos b)·sin(a + c),
  // m11 − m22 = (1 − cos b)·cos(c − a), m21 + m12 = (1 − cos b)·sin(c − a).
  const sinTilt = Math.hypot(m31, m32);
  const tilt = Math.atan2(sinTilt, m33);
  const sum = Math.atan2(m21 - m12, m11 + m22);
  const diff = Math.atan2(m21 + m12, m11 - m22);
  let tdrot: number, narot: number;
  if (sinTilt < GIMBAL_SIN) {
    tdrot = 0;
    narot = m33 > 0 ? sum : diff;
  } else {
    tdrot = Math.atan2(m31, m32);
    // narot from whichever of a ± c is well conditioned (m13, m23 alone lose accuracy as sin b → 0)
    narot = m33 >= 0 ? sum - tdrot : tdrot + diff;
  }
  return { tdrot: degrees(wrapAngle(tdrot)), tilt: degrees(tilt), narot: degrees(wrapAngle(narot)) };
}

/** Dynamo angles and shift (pixels) of a pose. */
export function poseToDynamo(pose: Pose): DynamoAngles & { dx: number; dy: number; dz: number } {
  return { ...dynamoFromRotation(eulerToMatrix(pose)), dx: pose.tx, dy: pose.ty, dz: pose.tz };
}

/** The pose of Dynamo angles (degrees) and shift (pixels). */
export function poseFromDynamo(a: DynamoAngles, shift: { dx: number; dy: number; dz: number }): Pose {
  return poseFromMatrix(rotationFromDynamo(a), [shift.dx, shift.dy, shift.dz]);
}

export interface DynamoParticle {
  /** Column 1: the particle's tag (particle_<tag>.em in a Dynamo data folder). */
  tag: number;
  /** Radians and voxels, subtomo's convention. */
  pose: Pose;
  /** Missing wedge as a tilt range about y, degrees. */
  tiltMinDeg: number;
  tiltMaxDeg: number;
  /** Column 10. */
  cc: number;
  /** The whole row, column c at index c − 1: the columns subtomo does not interpret travel through unchanged. */
  row: number[];
  /** 1-based line of the table the row is on. */
  line: number;
}

const FULL_RANGE = 90;

/** Particles of a text Dynamo table; errors name the source, the line and the column. */
export function parseDynamoTable(text: string, source: string): DynamoParticle[] {
  if (text.includes('\0')) {
    throw new Error(`${source} is a binary Dynamo table; write it as text first (in Dynamo: dwrite(dread('${source}'), 'table.tbl'))`);
  }
  const particles: DynamoParticle[] = [];
  const tags = new Map<number, number>();
  const lines = text.split(/\r?\n/);
  lines.forEach((line, li) => {
    const where = `${source}:${li + 1}`;
    const fields = line.trim().split(/\s+/).filter((f) => f !== '');
    if (fields.length === 0) return;
    if (fields.length < DYNAMO_COLUMN.ymaxtilt) {
      throw new Error(
        `${where}: ${fields.length} columns; subtomo needs at least ${DYNAMO_COLUMN.ymaxtilt} (tag … narot, cc, ftype, ymintilt, ymaxtilt)`,
      );
    }
    const row = fields.map((f, c) => {
      const v = Number(f);
      if (!Number.isFinite(v)) throw new Error(`${where}: column ${c + 1} is not a number: '${f}'`);
      return v;
    });
    const col = (c: number) => row[c - 1];
    const tag = col(DYNAMO_COLUMN.tag);
    if (!Number.isInteger(tag) || tag < 1) throw new Error(`${where}: tag (column 1) must be a positive integer, got ${tag}`);
    const previous = tags.get(tag);
    if (previous !== undefined) throw new Error(`${where}: tag ${tag} already used on line ${previous}`);
    tags.set(tag, li + 1);
    const ftype = col(DYNAMO_COLUMN.ftype);
    let tiltMinDeg: number, tiltMaxDeg: number;
    if (ftype === 0) {
      tiltMinDeg = -FULL_RANGE;
      tiltMaxDeg = FULL_RANGE;
    } else if (ftype === 1) {
      tiltMinDeg = col(DYNAMO_COLUMN.ymintilt);
      tiltMaxDeg = col(DYNAMO_COLUMN.ymaxtilt);
      if (!(tiltMinDeg >= -FULL_RANGE && tiltMaxDeg <= FULL_RANGE && tiltMinDeg <= tiltMaxDeg)) {
        throw new Error(`${where}: tilt range (columns 14–15) is [${tiltMinDeg}°, ${tiltMaxDeg}°]; expected −90° ≤ min ≤ max ≤ 90°`);
      }
    } else {
      throw new Error(
        `${where}: ftype ${ftype} (column 13) is not supported; subtomo models a single tilt axis along y (ftype 1) or ` +
          'full sampling (ftype 0)',
      );
    }
    const pose = poseFromDynamo(
      { tdrot: col(DYNAMO_COLUMN.tdrot), tilt: col(DYNAMO_COLUMN.tilt), narot: col(DYNAMO_COLUMN.narot) },
      { dx: col(DYNAMO_COLUMN.dx), dy: col(DYNAMO_COLUMN.dy), dz: col(DYNAMO_COLUMN.dz) },
    );
    particles.push({ tag, pose, tiltMinDeg, tiltMaxDeg, cc: col(DYNAMO_COLUMN.cc), row, line: li + 1 });
  });
  if (particles.length === 0) throw new Error(`${source}: the Dynamo table has no rows`);
  return particles;
}

/** What a table row is made from; `row` (e.g. from parseDynamoTable) supplies the columns not listed. */
export interface DynamoRowInput {
  tag: number;
  pose: Pose;
  tiltMinDeg: number;
  tiltMaxDeg: number;
  cc?: number;
  row?: readonly number[];
}

/** The row of a particle: 35 columns (or the template row's width), numbers at full precision. */
export function dynamoRow(p: DynamoRowInput): number[] {
  if (!Number.isInteger(p.tag) || p.tag < 1) throw new RangeError(`Dynamo tags must be positive integers, got ${p.tag}`);
  const row = p.row ? [...p.row] : new Array<number>(DYNAMO_TABLE_COLUMNS).fill(0);
  while (row.length < DYNAMO_TABLE_COLUMNS) row.push(0);
  const set = (c: number, v: number) => {
    row[c - 1] = v;
  };
  const d = poseToDynamo(p.pose);
  set(DYNAMO_COLUMN.tag, p.tag);
  if (!p.row) set(DYNAMO_COLUMN.aligned, 1);
  set(DYNAMO_COLUMN.dx, d.dx);
  set(DYNAMO_COLUMN.dy, d.dy);
  set(DYNAMO_COLUMN.dz, d.dz);
  set(DYNAMO_COLUMN.tdrot, d.tdrot);
  set(DYNAMO_COLUMN.tilt, d.tilt);
  set(DYNAMO_COLUMN.narot, d.narot);
  if (p.cc !== undefined) set(DYNAMO_COLUMN.cc, p.cc);
  const full = p.tiltMinDeg <= -FULL_RANGE && p.tiltMaxDeg >= FULL_RANGE;
  set(DYNAMO_COLUMN.ftype, full ? 0 : 1);
  set(DYNAMO_COLUMN.ymintilt, full ? 0 : p.tiltMinDeg);
  set(DYNAMO_COLUMN.ymaxtilt, full ? 0 : p.tiltMaxDeg);
  for (const v of row) if (!Number.isFinite(v)) throw new RangeError(`particle ${p.tag}: cannot write a non-finite value to a Dynamo table`);
  return row;
}

/** A text Dynamo table, one particle per line, space-separated. */
export function formatDynamoTable(particles: readonly DynamoRowInput[]): string {
  return particles.map((p) => dynamoRow(p).map((v) => String(v)).join(' ')).join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------------
// Volume lists (.vll) and tables as ParticleLists

/** One tomogram of a volume list. */
export interface VolumeListEntry {
  /** The number tables give it in column 20. */
  index: number;
  /** Absolute path of the tomogram. */
  path: string;
  /** `* label = …`: the tomogram's name. */
  label?: string;
  /** `* apix = …`: pixel size, Å. */
  pixelSize?: number;
  /** 1-based line of the path. */
  line: number;
}

export interface VolumeList {
  source: string;
  entries: VolumeListEntry[];
}

/** The tomograms of a .vll (module doc); errors name the file and line. */
export function parseVolumeList(text: string, source: string): VolumeList {
  const entries: VolumeListEntry[] = [];
  text.split(/\r?\n/).forEach((raw, li) => {
    const where = `${source}:${li + 1}`;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('>') || line.startsWith('!')) return;
    if (!line.startsWith('*')) {
      entries.push({ index: entries.length + 1, path: resolve(dirname(source), line), line: li + 1 });
      return;
    }
    const current = entries[entries.length - 1];
    if (!current) throw new Error(`${where}: a parameter line (${line}) before any tomogram`);
    const m = /^\*\s*(\w+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) throw new Error(`${where}: expected '* name = value', got '${line}'`);
    const [, key, value] = m;
    if (key === 'index') {
      const index = Number(value);
      if (!Number.isInteger(index) || index < 1) throw new Error(`${where}: index must be a positive integer, got '${value}'`);
      current.index = index;
    } else if (key === 'label') {
      current.label = value;
    } else if (key === 'apix') {
      const apix = Number(value);
      if (!(apix > 0)) throw new Error(`${where}: apix must be a positive pixel size in Å, got '${value}'`);
      current.pixelSize = apix;
    }
  });
  const byIndex = new Map<number, VolumeListEntry>();
  for (const e of entries) {
    const previous = byIndex.get(e.index);
    if (previous) throw new Error(`${source}:${e.line}: tomogram number ${e.index} is already used by ${previous.path} (line ${previous.line})`);
    byIndex.set(e.index, e);
  }
  if (entries.length === 0) throw new Error(`${source}: the volume list names no tomogram`);
  return { source, entries };
}

export async function readVolumeList(path: string): Promise<VolumeList> {
  const source = resolve(path);
  const text = await readFile(source, 'utf8').catch((err: Error) => {
    throw new Error(`cannot read Dynamo volume list ${source}: ${err.message}`);
  });
  return parseVolumeList(text, source);
}

/** A .vll of tomograms numbered 1, 2, … in order, with their name as `* label` and pixel size as `* apix`. */
export function formatVolumeList(tomograms: readonly Tomogram[]): string {
  return tomograms
    .map((t, i) => {
      if (!t.path) throw new RangeError(`tomogram ${t.name} has no path to write into a Dynamo volume list`);
      const lines = [t.path, `* index = ${i + 1}`, `* label = ${t.name}`];
      if (t.pixelSize) lines.push(`* apix = ${t.pixelSize}`);
      return lines.join('\n');
    })
    .join('\n\n') + '\n';
}

export interface DynamoReadOptions {
  volumes?: VolumeList;
  /** Tomograms known from elsewhere (a RELION tomograms.star): they complete those of the same name. */
  geometry?: readonly Tomogram[];
  /** Å per pixel of positions and shifts, when no `* apix` says it. */
  pixelSize?: number;
}

/**
 * Dynamo crops particles from their tomogram without rescaling, so a row's shift and position are in its
 * tomogram's pixels, which may differ between tomograms (each .vll `* apix`). The list's shifts are in one
 * unit, `ParticleList.voxelSize`: readers and writers scale by this factor (1 when a size is unknown).
 */
function tableToListScale(tablePixel: number | undefined, voxelSize: number | undefined): number {
  return tablePixel && voxelSize ? tablePixel / voxelSize : 1;
}

const column = (row: readonly number[], c: number): number | undefined => (row.length >= c ? row[c - 1] : undefined);

/** The ParticleList of a text Dynamo table (a tomogram named by column 20 must be in `volumes` when given). */
export function dynamoParticleList(text: string, source: string, opts: DynamoReadOptions = {}): ParticleList {
  const rows = parseDynamoTable(text, source);
  const byIndex = new Map(opts.volumes?.entries.map((e) => [e.index, e]));
  const nameOf = (index: number) => byIndex.get(index)?.label ?? String(index);
  const known = new Map(opts.geometry?.map((t) => [t.name, t]));
  const tomograms = new Map<string, Tomogram>();
  const addTomogram = (name: string, fromList: Partial<Tomogram>) => tomograms.set(name, { ...known.get(name), ...fromList, name });
  for (const e of opts.volumes?.entries ?? []) {
    addTomogram(nameOf(e.index), { path: e.path, ...(e.pixelSize ? { pixelSize: e.pixelSize } : {}) });
  }
  const tomogramNumber = (d: DynamoParticle) => {
    const tomo = column(d.row, DYNAMO_COLUMN.tomo);
    return tomo === undefined || tomo === 0 ? undefined : tomo;
  };
  const pixelOf = (d: DynamoParticle) => {
    const tomo = tomogramNumber(d);
    return (tomo !== undefined ? (tomograms.get(nameOf(tomo)) ?? known.get(nameOf(tomo)))?.pixelSize : undefined) ?? opts.pixelSize;
  };
  const voxelSize = rows.map(pixelOf).find((p) => p !== undefined);
  const particles = rows.map((d, r): Particle => {
    const scale = tableToListScale(pixelOf(d), voxelSize);
    const pose = { ...d.pose, tx: d.pose.tx * scale, ty: d.pose.ty * scale, tz: d.pose.tz * scale };
    const p: Particle = { name: String(d.tag), sourceRow: r, pose, tilt: tiltRangeDegrees(d.tiltMinDeg, d.tiltMaxDeg), scores: { ccc: d.cc } };
    const tomo = tomogramNumber(d);
    if (tomo !== undefined) {
      if (opts.volumes && !byIndex.has(tomo)) {
        const numbers = [...byIndex.keys()].join(', ');
        throw new Error(`${source}:${d.line}: column 20 names tomogram ${tomo}, which ${opts.volumes.source} does not list (it numbers ${numbers})`);
      }
      if (!tomograms.has(nameOf(tomo))) addTomogram(nameOf(tomo), {});
      p.tomogram = nameOf(tomo);
    }
    const cls = column(d.row, DYNAMO_COLUMN.class);
    if (cls !== undefined && cls !== 0) p.classNumber = cls;
    const [x, y, z] = [DYNAMO_COLUMN.x, DYNAMO_COLUMN.y, DYNAMO_COLUMN.z].map((c) => column(d.row, c) ?? 0);
    if (x !== 0 || y !== 0 || z !== 0) {
      const pixelSize = pixelOf(d);
      p.position = { frame: 'pixels', x, y, z, origin: 1, ...(pixelSize ? { pixelSize } : {}) };
    }
    return p;
  });
  const width = Math.max(...rows.map((d) => d.row.length));
  const list: ParticleList = {
    particles,
    tomograms: [...tomograms.values()],
    origin: {
      format: 'dynamo',
      path: source,
      tables: [{ name: 'dynamo', columns: Array.from({ length: width }, (_, i) => String(i + 1)), rows: rows.map((d) => [...d.row]) }],
      particleTable: 'dynamo',
      ...(opts.volumes ? { companions: [opts.volumes.source] } : {}),
    },
  };
  if (voxelSize !== undefined) list.voxelSize = voxelSize;
  return list;
}

/**
 * The table text of `list`. Read from a Dynamo table: each row as read with the pose (4–9), cc (10) and
 * class (22) replaced. Otherwise fresh rows: tag = position in the list, the pose in the tomogram's axes, the
 * tilt range (ftype 1; without one, Dynamo's blank-table ftype 0), cc, tomogram number = position in
 * `list.tomograms` (as formatVolumeList numbers them), class and position. Shifts and positions are in the
 * pixels of the particle's tomogram. Half-sets have no Dynamo column and are dropped.
 */
export function formatDynamoList(list: ParticleList): string {
  const same = list.origin.format === 'dynamo' && list.particles.every((p) => p.sourceRow !== undefined);
  const source = list.origin.tables[0];
  const tomogramIndex = new Map(list.tomograms.map((t, i) => [t.name, i + 1]));
  const tomogramOf = new Map(list.tomograms.map((t) => [t.name, t]));
  const rows = list.particles.map((p, i) => {
    const tomogram: Tomogram = p.tomogram !== undefined ? (tomogramOf.get(p.tomogram) ?? { name: p.tomogram }) : { name: '' };
    const own = p.position?.frame === 'pixels' ? p.position.pixelSize : undefined;
    const tablePixel = tomogram.pixelSize ?? own ?? list.voxelSize;
    const toTable = 1 / tableToListScale(tablePixel, list.voxelSize);
    const inTable = (pose: Pose): Pose => ({ ...pose, tx: pose.tx * toTable, ty: pose.ty * toTable, tz: pose.tz * toTable });
    if (same) {
      const row = source.rows[p.sourceRow!].map(Number);
      const c = (k: number) => row[k - 1];
      const read = poseFromDynamo({ tdrot: c(7), tilt: c(8), narot: c(9) }, { dx: c(4), dy: c(5), dz: c(6) });
      // A pose equal to the one the row gives keeps the row's numbers (no re-derived digits).
      if (p.pose && !samePose(inTable(p.pose), read)) {
        const d = poseToDynamo(inTable(p.pose));
        [d.dx, d.dy, d.dz, d.tdrot, d.tilt, d.narot].forEach((v, k) => (row[DYNAMO_COLUMN.dx - 1 + k] = v));
      }
      if (p.scores) row[DYNAMO_COLUMN.cc - 1] = p.scores.ccc;
      if (p.classNumber !== undefined) {
        while (row.length < DYNAMO_COLUMN.class) row.push(0);
        row[DYNAMO_COLUMN.class - 1] = p.classNumber;
      }
      return row;
    }
    const row = dynamoRow({
      tag: i + 1,
      pose: inTable(poseInTomogram(p) ?? { phi: 0, theta: 0, psi: 0, tx: 0, ty: 0, tz: 0 }),
      tiltMinDeg: p.tilt ? degrees(p.tilt.min) : -FULL_RANGE,
      tiltMaxDeg: p.tilt ? degrees(p.tilt.max) : FULL_RANGE,
      cc: p.scores?.ccc,
    });
    if (p.tomogram !== undefined) row[DYNAMO_COLUMN.tomo - 1] = tomogramIndex.get(p.tomogram) ?? 0;
    if (p.classNumber !== undefined) row[DYNAMO_COLUMN.class - 1] = p.classNumber;
    if (p.position) {
      let xyz: number[];
      try {
        xyz = positionInFrame(p.position, tomogram, { ...(tablePixel ? { pixelSize: tablePixel } : {}), origin: 1 });
      } catch (err) {
        throw new Error(`particle ${p.name}: ${(err as Error).message}`);
      }
      xyz.forEach((v, k) => (row[DYNAMO_COLUMN.x - 1 + k] = v));
    }
    return row;
  });
  return rows.map((row) => row.map((v) => String(v)).join(' ')).join('\n') + '\n';
}
