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
 * subtomo uses 1–10 and 13–15; every other column of a row that was read is carried through unchanged, and
 * new rows get Dynamo's 35 columns with aligned = 1 and zeros elsewhere.
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
import { degrees, eulerToMatrix, multiply, poseFromMatrix, radians, rotationX, rotationZ, transpose, wrapAngle } from '../core/rotate.ts';
import type { Mat3, Pose } from '../core/rotate.ts';
import { writeFileAtomic } from './atomic.ts';

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
    particles.push({ tag, pose, tiltMinDeg, tiltMaxDeg, cc: col(DYNAMO_COLUMN.cc), row });
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

export async function readDynamoTable(path: string): Promise<DynamoParticle[]> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new Error(`cannot read Dynamo table ${path}: ${err.message}`);
  });
  return parseDynamoTable(text, path);
}

export async function writeDynamoTable(path: string, particles: readonly DynamoRowInput[]): Promise<void> {
  await writeFileAtomic(path, formatDynamoTable(particles));
}
