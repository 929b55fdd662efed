/**
 * One alignment pass (issue 4 target): 20 simulated particles of 64³ (6 Å, ±60° wedge, 1° steps, CTF,
 * SNR 0.01, MTF; GroEL-like phantom, seeded) against the campaign's first-iteration reference (the
 * noise-free map low-passed at 60 Å with a 2-shell raised-cosine edge, masked), FRM top-N candidates +
 * SAG refinement of every candidate, best per particle (core/align.ts). Prints total seconds, a per-stage
 * breakdown, SAG's convergence (epochs, anchorings, refinements stopped by the safety cap, failed
 * candidates), the median rotation error against the truth (under D7) and the ratio to the paper's 40.5 s.
 *
 *   --box auto|full|M   alignment box: auto = alignBoxFor(64, low-pass shell) with FRM on the binned
 *                       volumes up to that shell; full = 64³ with FRM as the campaign calls it (default auto)
 *   --frm box|full      FRM on the binned volumes up to the low-pass shell, or at 64³ with all shells
 *                       (default: box unless --box full)
 *   --workers P         worker threads, particles dealt round-robin (default 1: this thread)
 *   --snr S             per-projection SNR of the particles (default 0.01; the paper's campaigns: 0.003)
 *   --resolution A      low-pass of the reference, Å (default 60, a first iteration; ~36 in the paper
 *                       campaigns' later iterations, which align at 32³)
 *   --particles N --candidates K --bandwidth B --epochs E --tolerance T (SAG maxEpochs and tolerance)
 *   --json FILE         also write the numbers as JSON (bench/pass-vs-head.ts reads it)
 *
 * Stages: FRM; bin + setup (Fourier crops, the per-particle objective); FTM; SAG epochs (slice gradients,
 * line searches, epoch losses); literal corrections, literal gradients, wedge-filter rebuilds and final
 * exact scores of the objective (core/alignobjective.ts `work`). The accuracy lines also score every
 * winner at 64³ against the true pose, outside the timed pass, so boxes can be compared on one scale.
 * The script also runs against older trees (bench/pass-vs-head.ts copies it into a snapshot of HEAD), so
 * it reads counters and result fields that older code lacks as optional.
 *
 * Simulated data are cached in the OS temp directory (keyed by the configuration and the simulator
 * sources); simulation time is not part of the pass. Stage times are wall clock; the total is also given
 * as process CPU time, which other jobs on a shared machine disturb much less (with workers it includes
 * every thread, so it measures work, not elapsed time).
 * Usage: npx tsx bench/pass.ts [flags]
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { AlignmentReference, type CandidateResult, ParticleContext, alignBoxFor, pickBest, refineCandidate } from '../core/align.ts';
import { ConstrainedObjective } from '../core/alignobjective.ts';
import { lowpass, softSphereMask } from '../core/filters.ts';
import { frmCandidates } from '../core/frm.ts';
import { groelPhantom } from '../core/phantom.ts';
import { type Pose, eulerToMatrix, radians } from '../core/rotate.ts';
import { DatasetSimulator, type SimulationConfig, densityModel } from '../core/simulate.ts';
import { rotationErrorUnderSymmetry, translationError } from '../core/symmetry.ts';
import { Volume } from '../core/volume.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { CTF_DEFAULTS } from '../model/defaults.ts';

const PAPER_SECONDS = 40.5;
const N = 64;
const VOXEL = 6;
const EDGE_SHELLS = 2;
const MASK = { radius: N / 2 - 4, edge: 3 };
const MAX_SHIFT = 6;
const tilt = symmetricTilt(60);

interface Settings {
  particles: number;
  candidates: number;
  box: 'auto' | 'full' | number;
  workers: number;
  /** FRM on the binned volumes up to the reference's last shell ('box'), or at full size as the campaign calls it. */
  frm: 'box' | 'full';
  bandwidth: number;
  epochs?: number;
  tolerance?: number;
  snr: number;
  /** Low-pass of the reference, Å. */
  resolution: number;
  json?: string;
}

function parseSettings(argv: string[]): Settings {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`expected --flag value pairs, got '${argv.slice(i).join(' ')}'`);
    flags.set(argv[i].slice(2), argv[i + 1]);
  }
  const num = (k: string, d?: number): number | undefined => (flags.has(k) ? Number(flags.get(k)) : d);
  const box = flags.get('box') ?? 'auto';
  return {
    particles: num('particles', 20)!,
    candidates: num('candidates', 10)!,
    box: box === 'auto' || box === 'full' ? box : Number(box),
    workers: num('workers', 1)!,
    frm: (flags.get('frm') ?? (box === 'full' ? 'full' : 'box')) as 'box' | 'full',
    bandwidth: num('bandwidth', 16)!,
    epochs: num('epochs'),
    tolerance: num('tolerance'),
    snr: num('snr', 0.01)!,
    resolution: num('resolution', 60)!,
    json: flags.get('json'),
  };
}

function simulation(snr: number): SimulationConfig {
  return {
    n: N,
    voxelSize: VOXEL,
    resolution: 20,
    tilt,
    tiltStep: radians(1),
    snr,
    maxShift: 4,
    seed: 1,
    imaging: { ctf: { ...CTF_DEFAULTS }, mtf: true },
  };
}

interface DataSet {
  reference: Volume;
  particles: { volume: Volume; pose: Pose }[];
}

/** The reference and `count` particles, simulated once and cached on disk. */
function dataSet(count: number, snr: number, resolution: number): DataSet {
  const sources = ['../core/simulate.ts', '../core/phantom.ts', '../core/filters.ts'].map((f) =>
    readFileSync(fileURLToPath(new URL(f, import.meta.url))),
  );
  const config = simulation(snr);
  const key = createHash('sha256').update(JSON.stringify({ simulation: config, count, FIRST_RESOLUTION: resolution, EDGE_SHELLS, MASK })).update(Buffer.concat(sources)).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'subtomo-bench-pass');
  const file = join(dir, `${key}.bin`);
  const len = N ** 3;
  if (existsSync(file)) {
    const raw = readFileSync(file);
    const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const poses = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as Pose[];
    return {
      reference: new Volume(N, VOXEL, all.slice(0, len)),
      particles: poses.map((pose, i) => ({ pose, volume: new Volume(N, VOXEL, all.slice((i + 1) * len, (i + 2) * len)) })),
    };
  }
  const sim = new DatasetSimulator(densityModel(groelPhantom()), config);
  const reference = lowpass(sim.reference(), (N * VOXEL) / resolution, EDGE_SHELLS);
  const mask = softSphereMask(N, MASK.radius, MASK.edge);
  for (let i = 0; i < len; i++) reference.data[i] *= mask[i];
  const particles = Array.from({ length: count }, (_, i) => sim.particle(i));
  mkdirSync(dir, { recursive: true });
  const all = new Float32Array((count + 1) * len);
  all.set(reference.data, 0);
  particles.forEach((p, i) => all.set(p.volume.data, (i + 1) * len));
  writeFileSync(file, all);
  writeFileSync(`${file}.json`, JSON.stringify(particles.map((p) => p.pose)));
  return { reference, particles };
}

interface Stages {
  frm: number;
  setup: number;
  ftm: number;
  sagEpochs: number;
  literal: number;
  gradients: number;
  filters: number;
  scoring: number;
  anchors: number;
  literalGradients: number;
  prepares: number;
  epochs: number;
  /** Refinements (pairs), those stopped by SAG's epoch cap, and candidates whose refinement failed. */
  refinements: number;
  capped: number;
  failed: number;
}

interface ParticleOutcome {
  index: number;
  rotationDeg: number;
  shiftVoxels: number;
  ccc: number;
  /** Mean CCC over all candidates' refined poses (at the alignment box): higher = better optimised. */
  candidateCcc: number;
  best: number;
  /** The winning pose (original voxels), for scoring at full size after the timed pass. */
  R: number[];
  t: [number, number, number];
  stages: Stages;
}

const emptyStages = (): Stages => ({
  frm: 0, setup: 0, ftm: 0, sagEpochs: 0, literal: 0, gradients: 0, filters: 0, scoring: 0, anchors: 0, literalGradients: 0,
  prepares: 0, epochs: 0, refinements: 0, capped: 0, failed: 0,
});

/** The objective's work counters; `gradients` is absent in trees older than the literal gradient. */
interface Work {
  anchors: number;
  anchorMs: number;
  gradients?: number;
  gradientMs?: number;
  prepares: number;
  prepareMs: number;
  scoreMs: number;
}

/** What a refinement result may report about SAG's run (older trees: only `lossTrace`). */
interface SagReport {
  lossTrace: number[];
  epochs?: number;
  anchors?: number;
  capped?: boolean;
}

function lowpassShellOf(s: Settings): number {
  return (N * VOXEL) / s.resolution + EDGE_SHELLS / 2;
}

function boxOf(s: Settings): number {
  return s.box === 'auto' ? alignBoxFor(N, lowpassShellOf(s)) : s.box === 'full' ? N : s.box;
}

/** FRM + SAG of the particles at `indices`, timed by stage (seconds). */
function alignParticles(data: DataSet, indices: number[], s: Settings): ParticleOutcome[] {
  const lowpassShell = lowpassShellOf(s);
  const box = boxOf(s);
  const mask = softSphereMask(N, MASK.radius, MASK.edge);
  const settings = { method: 'sag' as const, maxShift: MAX_SHIFT, mask, wedgeParticle: tilt, alignBox: box, sag: { maxEpochs: s.epochs, tolerance: s.tolerance } };
  let t = performance.now();
  const reference = new AlignmentReference(data.reference, box);
  const referenceSetup = (performance.now() - t) / 1000;
  const out: ParticleOutcome[] = [];
  for (const index of indices) {
    const { volume, pose } = data.particles[index];
    const stages = emptyStages();
    if (out.length === 0) stages.setup += referenceSetup;
    t = performance.now();
    const context = new ParticleContext(reference, volume, settings);
    stages.setup += (performance.now() - t) / 1000;
    t = performance.now();
    // Binned: FRM sees the cropped volumes up to the reference's last shell; full: as the campaign calls it.
    const frmOptions = { bandwidth: s.bandwidth, topN: s.candidates, wedgeParticle: tilt };
    const candidates =
      s.frm === 'full'
        ? frmCandidates(data.reference, volume, frmOptions)
        : frmCandidates(context.reference, context.particle, { ...frmOptions, maxShell: Math.min(Math.ceil(lowpassShell), box / 2 - 1) });
    stages.frm += (performance.now() - t) / 1000;
    const work0: Work = { ...context.objective.work };
    t = performance.now();
    const results: CandidateResult[] = [];
    for (const [candidateIndex, c] of candidates.entries()) {
      try {
        results.push(refineCandidate({ ...settings, reference: data.reference, particle: volume, candidate: c, candidateIndex, seed: index }, context));
      } catch {
        stages.failed++;
      }
    }
    const refine = (performance.now() - t) / 1000;
    const work: Work = context.objective.work;
    stages.ftm = results.reduce((a, r) => a + r.ftmSeconds, 0);
    stages.literal = (work.anchorMs - work0.anchorMs) / 1000;
    stages.gradients = ((work.gradientMs ?? 0) - (work0.gradientMs ?? 0)) / 1000;
    stages.filters = (work.prepareMs - work0.prepareMs) / 1000;
    stages.scoring = (work.scoreMs - work0.scoreMs) / 1000;
    stages.sagEpochs = refine - stages.ftm - stages.literal - stages.gradients - stages.filters - stages.scoring;
    stages.anchors = work.anchors - work0.anchors;
    stages.literalGradients = (work.gradients ?? 0) - (work0.gradients ?? 0);
    stages.prepares = work.prepares - work0.prepares;
    const reports: SagReport[] = results;
    stages.epochs = reports.reduce((a, r) => a + (r.epochs ?? r.lossTrace.length - 1), 0);
    stages.refinements = results.length + stages.failed;
    stages.capped = reports.filter((r) => r.capped ?? (r.lossTrace.length - 1 >= (s.epochs ?? 40))).length;
    if (results.length === 0) throw new Error(`particle ${index}: every candidate failed`);
    const best = pickBest(results);
    out.push({
      index,
      rotationDeg: (rotationErrorUnderSymmetry(Float64Array.from(best.R), eulerToMatrix(pose), 'D7') * 180) / Math.PI,
      shiftVoxels: translationError(best.t, [pose.tx, pose.ty, pose.tz]),
      ccc: best.ccc,
      candidateCcc: results.reduce((a, r) => a + r.ccc, 0) / results.length,
      best: best.candidateIndex,
      R: best.R,
      t: best.t,
      stages,
    });
  }
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** What --json writes (bench/pass-vs-head.ts reads it). */
export interface PassReport {
  settings: Settings;
  box: number;
  wallSeconds: number;
  cpuSeconds: number;
  stages: Stages;
  medianRotationDeg: number;
  meanRotationDeg: number;
  within5Deg: number;
  medianShiftVoxels: number;
  meanWinnerCcc: number;
  /** Mean over particles of the 64³ CCC of the winner minus that of the true pose. */
  fullSizeCccGap: number;
  rotationDeg: number[];
}

async function main(): Promise<void> {
  const s = parseSettings(process.argv.slice(2));
  const data = dataSet(s.particles, s.snr, s.resolution);
  const indices = Array.from({ length: s.particles }, (_, i) => i);
  let outcomes: ParticleOutcome[];
  const t0 = performance.now();
  let began = t0;
  let cpu0 = process.cpuUsage();
  if (s.workers <= 1) {
    outcomes = alignParticles(data, indices, s);
  } else {
    // Workers load the cached data set themselves and report ready; the pass is timed from then on.
    // tsx's loader does not reach worker threads on Node 20: each worker registers it before loading this file.
    const api = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); });`;
    const workers = Array.from({ length: s.workers }, (_, w) => new Worker(boot, {
      eval: true,
      workerData: { settings: s, indices: indices.filter((i) => i % s.workers === w) },
    }));
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
    began = performance.now();
    cpu0 = process.cpuUsage();
    const parts = await Promise.all(workers.map((w) => new Promise<ParticleOutcome[]>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.postMessage('go');
    })));
    await Promise.all(workers.map((w) => w.terminate()));
    outcomes = parts.flat().sort((a, b) => a.index - b.index);
  }
  const total = (performance.now() - began) / 1000;
  const startup = (began - t0) / 1000;
  const used = process.cpuUsage(cpu0);
  const cpu = (used.user + used.system) / 1e6;
  const sum = emptyStages();
  for (const o of outcomes) for (const k of Object.keys(sum) as (keyof Stages)[]) sum[k] += o.stages[k];
  const box = boxOf(s);
  const rot = outcomes.map((o) => o.rotationDeg);
  console.log(
    `pass: ${s.particles} particles of ${N}³ (SNR ${s.snr}) × ${s.candidates} candidates, reference ${s.resolution} Å, box ${box}³, ` +
      `FRM ${s.frm === 'full' ? `${N}³` : `${box}³`}, ${s.workers} worker(s), SAG epochs ${s.epochs ?? 'default'}, tolerance ${s.tolerance ?? 'default'}`,
  );
  console.log(
    `total ${total.toFixed(2)} s wall (${(total / PAPER_SECONDS).toFixed(3)} × the paper's ${PAPER_SECONDS} s), process CPU ${cpu.toFixed(2)} s` +
      `${startup ? `; worker start-up ${startup.toFixed(2)} s not counted` : ''}; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores`,
  );
  const perWorker = s.workers > 1 ? ` (wall seconds summed over ${s.workers} workers)` : '';
  console.log(`stages${perWorker}: FRM ${sum.frm.toFixed(2)} s | bin + setup ${sum.setup.toFixed(2)} s | FTM ${sum.ftm.toFixed(2)} s | ` +
    `SAG epochs ${sum.sagEpochs.toFixed(2)} s (${sum.epochs} epochs) | literal corrections ${sum.literal.toFixed(2)} s (${sum.anchors}) | ` +
    `literal gradients ${sum.gradients.toFixed(2)} s (${sum.literalGradients}) | wedge filters ${sum.filters.toFixed(2)} s (${sum.prepares}) | ` +
    `final scoring ${sum.scoring.toFixed(2)} s`);
  console.log(
    `SAG: ${sum.refinements} refinements, ${(sum.epochs / Math.max(1, sum.refinements - sum.failed)).toFixed(1)} epochs and ` +
      `${(sum.anchors / Math.max(1, sum.refinements - sum.failed)).toFixed(1)} anchorings each; stopped by the epoch cap: ${sum.capped}; failed: ${sum.failed}`,
  );
  console.log(
    `accuracy: median rotation error ${median(rot).toFixed(2)}° (D7), mean ${(rot.reduce((a, b) => a + b, 0) / rot.length).toFixed(2)}°, ` +
      `≤ 5°: ${rot.filter((r) => r <= 5).length}/${rot.length}; median shift error ${median(outcomes.map((o) => o.shiftVoxels)).toFixed(2)} voxels; ` +
      `mean CCC of winners ${(outcomes.reduce((a, o) => a + o.ccc, 0) / outcomes.length).toFixed(5)}, ` +
      `of all candidates ${(outcomes.reduce((a, o) => a + o.candidateCcc, 0) / outcomes.length).toFixed(5)}`,
  );
  // Scores at 64³ compare boxes fairly: the full-size CCC of each winner against that of the true pose.
  const mask = softSphereMask(N, MASK.radius, MASK.edge);
  let gap = 0;
  for (const o of outcomes) {
    const { volume, pose } = data.particles[o.index];
    const objective = new ConstrainedObjective(data.reference, volume, { mask, wedgeParticle: tilt });
    gap += objective.exactCcc(Float64Array.from(o.R), o.t) - objective.exactCcc(eulerToMatrix(pose), [pose.tx, pose.ty, pose.tz]);
  }
  console.log(`full-size (64³) CCC of the winners minus that of the true poses: mean ${(gap / outcomes.length).toFixed(5)}`);
  console.log(`per particle (error °/winner): ${outcomes.map((o) => `${o.rotationDeg.toFixed(1)}/${o.best}`).join(' ')}`);
  if (s.json) {
    const report: PassReport = {
      settings: s,
      box,
      wallSeconds: total,
      cpuSeconds: cpu,
      stages: sum,
      medianRotationDeg: median(rot),
      meanRotationDeg: rot.reduce((a, b) => a + b, 0) / rot.length,
      within5Deg: rot.filter((r) => r <= 5).length,
      medianShiftVoxels: median(outcomes.map((o) => o.shiftVoxels)),
      meanWinnerCcc: outcomes.reduce((a, o) => a + o.ccc, 0) / outcomes.length,
      fullSizeCccGap: gap / outcomes.length,
      rotationDeg: rot,
    };
    writeFileSync(s.json, `${JSON.stringify(report, null, 1)}\n`);
  }
}

if (isMainThread) {
  await main();
} else {
  const { settings, indices } = workerData as { settings: Settings; indices: number[] };
  const data = dataSet(settings.particles, settings.snr, settings.resolution);
  parentPort!.postMessage('ready');
  parentPort!.once('message', () => parentPort!.postMessage(alignParticles(data, indices, settings)));
}
