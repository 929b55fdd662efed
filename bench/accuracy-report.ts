/**
 * Summaries, statistical tests and the Markdown / SVG output of bench/accuracy.ts. Everything here is
 * computed from the per-particle records, so the report can be regenerated from accuracy.json.
 */
import { SNR_DEFINITION } from '../core/simulate.ts';
import { mean, median, pairedTTest, wilcoxonSignedRank } from '../core/stats.ts';
import { stripChartSvg } from '../io/stripchart.ts';
import type { AlignMethod } from '../model/methods.ts';
import type { AccuracyReport, ConditionRecord, MethodOutcome, SameLoss } from './accuracy.ts';

/** One benchmark condition: per-projection SNR (Infinity = noise free) and symmetric tilt ±tiltDeg. */
export interface Condition {
  snr: number;
  tiltDeg: number;
}

export function conditionKey(c: Condition): string {
  return `${Number.isFinite(c.snr) ? c.snr : 'inf'}:${c.tiltDeg}`;
}

export function conditionLabel(c: Condition): string {
  return `SNR ${Number.isFinite(c.snr) ? c.snr : '∞'}, ±${c.tiltDeg}°`;
}

export const METHOD_LABEL: Record<AlignMethod, string> = {
  sag: 'SAG (Alg. 2)',
  sag1: 'SAG (Alg. 1)',
  lm: 'Xu (LM)',
  chen: 'Chen',
};

/** Rotation error below which a particle counts as aligned (the issue's acceptance threshold). */
export const ALIGNED_DEGREES = 10;
/** A method "missed" the optimum when its score is below the score of the true pose by more than this. */
const SCORE_SLACK = 1e-4;

export interface MethodSummary {
  method: AlignMethod;
  count: number;
  rotationMean: number;
  rotationMedian: number;
  rotationMax: number;
  /** Particles with rotation error below ALIGNED_DEGREES. */
  aligned: number;
  translationMean: number;
  translationMedian: number;
  translationMax: number;
  cccTruePoseMean: number;
  /** Mean of (score reached − score at the true pose). */
  scoreGainMean: number;
  /** Particles where the method stopped below the true pose's score (a search failure, not a noise one). */
  belowTruth: number;
  wallPerParticle: number;
  cpuPerParticle: number;
  wallTotal: number;
  cpuTotal: number;
  evaluationsPerParticle: number;
}

function outcomes(record: ConditionRecord, method: AlignMethod): MethodOutcome[] {
  return record.particles.map((p) => {
    const o = p.outcomes[method];
    if (!o) throw new Error(`${conditionLabel(record.condition)}, particle ${p.index}: no result for ${method}`);
    return o;
  });
}

export function summarise(record: ConditionRecord, method: AlignMethod): MethodSummary {
  const os = outcomes(record, method);
  const rot = os.map((o) => o.rotationDeg);
  const tr = os.map((o) => o.translationVoxels);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    method,
    count: os.length,
    rotationMean: mean(rot),
    rotationMedian: median(rot),
    rotationMax: Math.max(...rot),
    aligned: rot.filter((r) => r < ALIGNED_DEGREES).length,
    translationMean: mean(tr),
    translationMedian: median(tr),
    translationMax: Math.max(...tr),
    cccTruePoseMean: mean(os.map((o) => o.cccTruePose)),
    scoreGainMean: mean(os.map((o, i) => o.score - record.particles[i].truthScore)),
    belowTruth: os.filter((o, i) => o.score < record.particles[i].truthScore - SCORE_SLACK).length,
    wallPerParticle: mean(os.map((o) => o.wallSeconds)),
    cpuPerParticle: mean(os.map((o) => o.cpuSeconds)),
    wallTotal: sum(os.map((o) => o.wallSeconds)),
    cpuTotal: sum(os.map((o) => o.cpuSeconds)),
    evaluationsPerParticle: mean(os.map((o) => o.evaluations)),
  };
}

export interface Comparison {
  /** mean(a − b). */
  meanDifference: number;
  /** Two-sided p of the paired t-test; null when undefined (all differences equal). */
  tTestP: number | null;
  /** Two-sided p of the Wilcoxon signed-rank test; null when every difference is zero. */
  wilcoxonP: number | null;
}

/** Paired comparison of `a` against `b` on a per-particle quantity. */
export function compare(record: ConditionRecord, a: AlignMethod, b: AlignMethod, value: (o: MethodOutcome) => number): Comparison {
  return pairedComparison(outcomes(record, a).map(value), outcomes(record, b).map(value));
}

/** Mean of x − y with the two-sided paired t-test and Wilcoxon signed-rank p-values (null where undefined). */
export function pairedComparison(x: readonly number[], y: readonly number[]): Comparison {
  const attempt = (f: () => number): number | null => {
    try {
      return f();
    } catch (err) {
      if (err instanceof RangeError) return null;
      throw err;
    }
  };
  return {
    meanDifference: mean(x.map((v, i) => v - y[i])),
    tTestP: attempt(() => pairedTTest(x, y).p),
    wilcoxonP: attempt(() => wilcoxonSignedRank(x, y).p),
  };
}

/** SAG may end above Xu's LM by this much dissimilarity and still count as converged (the issue's acceptance slack). */
export const LM_SLACK = 1e-4;
/** Largest share of refinements that may stop at the safety cap instead of converging. */
export const CAPPED_SHARE = 0.05;

export interface ConvergenceSummary {
  /** (particle × candidate) pairs that both SAG and LM refined. */
  pairs: number;
  /** Pairs where SAG's final d ≤ LM's + LM_SLACK. */
  withinSlack: number;
  /** Quantiles of SAG's final d − LM's over the pairs: min, 5 %, 25 %, median, 75 %, 95 %, max. */
  quantiles: [number, number, number, number, number, number, number];
  /** Per method: refinements, those stopped by the iteration cap, and failed candidates. */
  methods: Partial<Record<AlignMethod, { refinements: number; capped: number; failed: number }>>;
}

/** SAG against LM candidate by candidate (null when the records carry no per-candidate results or a method is missing). */
export function summariseConvergence(records: readonly ConditionRecord[], methods: readonly AlignMethod[]): ConvergenceSummary | null {
  const outcomesOf = records.flatMap((r) => r.particles);
  if (!methods.includes('sag') || !methods.includes('lm')) return null;
  if (outcomesOf.some((p) => !p.outcomes.sag?.candidates || !p.outcomes.lm?.candidates)) return null;
  const differences: number[] = [];
  for (const p of outcomesOf) {
    const sag = p.outcomes.sag!.candidates;
    const lm = p.outcomes.lm!.candidates;
    sag.forEach((c, k) => {
      const other = lm[k]?.dissimilarity;
      if (c.dissimilarity !== null && other !== null && other !== undefined) differences.push(c.dissimilarity - other);
    });
  }
  const sorted = [...differences].sort((a, b) => a - b);
  const at = (q: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN);
  const perMethod: ConvergenceSummary['methods'] = {};
  for (const m of methods) {
    const all = outcomesOf.flatMap((p) => p.outcomes[m]?.candidates ?? []);
    perMethod[m] = {
      refinements: all.filter((c) => c.dissimilarity !== null).length,
      capped: all.filter((c) => c.capped).length,
      failed: all.filter((c) => c.dissimilarity === null).length,
    };
  }
  return {
    pairs: differences.length,
    withinSlack: differences.filter((d) => d <= LM_SLACK).length,
    quantiles: [at(0), at(0.05), at(0.25), at(0.5), at(0.75), at(0.95), sorted.length ? sorted[sorted.length - 1] : NaN],
    methods: perMethod,
  };
}

export interface SameLossSummary {
  pairs: number;
  /** Total ms / full passes to the common loss over all (particle × candidate) pairs. */
  sagMs: number;
  sag1Ms: number;
  sagEvaluations: number;
  sag1Evaluations: number;
  /** Median over pairs of (Algorithm 1 time) / (Algorithm 2 time). */
  medianTimeRatio: number;
  /** Pairs where Algorithm 2 reached the common loss in fewer full passes. */
  sagFewerPasses: number;
}

export function summariseSameLoss(records: readonly ConditionRecord[]): SameLossSummary | null {
  const all: SameLoss[] = records.flatMap((r) => r.particles.flatMap((p) => p.sameLoss ?? []));
  if (all.length === 0) return null;
  const sum = (f: (s: SameLoss) => number) => all.reduce((a, s) => a + f(s), 0);
  return {
    pairs: all.length,
    sagMs: sum((s) => s.sag.ms),
    sag1Ms: sum((s) => s.sag1.ms),
    sagEvaluations: sum((s) => s.sag.evaluations),
    sag1Evaluations: sum((s) => s.sag1.evaluations),
    medianTimeRatio: median(all.map((s) => s.sag1.ms / Math.max(s.sag.ms, 1e-3))),
    sagFewerPasses: all.filter((s) => s.sag.evaluations < s.sag1.evaluations).length,
  };
}

// ------------------------------------------------------------------------------------------------ format

function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '—';
}

export function formatP(p: number | null): string {
  if (p === null) return '—';
  return p < 0.001 ? p.toExponential(2) : p.toFixed(3);
}

function signed(x: number, digits: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
}

function snrText(snr: number): string {
  return Number.isFinite(snr) ? String(snr) : '∞ (noise free)';
}

interface Acceptance {
  text: string;
  verdict: 'PASS' | 'FAIL' | 'not run';
}

function acceptance(report: AccuracyReport): Acceptance[] {
  const find = (key: string) => report.conditions.find((c) => conditionKey(c.condition) === key);
  const checks: Acceptance[] = [];
  const hard = find('0.01:60');
  if (hard && report.plan.methods.includes('sag')) {
    const s = summarise(hard, 'sag');
    checks.push({
      text: `SNR 0.01, ±60°: SAG median rotation error ${s.rotationMedian.toFixed(2)}° < ${ALIGNED_DEGREES}° from FRM candidates`,
      verdict: s.rotationMedian < ALIGNED_DEGREES ? 'PASS' : 'FAIL',
    });
  } else checks.push({ text: `SNR 0.01, ±60°: SAG median rotation error < ${ALIGNED_DEGREES}°`, verdict: 'not run' });
  const clean = find('inf:90');
  if (clean) {
    for (const m of report.plan.methods) {
      const s = summarise(clean, m);
      const ok = s.rotationMedian < 2 && s.translationMedian < 0.5;
      checks.push({
        text:
          `noise free, full tilt: ${METHOD_LABEL[m]} median ${s.rotationMedian.toFixed(2)}° / ${s.translationMedian.toFixed(3)} voxel ` +
          `(< 2°, < 0.5 voxel; worst particle ${s.rotationMax.toFixed(2)}° / ${s.translationMax.toFixed(3)} voxel)`,
        verdict: ok ? 'PASS' : 'FAIL',
      });
    }
  } else checks.push({ text: 'noise free, full tilt (--conditions inf:90): every method < 2°, < 0.5 voxel', verdict: 'not run' });
  for (const tilt of [60, 40]) {
    const record = find(`0.003:${tilt}`);
    const summary = record ? summariseConvergence([record], report.plan.methods) : null;
    if (!summary) {
      checks.push({ text: `SNR 0.003, ±${tilt}°: SAG's final d ≤ LM's + ${LM_SLACK} on ≥ 95 % of the candidates, ≤ ${CAPPED_SHARE * 100} % at the epoch cap`, verdict: 'not run' });
      continue;
    }
    const share = summary.withinSlack / Math.max(1, summary.pairs);
    const sag = summary.methods.sag!;
    const cappedShare = sag.capped / Math.max(1, sag.refinements);
    checks.push({
      text:
        `SNR 0.003, ±${tilt}°: SAG's final d ≤ LM's + ${LM_SLACK} on ${summary.withinSlack}/${summary.pairs} candidates (${(100 * share).toFixed(1)} %, need ≥ 95 %); ` +
        `${sag.capped}/${sag.refinements} SAG refinements at the epoch cap (${(100 * cappedShare).toFixed(1)} %, need ≤ ${CAPPED_SHARE * 100} %)`,
      verdict: share >= 0.95 && cappedShare <= CAPPED_SHARE ? 'PASS' : 'FAIL',
    });
  }
  return checks;
}

/** Markdown of `summariseConvergence` for every condition and over all of them (no lines without SAG and LM). */
export function convergenceSection(report: AccuracyReport): string[] {
  const rows = [...report.conditions.map((c) => ({ label: conditionLabel(c.condition), records: [c] })), { label: 'all conditions', records: report.conditions }];
  const summaries = rows.map((r) => ({ label: r.label, summary: summariseConvergence(r.records, report.plan.methods) }));
  if (summaries.some((s) => s.summary === null)) return [];
  const capped = (s: ConvergenceSummary, m: AlignMethod): string => {
    const x = s.methods[m];
    return x ? `${x.capped}/${x.refinements}${x.failed ? ` (${x.failed} failed)` : ''}` : '—';
  };
  const L: string[] = [];
  L.push('## Convergence: SAG against Xu\'s LM, candidate by candidate', '');
  L.push(
    'Both start from the same FRM candidates and FTM shifts; the difference is SAG\'s final dissimilarity minus LM\'s for each ' +
      `(particle × candidate) pair both refined (negative: SAG went lower). "≤ LM + ${LM_SLACK}" counts the pairs within the ` +
      'acceptance slack; "at the cap" counts refinements that stopped at the iteration cap (SAG: maxEpochs, a safety limit) ' +
      'instead of on their convergence test.',
    '',
    '| condition | pairs | ≤ LM + 1e-4 | min | 5 % | 25 % | median | 75 % | 95 % | max | SAG at the cap | LM at the cap |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const { label, summary } of summaries) {
    const s = summary!;
    L.push(
      `| ${label} | ${s.pairs} | ${s.withinSlack} (${((100 * s.withinSlack) / Math.max(1, s.pairs)).toFixed(1)} %) | ` +
        `${s.quantiles.map((q) => (Number.isFinite(q) ? q.toExponential(1) : '—')).join(' | ')} | ${capped(s, 'sag')} | ${capped(s, 'lm')} |`,
    );
  }
  L.push('');
  return L;
}

/**
 * The paper's Tables 1–2 layout: per tilt range, paired t-test and Wilcoxon p-values of SAG against each
 * baseline on rotation error and on CCC against the true-pose reference (markdown lines; none without SAG).
 */
export function pValueTables(report: AccuracyReport): string[] {
  const { plan } = report;
  const methods = plan.methods;
  const L: string[] = [];
  const baselines = (['lm', 'chen'] as const).filter((m) => methods.includes(m));
  if (methods.includes('sag') && baselines.length > 0) {
    L.push('## P-values, SAG vs the baselines (layout of the paper\'s Tables 1–2)', '');
    const tilts = [...new Set(report.conditions.map((c) => c.condition.tiltDeg))];
    const names = baselines.map((b) => (b === 'lm' ? 'Xu' : 'Chen'));
    L.push(
      `Two-sided paired tests over the ${plan.particles} particles of each condition. Δ = SAG − baseline: for rotation error a negative Δ ` +
        'means SAG is more accurate; for CCC (the paper\'s measure; here against the true-pose reference) a positive Δ does. ' +
        '"—": the test is undefined (all differences equal or zero).',
      '',
    );
    tilts.forEach((tilt, k) => {
      const rows = report.conditions.filter((c) => c.condition.tiltDeg === tilt);
      for (const [what, value, digits] of [
        ['rotation error (°)', (o: MethodOutcome) => o.rotationDeg, 2],
        ['CCC against the true-pose reference', (o: MethodOutcome) => o.cccTruePose, 4],
      ] as const) {
        L.push(`**Table ${k + 1}${what.startsWith('rot') ? 'a' : 'b'}: ±${tilt}°, ${what}**`, '');
        L.push(
          `| SNR | ${names.map((nm) => `SAG−${nm} mean Δ | t-test p | Wilcoxon p`).join(' | ')} |`,
          `|---|${names.map(() => '---|---|---|').join('')}`,
        );
        for (const c of rows) {
          const cells = baselines.map((b) => {
            const cmp = compare(c, 'sag', b, value);
            return `${signed(cmp.meanDifference, digits)} | ${formatP(cmp.tTestP)} | ${formatP(cmp.wilcoxonP)}`;
          });
          L.push(`| ${snrText(c.condition.snr)} | ${cells.join(' | ')} |`);
        }
        L.push('');
      }
    });
  }

  return L;
}

export function accuracyMarkdown(report: AccuracyReport): string {
  const { plan, machine } = report;
  const methods = plan.methods;
  const L: string[] = [];
  L.push('# Alignment accuracy benchmark (issue 4)', '');
  L.push(
    'Paper experiment (Lü et al. 2019, "Comparison of fine-grained subtomogram alignment accuracy", Tables 1–2, Figs. 4–6): ' +
      `${plan.particles} simulated particles per condition, aligned to the noise-free density low-passed to ${plan.referenceResolution} Å ` +
      `by every method from the same top-${plan.candidates} FRM rotation candidates (computed once per particle). Generated by bench/accuracy.ts; ` +
      'raw per-particle results in accuracy.json, plot in accuracy.svg.',
    '',
  );
  L.push('## Run', '');
  L.push('```', report.command, '```', '');
  L.push(
    `- Started ${report.startedAt}; total wall time ${(report.wallSeconds / 60).toFixed(1)} min.`,
    `- Machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB.toFixed(1)} GiB, Node ${machine.node}; ` +
      `load average ${machine.loadAverageStart.map((x) => x.toFixed(1)).join('/')} at the start, ${machine.loadAverageEnd.map((x) => x.toFixed(1)).join('/')} at the end ` +
      '(shared with other jobs: wall times are inflated, CPU times are the comparable measure; each method runs single-threaded).',
    `- Code: ${
      report.code
        ? `commit ${report.code.commit}${report.code.modified.length ? ` with uncommitted changes in ${report.code.modified.join(', ')}` : ' (clean)'}`
        : 'not a git checkout'
    }.`,
    `- Seeds: data seed ${plan.seed} (particle i draws pose and noise from Rng.derive(${plan.seed}, i), so every condition has the same ` +
      `${plan.particles} true poses); SAG slice order of particle i from Rng.derive(${plan.seed}, i).`,
    `- Model: ${report.model}; symmetry ${plan.symmetry} (rotation errors are the minimum over its operators).`,
    `- Simulation: ${plan.n}³ voxels of ${plan.voxelSize} Å, density at ${plan.resolution} Å, shifts uniform in ±${plan.maxShift} voxels per axis, ` +
      `tilt step ${plan.tiltStepDeg}°, CTF (300 kV, ${plan.defocus ? `each particle's underfocus drawn from ${plan.defocus[0]}–${plan.defocus[1]} µm` : '6 µm underfocus'}, ` +
      `Cs 2 mm, 7 % amplitude contrast), detector MTF, WBP. SNR: ${SNR_DEFINITION}.`,
    ...(plan.defocus
      ? [`- CTF in alignment: ${plan.ctfAlign ? "each particle matched to its own CTF (core/ctf.ts ctfMatched) before FRM and every refinement" : 'none: the binary wedge only (--ctf wedge)'}.`]
      : []),
    `- Alignment: soft sphere mask radius ${plan.maskRadius} + ${plan.maskEdge} voxel edge; FRM bandwidth ${plan.bandwidth} ` +
      `(${(180 / plan.bandwidth).toFixed(2)}° grid), top ${plan.candidates} candidates; FTM search radius ${plan.searchShift.toFixed(2)} voxels; ` +
      'method defaults of core/sag.ts, core/lm.ts, core/chen.ts. ' +
      (report.alignBox === plan.n
        ? 'Refinements at the full box (no binning).'
        : `Refinements binned to ${report.alignBox}³ (${((plan.voxelSize * plan.n) / report.alignBox).toFixed(1)} Å voxels; Fourier crop, ` +
          `core/align.ts alignBox${plan.alignBox === 'auto' ? ', chosen automatically: the smallest power-of-two box whose Nyquist lies beyond the reference low-pass' : ''}); ` +
          'FRM, the CCC against the true-pose reference and all errors at the full box; scores ("score − truth") at the binned box.'),
    '',
  );
  if (plan.note) L.push(`**Notes.** ${plan.note}`, '');
  L.push('| condition | measured subtomogram SNR (inside the mask, two noise realisations) | wall time |', '|---|---|---|');
  for (const c of report.conditions) {
    L.push(`| ${conditionLabel(c.condition)} | ${c.subtomogramSnr === null ? '∞' : c.subtomogramSnr.toFixed(4)} | ${(c.wallSeconds / 60).toFixed(1)} min |`);
  }
  L.push('');

  L.push('## Acceptance checks', '');
  for (const a of acceptance(report)) L.push(`- **${a.verdict}** — ${a.text}`);
  L.push('');

  L.push('## Accuracy per condition and method', '');
  L.push(
    'Rotation error in degrees (under the symmetry), translation error in voxels; "aligned" = rotation error < 10°. ' +
      '"CCC true pose" = constrained CCC of the reference at the estimated pose against the reference at the true pose ' +
      '(particle wedge, alignment mask; 1 = perfect). "score − truth" = CCC reached on the particle minus the CCC of the ' +
      'true pose; "< truth" counts particles that stopped below the true pose\'s score (a search failure; the rest of any ' +
      'error is the noise\'s). FRM rows: rotation error of the top candidate and of the best of the candidates; "distinct" = ' +
      `mean number of candidates left after merging those within one FRM grid step of a better one under ${plan.symmetry} ` +
      '(symmetry mates are separate FRM peaks).',
    '',
  );
  L.push(
    '| condition | method | rot. mean | rot. median | aligned | trans. mean | trans. median | CCC true pose | score − truth | < truth | wall s/particle | CPU s/particle |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const c of report.conditions) {
    const label = conditionLabel(c.condition);
    const top = c.particles.map((p) => p.frm.candidateErrorsDeg[0]);
    const bestOf = c.particles.map((p) => Math.min(...p.frm.candidateErrorsDeg));
    const frmWall = mean(c.particles.map((p) => p.frm.wallSeconds));
    const frmCpu = mean(c.particles.map((p) => p.frm.cpuSeconds));
    L.push(
      `| ${label} | FRM top candidate | ${fixed(mean(top), 2)} | ${fixed(median(top), 2)} | ${top.filter((r) => r < ALIGNED_DEGREES).length}/${top.length} | | | | | | ${fixed(frmWall, 2)} | ${fixed(frmCpu, 2)} |`,
      `| ${label} | FRM best of ${plan.candidates} (${fixed(mean(c.particles.map((p) => p.frm.distinctUnderSymmetry)), 1)} distinct) | ` +
        `${fixed(mean(bestOf), 2)} | ${fixed(median(bestOf), 2)} | ${bestOf.filter((r) => r < ALIGNED_DEGREES).length}/${bestOf.length} | | | | | | | |`,
    );
    for (const m of methods) {
      const s = summarise(c, m);
      L.push(
        `| ${label} | ${METHOD_LABEL[m]} | ${fixed(s.rotationMean, 2)} | ${fixed(s.rotationMedian, 2)} | ${s.aligned}/${s.count} | ` +
          `${fixed(s.translationMean, 3)} | ${fixed(s.translationMedian, 3)} | ${fixed(s.cccTruePoseMean, 4)} | ${signed(s.scoreGainMean, 4)} | ` +
          `${s.belowTruth}/${s.count} | ${fixed(s.wallPerParticle, 2)} | ${fixed(s.cpuPerParticle, 2)} |`,
      );
    }
  }
  L.push('');

  L.push(...pValueTables(report));
  L.push(...convergenceSection(report));

  L.push('## Computation time (Fig. 6 analogue)', '');
  L.push(
    'Per particle = all candidates refined (FTM + local refinement), summed over the particles of all conditions. ' +
      'Passes = objective cost in full passes over the masked voxels.',
    '',
    '| method | total wall (s) | total CPU (s) | CPU s/particle | passes/particle |',
    '|---|---|---|---|---|',
  );
  const frmCpu = report.conditions.flatMap((c) => c.particles.map((p) => p.frm.cpuSeconds));
  const frmWall = report.conditions.flatMap((c) => c.particles.map((p) => p.frm.wallSeconds));
  L.push(`| FRM (shared) | ${fixed(frmWall.reduce((a, b) => a + b, 0), 1)} | ${fixed(frmCpu.reduce((a, b) => a + b, 0), 1)} | ${fixed(mean(frmCpu), 2)} | |`);
  for (const m of methods) {
    const ss = report.conditions.map((c) => summarise(c, m));
    const wall = ss.reduce((a, s) => a + s.wallTotal, 0);
    const cpu = ss.reduce((a, s) => a + s.cpuTotal, 0);
    const count = ss.reduce((a, s) => a + s.count, 0);
    const passes = ss.reduce((a, s) => a + s.evaluationsPerParticle * s.count, 0) / count;
    L.push(`| ${METHOD_LABEL[m]} | ${fixed(wall, 1)} | ${fixed(cpu, 1)} | ${fixed(cpu / count, 2)} | ${fixed(passes, 0)} |`);
  }
  L.push('');

  const same = summariseSameLoss(report.conditions);
  if (same) {
    L.push('## Algorithm 2 vs Algorithm 1 to the same loss', '');
    L.push(
      `Over ${same.pairs} (particle × candidate) refinements from identical starts: the target is the worse of the two best ` +
        'losses (so both reach it); each is charged the time and full passes until its epoch-boundary loss first reaches it.',
      '',
      `- Algorithm 2 (mini-batches): ${(same.sagMs / 1000).toFixed(2)} s, ${same.sagEvaluations.toFixed(0)} passes in total`,
      `- Algorithm 1 (single slices): ${(same.sag1Ms / 1000).toFixed(2)} s, ${same.sag1Evaluations.toFixed(0)} passes in total`,
      `- Algorithm 1 / Algorithm 2: ${(same.sag1Ms / Math.max(same.sagMs, 1e-9)).toFixed(2)}× the time (median per refinement ` +
        `${same.medianTimeRatio.toFixed(2)}×), ${(same.sag1Evaluations / Math.max(same.sagEvaluations, 1e-9)).toFixed(2)}× the passes; ` +
        `Algorithm 2 needed fewer passes in ${same.sagFewerPasses}/${same.pairs} refinements.`,
      '',
    );
  }
  return `${L.join('\n')}\n`;
}

export function accuracySvg(report: AccuracyReport): string {
  return stripChartSvg({
    title: `Rotation error per particle (${report.plan.particles} per condition, ${report.plan.symmetry}-aware)`,
    yLabel: 'rotation error (degrees, log scale)',
    groups: report.conditions.map((c) => conditionLabel(c.condition)),
    series: report.plan.methods.map((m) => ({
      label: METHOD_LABEL[m],
      values: report.conditions.map((c) => c.particles.map((p) => p.outcomes[m]?.rotationDeg ?? NaN)),
    })),
    logY: true,
    logFloor: 0.1,
    hLines: [{ y: ALIGNED_DEGREES, label: `${ALIGNED_DEGREES}°` }],
  });
}
