/**
 * `subtomo classify` on a mixture of two structures (the D7 GroEL-like phantom and RuBisCO, 1BXN): exact
 * classification of noise-free particles, assignments that do not depend on the particles' order, and a
 * one-class run that is exactly `subtomo align` followed by `subtomo average`.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run.ts';
import { adjustedRandIndex } from '../core/classify.ts';
import { readMrc } from '../io/mrc.ts';
import { readParticleList } from '../io/particles.ts';
import { formatStar, readStar, starBlock } from '../io/star.ts';
import { simulateMixture, writeReversed } from './helpers/mixture.ts';

let root: string;
let mixture: string;
const PER_CLASS = 8;

async function cli(...argv: string[]): Promise<string> {
  let err = '';
  const code = await runCli(argv, { out: () => undefined, err: (t) => (err += t) });
  expect(code, err).toBe(0);
  return err;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'subtomo-classify-'));
  await simulateMixture(root, 2 * PER_CLASS);
  mixture = join(root, 'particles.star');
  await writeReversed(mixture, join(root, 'reversed.star'));
  // the phantom's particles alone: one structure
  const tables = await readStar(mixture);
  const particles = starBlock(tables, 'particles', mixture);
  const truth = particles.columns.indexOf('subtomoTrueClass');
  const first = particles.rows[0][truth];
  await writeFile(join(root, 'one.star'), formatStar(tables.map((t) => (t === particles ? { ...t, rows: t.rows.filter((r) => r[truth] === first) } : t))));
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const MPI = ['--mpi', '2'];
const FAST = ['--candidates', '2', '--bandwidth', '8', '--max-shift', '2', '--mask-radius', '13', '--mask-edge', '2'];

describe('subtomo classify', () => {
  it('separates noise-free particles of two structures exactly, whatever their order and the number of MPI ranks', async () => {
    const out = join(root, 'two');
    await cli('classify', '--particles', mixture, '--classes', '2', '--iterations', '2', '--out', out, ...FAST);
    const summary = JSON.parse(await readFile(join(out, 'classification.json'), 'utf8')) as {
      history: { classes: unknown[]; ari: number }[];
      confusion: { counts: number[][] };
    };
    expect(summary.history.map((h) => h.classes.length)).toEqual([2, 2]);
    expect(summary.history[1].ari).toBe(1);
    const list = await readParticleList(join(out, 'particles.star'));
    const classes = list.particles.map((p) => p.classNumber!);
    expect(summary.confusion.counts.flat().sort((a, b) => a - b)).toEqual([0, 0, PER_CLASS, PER_CLASS]);

    const reversedOut = join(root, 'two-reversed');
    await cli('classify', '--particles', join(root, 'reversed.star'), '--classes', '2', '--iterations', '2', '--out', reversedOut, ...FAST, ...MPI);
    const reversed = await readParticleList(join(reversedOut, 'particles.star'));
    const classOf = new Map(reversed.particles.map((p) => [p.image!, p.classNumber!]));
    expect(adjustedRandIndex(classes, list.particles.map((p) => classOf.get(p.image!)!))).toBe(1);
  });

  it('with one class is subtomo align followed by subtomo average', async () => {
    const ref = join(root, 'reference_phantom.mrc');
    const one = join(root, 'one');
    await cli('classify', '--particles', mixture, '--classes', '1', '--refs', ref, '--iterations', '1', '--initial-lowpass', '40', '--out', one, ...FAST, '--seed', '7');
    // The same start: the reference low-passed to 40 Å inside the mask, the seed classify uses for iteration 1.
    const start = join(one, 'iteration_00', 'class_001', 'reference.mrc');
    await cli('align', '--particles', mixture, '--ref', start, '--out', join(root, 'aligned.star'), ...FAST, '--seed', '8');
    await cli('average', '--particles', join(root, 'aligned.star'), '--out', join(root, 'avg'));
    for (const [mine, theirs] of [['half_odd.mrc', 'half_odd.mrc'], ['half_even.mrc', 'half_even.mrc'], ['average.mrc', 'average.mrc']]) {
      const a = await readMrc(join(one, 'iteration_01', 'class_001', mine));
      const b = await readMrc(join(root, 'avg', theirs));
      expect(Array.from(a.data)).toEqual(Array.from(b.data));
    }
  });

  it('merges two classes of one structure after the first iteration, and not when their maps do not reach the band', async () => {
    const merged = async (...flags: string[]) => {
      const out = join(root, `merge${flags.join('')}`);
      await cli('classify', '--particles', join(root, 'one.star'), '--classes', '2', '--iterations', '2', '--min-class-size', '2', '--out', out, ...FAST, ...flags);
      const summary = JSON.parse(await readFile(join(out, 'classification.json'), 'utf8')) as { history: { classes: { class: number; mergedInto?: number; similarity?: number }[] }[] };
      expect(summary.history[0].classes).toHaveLength(2);
      return summary.history.map((h) => h.classes.filter((k) => k.mergedInto !== undefined));
    };
    const [first, second] = await merged();
    expect(first).toHaveLength(1);
    expect(first[0].similarity).toBeGreaterThan(0.95);
    expect(second).toEqual([]); // never in the last iteration
    // a band finer than the maps resolve (24 Å at best, Nyquist of 12 Å voxels): no class is compared
    expect((await merged('--lowpass', '20')).flat()).toEqual([]);
  });

  it('refuses bad settings naming the flag', async () => {
    const bad = async (...flags: string[]) => {
      let err = '';
      const code = await runCli(['classify', '--particles', mixture, '--out', join(root, 'bad'), ...flags], { out: () => undefined, err: (t) => (err += t) });
      expect(code).toBe(2);
      return err;
    };
    expect(await bad('--classes', '0')).toMatch(/--classes must be at least 1, got 0/);
    expect(await bad('--classes', '99')).toMatch(/--classes 99 exceeds the 16 particles/);
    expect(await bad('--classes', '2', '--temperature', '-1')).toMatch(/--temperature must be ≥ 0/);
    expect(await bad('--classes', '2', '--cooling', '1.5')).toMatch(/--cooling must be in \(0, 1\]/);
    expect(await bad('--classes', '2', '--min-class-size', '1')).toMatch(/--min-class-size must be at least 2/);
    expect(await bad('--classes', '2', '--merge', '0')).toMatch(/--merge must be positive \(a similarity; 1 = one structure\), got 0/);
    expect(await bad('--classes', '2', '--lowpass', '-1')).toMatch(/--lowpass must be positive \(Å\), got -1/);
    expect(await bad('--classes', '2', '--refs', 'a.mrc')).toMatch(/--refs names 1 maps for --classes 2/);
    expect(await bad('--classes', '2', '--stop-changd', '0.1')).toMatch(/unknown flag --stop-changd; did you mean --stop-changed\?/);
  });
});
