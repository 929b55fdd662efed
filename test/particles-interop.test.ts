/**
 * The ecosystem reads what subtomo writes: teamtomo's `starfile` (the Python reader behind many cryo-ET
 * tools) parses every STAR flavour io/particles.ts writes, written back into the flavour read and
 * converted from the others, and finds the same blocks, columns, rows and values as io/star.ts. The Python
 * comes from the venv infra/install.sh creates (test/helpers/python.ts); in CI a missing one fails.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { ListFormat } from '../model/particles.ts';
import { readParticleList, writeParticleList, type ReadListOptions } from '../io/particles.ts';
import { parseStar } from '../io/star.ts';
import { pythonWith, runPythonJson } from './helpers/python.ts';

const DATA = fileURLToPath(new URL('./data/lists/', import.meta.url));
const PROJECT = join(DATA, 'relion-project');
const TOMOGRAMS = join(PROJECT, 'Tomograms/job010/tomograms.star');
const work = mkdtempSync(join(tmpdir(), 'subtomo-starfile-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every block starfile finds: its columns and its rows, values as starfile typed them. */
const READ_WITH_STARFILE = `
import json, sys, starfile
blocks = starfile.read(sys.argv[1], always_dict=True)
def plain(v):
    return v.item() if hasattr(v, 'item') else v
out = {}
for name, block in blocks.items():
    if isinstance(block, dict):
        out[name] = {'columns': list(block.keys()), 'rows': [[plain(v) for v in block.values()]]}
    else:
        out[name] = {'columns': [str(c) for c in block.columns], 'rows': [[plain(v) for v in row] for row in block.itertuples(index=False)]}
print(json.dumps(out))
`;

type Blocks = Record<string, { columns: string[]; rows: (string | number)[][] }>;

const cases: { from: string; path: string; opts: ReadListOptions; to: Exclude<ListFormat, 'dynamo'> }[] = [
  { from: 'relion5', path: join(PROJECT, 'Extract/job020/particles.star'), opts: { tomograms: TOMOGRAMS }, to: 'relion5' },
  { from: 'relion4', path: join(PROJECT, 'Extract/job005/particles.star'), opts: {}, to: 'relion4' },
  { from: 'warp', path: join(DATA, 'warp/particles.star'), opts: {}, to: 'warp' },
  { from: 'relion4', path: join(PROJECT, 'Extract/job005/particles.star'), opts: { tomograms: TOMOGRAMS }, to: 'relion5' },
  { from: 'relion5', path: join(PROJECT, 'Extract/job020/particles.star'), opts: { tomograms: TOMOGRAMS }, to: 'relion4' },
  { from: 'relion5', path: join(PROJECT, 'Extract/job020/particles.star'), opts: { tomograms: TOMOGRAMS }, to: 'warp' },
  { from: 'dynamo', path: join(DATA, 'dynamo/particles.tbl'), opts: { tomograms: [join(DATA, 'dynamo/tomograms.vll'), TOMOGRAMS] }, to: 'relion5' },
  { from: 'dynamo', path: join(DATA, 'dynamo/particles.tbl'), opts: { tomograms: join(DATA, 'dynamo/tomograms.vll') }, to: 'relion4' },
];

describe('teamtomo starfile reads every STAR flavour subtomo writes', () => {
  const found = pythonWith(['starfile']);

  for (const c of cases) {
    it(`${c.from} → ${c.to}`, async (ctx) => {
      if (!found.python) return ctx.skip(found.skipReason);
      const out = join(work, `${c.from}-to-${c.to}.star`);
      await writeParticleList(await readParticleList(c.path, c.opts), out, c.to);
      const ours = parseStar(readFileSync(out, 'utf8'), out);
      const theirs = runPythonJson<Blocks>(found.python, READ_WITH_STARFILE, [out]);
      expect(Object.keys(theirs)).toEqual(ours.map((t) => t.name));
      expect(Object.keys(theirs)).toEqual(
        c.to === 'relion5' ? ['general', 'optics', 'particles'] : c.from === 'warp' ? [''] : ['optics', 'particles'],
      );
      for (const table of ours) {
        const block = theirs[table.name];
        expect(block.columns).toEqual(table.columns);
        expect(block.rows.length).toBe(table.rows.length);
        table.rows.forEach((row, r) =>
          row.forEach((cell, k) => {
            const value = block.rows[r][k];
            // pandas' fast float parser may land one ulp off the correctly rounded double.
            if (typeof value === 'number') expect(Math.abs(value - Number(cell))).toBeLessThanOrEqual(4e-16 * Math.max(1, Math.abs(value)));
            else expect(value).toBe(String(cell));
          }),
        );
      }
      const particles = theirs[c.from === 'warp' && c.to === 'warp' ? '' : 'particles'];
      const column = (label: string) => particles.rows.map((row) => row[particles.columns.indexOf(label)]);
      if (c.to === 'relion5') expect(new Set(column('rlnTomoName'))).toEqual(new Set(['TS_01', 'TS_02']));
      expect(column('rlnAngleTilt').every((v) => typeof v === 'number')).toBe(true);
    });
  }
});
