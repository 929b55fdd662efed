/**
 * STAR files as RELION writes them: data blocks, each with one loop (or single key–value pairs, read as a
 * one-row table), and the RELION ↔ subtomo pose conversion.
 *
 * Pose conversion (RELION conventions, checked against its projector and the teamtomo `eulerangles` notes):
 * - RELION builds A = Euler_angles2matrix(rot, tilt, psi), which is (Rz(rot)·Ry(tilt)·Rz(psi))ᵀ in our
 *   active ZYZ convention, and a particle is the reference rotated by A. Our pose has particle = Λ_R(reference),
 *   so A = R: (rot, tilt, psi) are the ZYZ angles of Rᵀ = R⁻¹, i.e. (−ψ, −θ, −φ) up to the ZYZ ambiguity
 *   (written with tilt ∈ [0°, 180°]).
 * - RELION places the particle centre at coordinate − origin, while ours sits at box centre + T, so
 *   rlnOrigin{X,Y,Z}Angst = −T · voxel size.
 */
import { readFile } from 'node:fs/promises';
import { degrees, eulerToMatrix, matrixToEuler, poseFromMatrix, radians, transpose } from '../core/rotate.ts';
import type { Pose } from '../core/rotate.ts';
import { writeFileAtomic } from './atomic.ts';

export type StarValue = string | number;

/** One data block: `data_<name>` with one loop over `columns` (labels without the leading underscore). */
export interface StarTable {
  name: string;
  columns: string[];
  rows: StarValue[][];
}

/** RELION 3.1+ writes this comment first; RELION 5 reads files without it too. */
const VERSION_LINE = '# version 50001';

export function formatStar(tables: readonly StarTable[]): string {
  const out: string[] = ['', VERSION_LINE, ''];
  for (const t of tables) {
    if (!/^\S*$/.test(t.name)) throw new RangeError(`STAR block name '${t.name}' must not contain whitespace`);
    out.push(`data_${t.name}`, '', 'loop_');
    t.columns.forEach((c, i) => {
      if (!/^[A-Za-z0-9_]+$/.test(c)) throw new RangeError(`STAR label '${c}' must be letters, digits and _ only`);
      out.push(`_${c} #${i + 1}`);
    });
    for (const row of t.rows) {
      if (row.length !== t.columns.length) {
        throw new RangeError(`STAR block ${t.name}: a row has ${row.length} values for ${t.columns.length} columns`);
      }
      out.push(row.map(formatValue).join('\t'));
    }
    out.push('', '');
  }
  return out.join('\n');
}

function formatValue(v: StarValue): string {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) throw new RangeError('cannot write NaN to a STAR file');
    return v === Infinity ? 'inf' : v === -Infinity ? '-inf' : String(v);
  }
  if (v === '') return '""';
  if (/\s|^["'_#$]|^(data_|loop_|save_|stop_|global_)/i.test(v)) {
    if (v.includes('"') && v.includes("'")) throw new RangeError(`STAR value cannot hold both quote characters: ${v}`);
    return v.includes('"') ? `'${v}'` : `"${v}"`;
  }
  return v;
}

/** All data blocks of a STAR file; values stay strings (see `starNumber`). Errors name the source and line. */
export function parseStar(text: string, source: string): StarTable[] {
  const tables: StarTable[] = [];
  let current: StarTable | null = null;
  let inLoop = false;
  let readingLabels = false;
  const lines = text.split(/\r?\n/);
  for (let li = 0; li < lines.length; li++) {
    const where = `${source}:${li + 1}`;
    const tokens = tokeniseLine(lines[li], where);
    if (tokens.length === 0) continue;
    const first = tokens[0];
    if (first.startsWith('data_')) {
      current = { name: first.slice(5), columns: [], rows: [] };
      tables.push(current);
      inLoop = false;
      readingLabels = false;
    } else if (first === 'loop_') {
      if (!current) throw new Error(`${where}: loop_ before any data_ block`);
      if (current.columns.length > 0) throw new Error(`${where}: block data_${current.name} has more than one loop`);
      inLoop = true;
      readingLabels = true;
    } else if (first.startsWith('_')) {
      if (!current) throw new Error(`${where}: label ${first} before any data_ block`);
      if (inLoop) {
        if (!readingLabels) throw new Error(`${where}: label ${first} after the loop's values`);
        current.columns.push(first.slice(1));
      } else {
        if (tokens.length < 2) throw new Error(`${where}: ${first} has no value`);
        current.columns.push(first.slice(1));
        if (current.rows.length === 0) current.rows.push([]);
        current.rows[0].push(tokens[1]);
      }
    } else {
      if (!current || !inLoop) throw new Error(`${where}: value outside a loop`);
      readingLabels = false;
      if (tokens.length !== current.columns.length) {
        throw new Error(`${where}: ${tokens.length} values for the ${current.columns.length} columns of data_${current.name}`);
      }
      current.rows.push(tokens);
    }
  }
  if (tables.length === 0) throw new Error(`${source}: no data_ block — is this a STAR file?`);
  return tables;
}

function tokeniseLine(line: string, where: string): string[] {
  const tokens: string[] = [];
  let p = 0;
  while (p < line.length) {
    const ch = line[p];
    if (ch === ' ' || ch === '\t') p++;
    else if (ch === '#') break;
    else if (ch === '"' || ch === "'") {
      const q = line.indexOf(ch, p + 1);
      if (q < 0) throw new Error(`${where}: unterminated quoted value`);
      tokens.push(line.slice(p + 1, q));
      p = q + 1;
    } else {
      let q = p;
      while (q < line.length && line[q] !== ' ' && line[q] !== '\t') q++;
      tokens.push(line.slice(p, q));
      p = q;
    }
  }
  return tokens;
}

export async function writeStar(path: string, tables: readonly StarTable[]): Promise<void> {
  await writeFileAtomic(path, formatStar(tables));
}

export async function readStar(path: string): Promise<StarTable[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read STAR file ${path}: ${(err as Error).message}`);
  }
  return parseStar(text, path);
}

/** The block called `name`, or an error listing the blocks present. */
export function starBlock(tables: readonly StarTable[], name: string, source: string): StarTable {
  const t = tables.find((b) => b.name === name);
  if (!t) throw new Error(`${source}: no data_${name} block (found: ${tables.map((b) => `data_${b.name}`).join(', ')})`);
  return t;
}

/** Numeric value of column `label` in `row` of `table` ('inf' and '-inf' allowed). */
export function starNumber(table: StarTable, row: number, label: string, source: string): number {
  const c = table.columns.indexOf(label);
  if (c < 0) throw new Error(`${source}: data_${table.name} has no column _${label}`);
  const raw = String(table.rows[row][c]);
  const v = raw === 'inf' ? Infinity : raw === '-inf' ? -Infinity : Number(raw);
  if (Number.isNaN(v) || raw.trim() === '') throw new Error(`${source}: _${label} of row ${row + 1} is not a number: '${raw}'`);
  return v;
}

export const RELION_POSE_COLUMNS = [
  'rlnAngleRot',
  'rlnAngleTilt',
  'rlnAnglePsi',
  'rlnOriginXAngst',
  'rlnOriginYAngst',
  'rlnOriginZAngst',
] as const;

/** [rot, tilt, psi (degrees), originX, originY, originZ (Å)] of a pose (see module doc). */
export function poseToRelion(pose: Pose, voxelSize: number): number[] {
  const e = matrixToEuler(transpose(eulerToMatrix(pose)));
  return [degrees(e.phi), degrees(e.theta), degrees(e.psi), -pose.tx * voxelSize, -pose.ty * voxelSize, -pose.tz * voxelSize];
}

/** Inverse of poseToRelion for row `row` of a table with RELION_POSE_COLUMNS. */
export function poseFromRelion(table: StarTable, row: number, voxelSize: number, source: string): Pose {
  const [rot, tilt, psi, ox, oy, oz] = RELION_POSE_COLUMNS.map((c) => starNumber(table, row, c, source));
  const R = transpose(eulerToMatrix({ phi: radians(rot), theta: radians(tilt), psi: radians(psi) }));
  return poseFromMatrix(R, [-ox / voxelSize, -oy / voxelSize, -oz / voxelSize]);
}
