/**
 * STAR tables with the line each row came from, so that a bad value is reported as file:line and column
 * (`particles.star:42: _rlnAngleTilt (column 6) is not a number: 'abc'`). Parsing is io/star.ts's; this
 * module only finds, in text io/star.ts has already accepted, the line of every row: each non-blank,
 * non-comment line of a loop that is not `data_`, `loop_` or a `_label` is one row, as parseStar reads it.
 */
import { readFile } from 'node:fs/promises';
import { type StarTable, parseStar } from './star.ts';

export interface StarDocument {
  /** Absolute path, for messages and for resolving relative names. */
  path: string;
  tables: StarTable[];
  /** 1-based line of each row of each table (a key–value block: the line of its first label). */
  rowLines: Map<StarTable, number[]>;
  /** 1-based line of each label of a key–value block, where the value stands. */
  labelLines: Map<StarTable, number[]>;
}

export function parseStarDocument(text: string, path: string): StarDocument {
  const tables = parseStar(text, path);
  const rowLines = new Map<StarTable, number[]>();
  const labelLines = new Map<StarTable, number[]>();
  let t = -1;
  let inLoop = false;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('data_')) {
      t++;
      rowLines.set(tables[t], []);
      labelLines.set(tables[t], []);
      inLoop = false;
    } else if (line.startsWith('loop_')) {
      inLoop = true;
    } else if (line.startsWith('_')) {
      if (!inLoop) {
        labelLines.get(tables[t])!.push(i + 1);
        if (rowLines.get(tables[t])!.length === 0) rowLines.get(tables[t])!.push(i + 1);
      }
    } else {
      rowLines.get(tables[t])!.push(i + 1);
    }
  });
  return { path, tables, rowLines, labelLines };
}

export async function readStarDocument(path: string): Promise<StarDocument> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new Error(`cannot read STAR file ${path}: ${err.message}`);
  });
  return parseStarDocument(text, path);
}

/** The block named `name`, if the document has it. */
export function findBlock(doc: StarDocument, name: string): StarTable | undefined {
  return doc.tables.find((t) => t.name === name);
}

/** `file:line` of a row, with the column when a label is given: the prefix of every message about a cell. */
export function starWhere(doc: StarDocument, table: StarTable, row: number, label?: string): string {
  const c = label === undefined ? -1 : table.columns.indexOf(label);
  const line = c >= 0 && (doc.labelLines.get(table)?.length ?? 0) > 0 ? doc.labelLines.get(table)![c] : doc.rowLines.get(table)?.[row];
  const at = `${doc.path}:${line ?? `data_${table.name} row ${row + 1}`}`;
  return c >= 0 ? `${at}: _${label} (column ${c + 1} of data_${table.name})` : at;
}

export function hasColumn(table: StarTable, label: string): boolean {
  return table.columns.includes(label);
}

export function cellText(doc: StarDocument, table: StarTable, row: number, label: string): string {
  const c = table.columns.indexOf(label);
  if (c < 0) throw new Error(`${doc.path}: data_${table.name} has no column _${label}`);
  return String(table.rows[row][c]);
}

/** A numeric cell ('inf' and '-inf' allowed, as RELION writes them). */
function cellNumber(doc: StarDocument, table: StarTable, row: number, label: string): number {
  const raw = cellText(doc, table, row, label);
  const v = raw === 'inf' ? Infinity : raw === '-inf' ? -Infinity : Number(raw);
  if (Number.isNaN(v) || raw.trim() === '') throw new Error(`${starWhere(doc, table, row, label)} is not a number: '${raw}'`);
  return v;
}

/** A numeric cell that must be finite (angles, coordinates, sizes). */
export function cellFinite(doc: StarDocument, table: StarTable, row: number, label: string): number {
  const v = cellNumber(doc, table, row, label);
  if (!Number.isFinite(v)) throw new Error(`${starWhere(doc, table, row, label)} must be finite, got ${v}`);
  return v;
}

/** The cell as a number when the column exists, else undefined. */
export function optionalFinite(doc: StarDocument, table: StarTable, row: number, label: string): number | undefined {
  return hasColumn(table, label) ? cellFinite(doc, table, row, label) : undefined;
}

/**
 * Whether the table has all of `labels` (true) or none (false); a partial set is an error naming the
 * labels that are missing.
 */
export function hasColumnGroup(doc: StarDocument, table: StarTable, labels: readonly string[]): boolean {
  const present = labels.filter((l) => hasColumn(table, l));
  if (present.length === 0) return false;
  if (present.length < labels.length) {
    const missing = labels.filter((l) => !hasColumn(table, l));
    throw new Error(
      `${doc.path}: data_${table.name} has ${present.map((l) => `_${l}`).join(', ')} but not ${missing.map((l) => `_${l}`).join(', ')}`,
    );
  }
  return true;
}
