/**
 * The fan-in of a sweep: one row per member (its matrix values and headline results) written as JSON, a
 * Markdown table and CSV, as a cached store step (the same rows give the same files).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactRef } from '../io/artifacts.ts';
import { runCampaignStep, type Reuse } from './common.ts';

export type Cell = string | number | boolean;

export interface SweepRow {
  /** The member's node name, `<sweep>[<label>]`. */
  member: string;
  /** Axis → the member's value. */
  values: Record<string, Cell>;
  /** Headline results, e.g. `best resolution (Å)` → 31.2. */
  results: Record<string, Cell>;
  /** The member's child workflow. */
  workflowId: string;
}

export interface SweepTableInput {
  workdir: string;
  sweep: string;
  axes: string[];
  rows: SweepRow[];
}

export interface SweepTableFile {
  format: 'subtomo-sweep-table/1';
  sweep: string;
  axes: string[];
  /** Result columns, in the order of first appearance. */
  columns: string[];
  rows: SweepRow[];
}

export interface SweepTableResult extends Reuse {
  /** SweepTableFile JSON. */
  json: ArtifactRef;
  markdown: ArtifactRef;
  csv: ArtifactRef;
  rows: number;
}

/** A cell as text: numbers with at most 3 decimals (trailing zeros dropped), so tables stay readable. */
export function cellText(v: Cell | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(3)));
  return String(v);
}

/** The columns and rows of a sweep table, ready to print. */
export function tableCells(file: Pick<SweepTableFile, 'axes' | 'columns' | 'rows'>): { header: string[]; body: string[][] } {
  return {
    header: [...file.axes, ...file.columns, 'workflow'],
    body: file.rows.map((r) => [...file.axes.map((a) => cellText(r.values[a])), ...file.columns.map((c) => cellText(r.results[c])), r.workflowId]),
  };
}

function markdown(file: SweepTableFile): string {
  const { header, body } = tableCells(file);
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [`# Sweep ${file.sweep}`, '', line(header), `|${header.map(() => '---').join('|')}|`, ...body.map(line), ''].join('\n');
}

function csv(file: SweepTableFile): string {
  const { header, body } = tableCells(file);
  const quote = (c: string) => (/[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c);
  return [header, ...body].map((cells) => cells.map(quote).join(',')).join('\n') + '\n';
}

/** Writes the comparison table of a sweep's members. */
export async function sweepTable(input: SweepTableInput): Promise<SweepTableResult> {
  const columns = [...new Set(input.rows.flatMap((r) => Object.keys(r.results)))];
  const file: SweepTableFile = { format: 'subtomo-sweep-table/1', sweep: input.sweep, axes: input.axes, columns, rows: input.rows };
  const step = await runCampaignStep(input.workdir, 'sweep-table', { sweep: input.sweep, axes: input.axes, rows: input.rows }, {}, async (dir) => {
    await writeFile(join(dir, 'table.json'), `${JSON.stringify(file, null, 1)}\n`);
    await writeFile(join(dir, 'table.md'), markdown(file));
    await writeFile(join(dir, 'table.csv'), csv(file));
    return { json: 'table.json', markdown: 'table.md', csv: 'table.csv' };
  });
  const { json, markdown: md, csv: table } = step.outputs;
  return { json, markdown: md, csv: table, rows: input.rows.length, reused: step.reused };
}
