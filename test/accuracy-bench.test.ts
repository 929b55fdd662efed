import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METHOD_LABEL } from '../bench/accuracy-report.ts';
import { type AccuracyReport, parseConditions, readPlan, sameLossComparison } from '../bench/accuracy.ts';
import { eulerToMatrix, radians } from '../core/rotate.ts';
import { median } from '../core/stats.ts';
import { rotationErrorUnderSymmetry } from '../core/symmetry.ts';
import { UsageError } from '../os/args.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'subtomo-accuracy-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('bench/accuracy.ts options', () => {
  it('parses SNR:tilt conditions, including noise free and full tilt', () => {
    expect(parseConditions('0.03:60, inf:90')).toEqual([
      { snr: 0.03, tiltDeg: 60 },
      { snr: Infinity, tiltDeg: 90 },
    ]);
  });

  it('rejects malformed conditions and methods with messages naming the flag', () => {
    expect(() => parseConditions('0.01-60')).toThrow(/--conditions entry '0.01-60'/);
    expect(() => parseConditions('0.01:95')).toThrow(UsageError);
    expect(() => readPlan(['--methods', 'sag,foo'])).toThrow(/--methods: unknown method 'foo'/);
    expect(() => readPlan(['--particles', '1'])).toThrow(/--particles must be at least 2/);
    expect(() => readPlan(['--voxel', '-3'])).toThrow(/--voxel: voxel size must be positive/);
    expect(() => readPlan(['--align-box', '33'])).toThrow(/--align-box must be auto, full or an even number/);
  });

  it('defaults to the paper: six conditions, 20 particles, 64³ at 6 Å, SAG/Xu/Chen, 10 candidates', () => {
    const plan = readPlan([]);
    expect(plan.conditions.map((c) => `${c.snr}:${c.tiltDeg}`)).toEqual(['0.03:60', '0.03:40', '0.01:60', '0.01:40', '0.003:60', '0.003:40']);
    expect([plan.particles, plan.n, plan.voxelSize, plan.candidates, plan.referenceResolution]).toEqual([20, 64, 6, 10, 60]);
    expect(plan.methods).toEqual(['sag', 'lm', 'chen']);
    expect(plan.alignBox).toBe(64);
    // The FTM search must reach the largest true shift, ±4 voxels on every axis.
    expect(plan.searchShift).toBeGreaterThan(4 * Math.sqrt(3));
  });
});

describe('sameLossComparison', () => {
  it('charges each algorithm until its loss first reaches the worse of the two best losses', () => {
    const a2 = { lossTrace: [1, 0.5, 0.3, 0.31], evaluationTrace: [0, 2, 4, 6], timeTrace: [0, 10, 20, 30] };
    const a1 = { lossTrace: [1, 0.8, 0.4, 0.35], evaluationTrace: [0, 3, 6, 9], timeTrace: [0, 5, 10, 15] };
    const r = sameLossComparison(2, a2, a1);
    expect(r.targetLoss).toBe(0.35);
    expect(r.sag).toEqual({ ms: 20, evaluations: 4 });
    expect(r.sag1).toEqual({ ms: 15, evaluations: 9 });
  });
});

describe('bench/accuracy.ts --quick, end to end', () => {
  let run: SpawnSyncReturns<string>;
  beforeAll(() => {
    run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/accuracy.ts', '--quick', '--out', out], {
      cwd: repo,
      encoding: 'utf8',
      timeout: 120_000,
    });
  }, 120_000);
  const report = (): AccuracyReport => JSON.parse(readFileSync(join(out, 'accuracy.json'), 'utf8'));

  it('finishes and writes the table, the plot and the raw results', () => {
    expect(run.status, run.stderr).toBe(0);
    for (const f of ['accuracy.md', 'accuracy.svg', 'accuracy.json']) expect(existsSync(join(out, f))).toBe(true);
    expect(run.stderr).toMatch(/particle 4\/4/); // progress
    expect(run.stdout).toBe(readFileSync(join(out, 'accuracy.md'), 'utf8'));
  });

  it('records every method for every particle, with errors that agree with the recorded poses', () => {
    const r = report();
    expect(r.conditions).toHaveLength(1);
    const [c] = r.conditions;
    expect(c.particles).toHaveLength(4);
    expect(c.subtomogramSnr).toBeGreaterThan(0);
    const deg = (p: number[]) => eulerToMatrix({ phi: radians(p[0]), theta: radians(p[1]), psi: radians(p[2]) });
    for (const p of c.particles) {
      expect(p.frm.candidateErrorsDeg).toHaveLength(3);
      for (const m of r.plan.methods) {
        const o = p.outcomes[m]!;
        const rotation = (rotationErrorUnderSymmetry(deg(o.pose), deg(p.truePose), 'D7') * 180) / Math.PI;
        expect(o.rotationDeg).toBeCloseTo(rotation, 6);
        expect(o.translationVoxels).toBeCloseTo(Math.hypot(o.pose[3] - p.truePose[3], o.pose[4] - p.truePose[4], o.pose[5] - p.truePose[5]), 9);
        expect(o.cccTruePose).toBeLessThanOrEqual(1 + 1e-9);
        expect(o.score).toBeGreaterThan(0);
        expect(o.score).toBeLessThan(1);
        expect(o.cpuSeconds).toBeGreaterThan(0);
        expect(o.evaluations).toBeGreaterThan(0);
        // every candidate's final d (or its failure) and whether it stopped at the cap
        expect(o.candidates).toHaveLength(3);
        expect(o.candidates[o.candidateIndex].dissimilarity).toBeCloseTo(2 - 2 * o.score, 12);
        for (const c of o.candidates) expect(typeof c.capped).toBe('boolean');
      }
    }
  });

  it('aligns the quick condition (SNR 0.01, ±60°) to well under 10° with every method', () => {
    const [c] = report().conditions;
    for (const m of report().plan.methods) {
      const errors = c.particles.map((p) => p.outcomes[m]!.rotationDeg);
      expect(median(errors), m).toBeLessThan(10);
      expect(median(c.particles.map((p) => p.outcomes[m]!.translationVoxels)), m).toBeLessThan(1);
      expect(median(c.particles.map((p) => p.outcomes[m]!.cccTruePose)), m).toBeGreaterThan(0.9);
    }
  });

  it('prints the table rows, p-values and the Algorithm 2 vs 1 comparison from the raw results', () => {
    const md = readFileSync(join(out, 'accuracy.md'), 'utf8');
    const r = report();
    const [c] = r.conditions;
    for (const m of r.plan.methods) {
      const row = md.split('\n').find((l) => l.startsWith(`| SNR 0.01, ±60° | ${METHOD_LABEL[m]} |`));
      expect(row, m).toBeDefined();
      const cells = row!.split('|').map((s) => s.trim());
      expect(cells[4]).toBe(median(c.particles.map((p) => p.outcomes[m]!.rotationDeg)).toFixed(2));
    }
    // Table 1a row: | SNR | SAG−Xu Δ | t p | Wilcoxon p | SAG−Chen Δ | t p | Wilcoxon p |
    const pRow = md.split('\n').find((l) => l.startsWith('| 0.01 |'))!.split('|').map((s) => s.trim());
    for (const k of [3, 4, 6, 7]) {
      if (pRow[k] === '—') continue;
      const p = Number(pRow[k]);
      expect(p, pRow.join('|')).toBeGreaterThanOrEqual(0);
      expect(p, pRow.join('|')).toBeLessThanOrEqual(1);
    }
    expect(md).toContain('```\nnpx tsx bench/accuracy.ts --quick --out');
    expect(md).toMatch(/Machine: \d+ cores/);
    const same = md.match(/Algorithm 2 \(mini-batches\): ([0-9.]+) s, (\d+) passes/);
    expect(same).not.toBeNull();
    expect(Number(same![2])).toBeGreaterThan(0);
    // SAG against LM candidate by candidate: the distribution of SAG's d − LM's, and the refinements at the cap
    const convergence = md.split('## Convergence')[1]?.split('\n').find((l) => l.startsWith('| SNR 0.01, ±60° |'));
    expect(convergence, md).toBeDefined();
    const cells = convergence!.split('|').map((x) => x.trim());
    expect(Number(cells[2])).toBe(12);
    expect(cells[11]).toMatch(/^\d+\/12$/);
    const svg = readFileSync(join(out, 'accuracy.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    // one point per particle and method, plus one legend marker per method
    expect(svg.match(/<circle/g)!.length).toBe(4 * r.plan.methods.length + r.plan.methods.length);
  });
});
