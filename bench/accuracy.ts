/**
 * Alignment accuracy benchmark (issue 4; the paper's "Comparison of fine-grained subtomogram alignment
 * accuracy to the baseline methods", Tables 1–2 and Figs. 4–6).
 *
 * Per condition (per-projection SNR × tilt range) N particles are simulated with known poses (core/simulate.ts;
 * the built-in D7 phantom, or --pdb), the reference is the noise-free density low-passed to 60 Å, and every
 * particle is aligned with every method from the SAME FRM candidates (computed once per particle). Per method:
 * rotation error under the structure's symmetry, translation error, CCC of the aligned reference against the
 * reference at the true pose (constrained by the particle's wedge: a noise-free measure of how well the pose
 * explains the data), the score reached, wall and CPU time; SAG is compared with Xu's LM and Chen's search by
 * paired t-tests and Wilcoxon signed-rank tests on the per-particle rotation errors (and, as the paper, on CCC).
 *
 * Usage: npx tsx bench/accuracy.ts [--quick] [--particles 20] [--conditions 0.03:60,0.01:60,…|inf:90]
 *   [--methods sag,lm,chen[,sag1]] [--candidates 10] [--bandwidth 32] [--seed 1] [--size 64] [--voxel 6]
 *   [--resolution 20] [--ref-resolution 60] [--align-box full|auto|N] [--max-shift 4] [--mask-edge 3]
 *   [--symmetry D7] [--pdb FILE] [--defocus MIN:MAX [--ctf matched|wedge]] [--note TEXT] [--out docs/accuracy]
 * --defocus draws each particle's underfocus (µm) from the range, in a tomogram of its own; --ctf says how the
 * alignment sees it: matched to each particle's own CTF (default; core/ctf.ts ctfMatched) or the binary wedge.
 * --align-box bins the local refinements (core/align.ts): full (default) = no binning, auto = the smallest box
 * whose Nyquist lies beyond the reference low-pass, N = that box. --quick: 4 particles, SNR 0.01 ±60°, 32³ at
 * 12 Å, 3 candidates, SAG (both algorithms), Xu and Chen, automatic box — an end-to-end smoke run of seconds.
 * Writes OUT/accuracy.md, OUT/accuracy.svg and OUT/accuracy.json (per-particle raw results; rewritten after
 * every condition, so an interrupted run keeps what it finished). Progress goes to stderr.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AlignmentReference, type CandidateResult, ParticleContext, alignBoxOf, alignParticle } from '../core/align.ts';
import { cccWorkspace } from '../core/ccc.ts';
import { ctfMatched } from '../core/ctf.ts';
import { lowpassToResolution, softSphereMask } from '../core/filters.ts';
import { frmCandidates } from '../core/frm.ts';
import { groelPhantom } from '../core/phantom.ts';
import { Rng } from '../core/random.ts';
import { REFERENCE_EDGE_SHELLS, referenceShell } from '../core/reference.ts';
import { type Mat3, degrees, eulerToMatrix, radians, transformVolume, transformVolumeByMatrix } from '../core/rotate.ts';
import {
  DatasetSimulator,
  type DensityModel,
  type SimulationConfig,
  SimulationConfigError,
  TomographySimulator,
  densityModel,
  renderDensity,
  snrFromTwoRealisations,
  tiltAngles,
  validateSimulationConfig,
} from '../core/simulate.ts';
import { type SymmetryGroup, parseSymmetry, rotationErrorUnderSymmetry, translationError } from '../core/symmetry.ts';
import { type TiltRange, symmetricTilt, wedgeMask } from '../core/wedge.ts';
import { parseDefocus } from '../cli/commands/simulate.ts';
import { buildAssembly, readStructure } from '../io/pdb.ts';
import { CTF_DEFAULTS } from '../model/defaults.ts';
import { ALIGN_METHODS, type AlignMethod } from '../model/methods.ts';
import { Args, UsageError } from '../os/args.ts';
import { ProgressBar } from '../os/progress.ts';
import { portableJson, repoRelative } from './portablePaths.ts';
import { type Condition, accuracyMarkdown, accuracySvg, conditionKey, conditionLabel } from './accuracy-report.ts';

export const PAPER_CONDITIONS: readonly Condition[] = [0.03, 0.01, 0.003].flatMap((snr) =>
  [60, 40].map((tiltDeg) => ({ snr, tiltDeg })),
);

/** "0.03:60,0.01:40,inf:90" → conditions; errors name the flag and the bad entry. */
export function parseConditions(text: string): Condition[] {
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new UsageError(`--conditions is empty; give SNR:TILT pairs such as 0.01:60,inf:90`);
  return list.map((entry) => {
    const m = /^([^:]+):([^:]+)$/.exec(entry);
    const snr = m ? (/^\+?inf(inity)?$/i.test(m[1]) ? Infinity : Number(m[1])) : NaN;
    const tiltDeg = m ? Number(m[2]) : NaN;
    if (!(snr > 0) || !(tiltDeg > 0 && tiltDeg <= 90)) {
      throw new UsageError(
        `--conditions entry '${entry}' is not SNR:TILT with SNR > 0 (or inf) and 0 < TILT ≤ 90 degrees, e.g. 0.01:60`,
      );
    }
    return { snr, tiltDeg };
  });
}

export interface AccuracyPlan {
  particles: number;
  conditions: Condition[];
  methods: AlignMethod[];
  candidates: number;
  bandwidth: number;
  seed: number;
  n: number;
  voxelSize: number;
  /** Resolution of the simulated density (Å). */
  resolution: number;
  /** The reference is the noise-free density low-passed to this resolution (Å), raised-cosine edge of 2 shells. */
  referenceResolution: number;
  /**
   * Box the local refinements run at (core/align.ts binning by Fourier crop; FRM always uses the full box):
   * 'auto' = the smallest box whose Nyquist lies beyond the reference's low-pass, or an explicit even size.
   */
  alignBox: 'auto' | number;
  /** True shifts are uniform in ±maxShift voxels per axis. */
  maxShift: number;
  /** Radius of the FTM translation search (voxels): covers the largest true shift, maxShift·√3, plus 1. */
  searchShift: number;
  maskRadius: number;
  maskEdge: number;
  tiltStepDeg: number;
  symmetry: string;
  pdb: string | undefined;
  /**
   * Underfocus range (µm) each particle's defocus is drawn from (a tomogram per particle); absent: every
   * particle at CTF_DEFAULTS' defocus. Absent from the plan's JSON when unset, so earlier plans stay the same.
   */
  defocus?: [number, number];
  /** With `defocus`: align each particle matched to its own CTF (core/ctf.ts ctfMatched), or false: the binary wedge. */
  ctfAlign?: boolean;
  /** Free text for the report's Notes section (e.g. why these settings were chosen). */
  note: string | undefined;
  out: string;
  quick: boolean;
}

// The full default aligns at the full box (the paper's setting); the quick one bins to the automatic box for speed.
const QUICK = { particles: 4, conditions: '0.01:60', size: 32, voxel: 12, candidates: 3, methods: 'sag,sag1,lm,chen', alignBox: 'auto' };
const FULL = { particles: 20, size: 64, voxel: 6, candidates: 10, methods: 'sag,lm,chen', alignBox: 'full' };

/** SimulationConfig fields → the flag that sets them here. */
const FLAG_OF: Record<string, string> = {
  n: '--size',
  voxelSize: '--voxel',
  resolution: '--resolution',
  maxShift: '--max-shift',
  seed: '--seed',
  tiltStep: '--tilt-step',
  snr: '--conditions',
  tilt: '--conditions',
};

function readAlignBox(text: string, n: number): 'auto' | number {
  if (text === 'auto') return 'auto';
  const box = text === 'full' ? n : Number(text);
  if (!Number.isInteger(box) || box < 2 || box % 2 !== 0 || box > n) {
    throw new UsageError(`--align-box must be auto, full or an even number of voxels up to --size ${n}, got '${text}'`);
  }
  return box;
}

/** The box the refinements run at for this plan. */
export function alignmentBox(plan: AccuracyPlan): number {
  return plan.alignBox === 'auto' ? alignBoxOf(plan.n, { lowpassShell: referenceShell(plan.n, plan.voxelSize, plan.referenceResolution) }) : plan.alignBox;
}

export function readPlan(argv: readonly string[]): AccuracyPlan {
  const args = new Args(argv);
  const quick = args.has('quick');
  const d = quick ? QUICK : FULL;
  const particles = args.int('particles', d.particles);
  if (particles < 2) throw new UsageError(`--particles must be at least 2 (the paired tests need pairs), got ${particles}`);
  const conditions = args.has('conditions')
    ? parseConditions(args.string('conditions'))
    : quick
      ? parseConditions(QUICK.conditions)
      : [...PAPER_CONDITIONS];
  const methods = args.string('methods', d.methods).split(',').map((m) => m.trim()) as AlignMethod[];
  for (const m of methods) {
    if (!ALIGN_METHODS.includes(m)) throw new UsageError(`--methods: unknown method '${m}' (expected ${ALIGN_METHODS.join(', ')})`);
  }
  if (new Set(methods).size !== methods.length) throw new UsageError(`--methods lists a method twice: ${methods.join(',')}`);
  const n = args.int('size', d.size);
  const voxelSize = args.number('voxel', d.voxel);
  const maxShift = args.number('max-shift', Math.round(24 / voxelSize));
  const maskEdge = args.number('mask-edge', 3);
  const plan: AccuracyPlan = {
    particles,
    conditions,
    methods,
    candidates: args.int('candidates', d.candidates),
    bandwidth: args.int('bandwidth', 32),
    seed: args.int('seed', 1),
    n,
    voxelSize,
    resolution: args.number('resolution', Math.max(20, 2 * voxelSize)),
    referenceResolution: args.number('ref-resolution', 60),
    alignBox: readAlignBox(args.string('align-box', d.alignBox), n),
    maxShift,
    searchShift: maxShift * Math.sqrt(3) + 1,
    maskRadius: Math.floor(n / 2) - 1 - maskEdge,
    maskEdge,
    tiltStepDeg: args.number('tilt-step', 1),
    symmetry: parseSymmetry(args.string('symmetry', 'D7')).name,
    pdb: args.has('pdb') ? resolve(args.string('pdb')) : undefined,
    ...defocusPlan(args),
    note: args.optionalString('note'),
    out: resolve(args.string('out', 'docs/accuracy')),
    quick,
  };
  if (plan.candidates < 1) throw new UsageError(`--candidates must be at least 1, got ${plan.candidates}`);
  if (!(plan.maskRadius > 0)) throw new UsageError(`--mask-edge ${maskEdge} leaves no mask inside a ${n}³ box`);
  if (!(plan.referenceResolution >= 2 * voxelSize)) {
    throw new UsageError(`--ref-resolution ${plan.referenceResolution} Å is finer than Nyquist (2 × ${voxelSize} Å)`);
  }
  for (const c of conditions) {
    try {
      validateSimulationConfig(simulationConfig(plan, c));
    } catch (err) {
      if (!(err instanceof SimulationConfigError)) throw err;
      throw new UsageError(`${FLAG_OF[err.field] ?? err.field}: ${err.message}`);
    }
  }
  return plan;
}

// ------------------------------------------------------------------------------------------------- results

export interface MethodOutcome {
  /** Rotation error (degrees) under the symmetry. */
  rotationDeg: number;
  translationVoxels: number;
  /** CCC of the reference at the estimated pose against the reference at the true pose, particle wedge + mask. */
  cccTruePose: number;
  /** Constrained CCC of the particle against the reference at the estimated pose (what the methods maximise), at the alignment box. */
  score: number;
  /** Candidate that won (0-based, FRM order). */
  candidateIndex: number;
  /** Estimated pose: ZYZ degrees and voxels. */
  pose: [number, number, number, number, number, number];
  wallSeconds: number;
  cpuSeconds: number;
  /** Full passes over the masked voxels, summed over candidates. */
  evaluations: number;
  /**
   * Per candidate, in FRM order: the dissimilarity its refinement ended at (null: it failed) and whether it
   * stopped at the method's iteration cap (SAG's maxEpochs, LM's maxIterations, Chen's rounds).
   */
  candidates: { dissimilarity: number | null; capped: boolean }[];
}

/** SAG Algorithm 2 vs Algorithm 1 from the same start, to the loss both reached (see `sameLossComparison`). */
export interface SameLoss {
  candidate: number;
  targetLoss: number;
  sag: { ms: number; evaluations: number };
  sag1: { ms: number; evaluations: number };
}

export interface ParticleRecord {
  index: number;
  /** True pose: ZYZ degrees and voxels. */
  truePose: [number, number, number, number, number, number];
  frm: {
    wallSeconds: number;
    cpuSeconds: number;
    candidateErrorsDeg: number[];
    /** Candidates left when those within one FRM grid step of a better one under the symmetry are merged. */
    distinctUnderSymmetry: number;
  };
  /** Constrained CCC of the particle against the reference at the true pose, at the alignment box (as `score`). */
  truthScore: number;
  outcomes: Partial<Record<AlignMethod, MethodOutcome>>;
  sameLoss?: SameLoss[];
}

export interface ConditionRecord {
  condition: Condition;
  /** Per-subtomogram SNR measured from two noise realisations of particle 0 (null when noise free). */
  subtomogramSnr: number | null;
  wallSeconds: number;
  particles: ParticleRecord[];
}

export interface AccuracyReport {
  plan: AccuracyPlan;
  command: string;
  machine: { cores: number; cpuModel: string; memoryGiB: number; node: string; loadAverageStart: number[]; loadAverageEnd: number[] };
  startedAt: string;
  wallSeconds: number;
  model: string;
  /** Box the local refinements ran at (plan.alignBox resolved). */
  alignBox: number;
  /** Git commit of the code that ran and the files under core/, io/, bench/ that differed from it (null outside git). */
  code: { commit: string; modified: string[] } | null;
  conditions: ConditionRecord[];
}

interface Timer {
  wall: number;
  cpu: NodeJS.CpuUsage;
}

function startTimer(): Timer {
  return { wall: performance.now(), cpu: process.cpuUsage() };
}

function stopTimer(t: Timer): { wallSeconds: number; cpuSeconds: number } {
  const cpu = process.cpuUsage(t.cpu);
  return { wallSeconds: (performance.now() - t.wall) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

function poseArray(t: ArrayLike<number>, euler: { phi: number; theta: number; psi: number }) {
  return [degrees(euler.phi), degrees(euler.theta), degrees(euler.psi), t[0], t[1], t[2]] as [number, number, number, number, number, number];
}

interface SagTraces {
  lossTrace: number[];
  evaluationTrace: number[];
  timeTrace: number[];
}

function hasSagTraces(r: object): r is SagTraces {
  return 'evaluationTrace' in r && 'timeTrace' in r;
}

/**
 * Algorithm 2 against Algorithm 1 on the same candidate: the target is the worse of the two best losses
 * (so both reached it), and each is charged the time and full passes until its loss trace first got there.
 */
export function sameLossComparison(candidate: number, a2: SagTraces, a1: SagTraces): SameLoss {
  const target = Math.max(Math.min(...a2.lossTrace), Math.min(...a1.lossTrace));
  const reach = (r: SagTraces) => {
    const k = r.lossTrace.findIndex((l) => l <= target);
    return { ms: r.timeTrace[k], evaluations: r.evaluationTrace[k] };
  };
  return { candidate, targetLoss: target, sag: reach(a2), sag1: reach(a1) };
}

/** Rotations left after merging each into an earlier one within `tolerance` (radians) under the symmetry. */
function distinctUnderSymmetry(rotations: readonly Mat3[], group: SymmetryGroup, tolerance: number): number {
  const kept: Mat3[] = [];
  for (const R of rotations) {
    if (!kept.some((K) => rotationErrorUnderSymmetry(R, K, group) < tolerance)) kept.push(R);
  }
  return kept.length;
}

function loadModel(pdb: string | undefined): { model: DensityModel; name: string } {
  if (!pdb) return { model: densityModel(groelPhantom()), name: 'built-in GroEL-like D7 phantom (core/phantom.ts)' };
  const atoms = buildAssembly(readStructure(pdb));
  return { model: densityModel(atoms), name: `${repoRelative(pdb)} (biological assembly from BIOMT, ${atoms.length} atoms)` };
}

/** `--defocus MIN:MAX` (µm) and `--ctf matched|wedge` (align with each particle's CTF, or the binary wedge only). */
function defocusPlan(args: Args): Pick<AccuracyPlan, 'defocus' | 'ctfAlign'> {
  if (!args.has('defocus')) {
    if (args.has('ctf')) throw new UsageError('--ctf compares alignment with and without the CTF on data of a defocus range: give --defocus MIN:MAX too');
    return {};
  }
  const defocus = parseDefocus(args.string('defocus'));
  if (!('range' in defocus)) throw new UsageError(`--defocus takes a range MIN:MAX in µm (each particle draws its own), got ${args.string('defocus')}`);
  const ctf = args.string('ctf', 'matched');
  if (ctf !== 'matched' && ctf !== 'wedge') throw new UsageError(`--ctf must be matched (each particle's own CTF) or wedge (the binary wedge only), got '${ctf}'`);
  return { defocus: defocus.range, ctfAlign: ctf === 'matched' };
}

function simulationConfig(plan: AccuracyPlan, c: Condition): SimulationConfig {
  return {
    n: plan.n,
    voxelSize: plan.voxelSize,
    resolution: plan.resolution,
    tilt: symmetricTilt(c.tiltDeg),
    tiltStep: radians(plan.tiltStepDeg),
    snr: c.snr,
    maxShift: plan.maxShift,
    seed: plan.seed,
    imaging: { ctf: { ...CTF_DEFAULTS }, mtf: true },
    ...(plan.defocus && { defocusRange: [plan.defocus[0] * 1e4, plan.defocus[1] * 1e4] as [number, number], particlesPerTomogram: 1 }),
  };
}

/**
 * SNR of a subtomogram inside the mask sphere from two realisations of the same particle with independent
 * noise (design "Physics notes"): ρ/(1 − ρ).
 */
function measureSubtomogramSnr(model: DensityModel, config: SimulationConfig, mask: Float32Array): number {
  const tomo = new TomographySimulator(config.n, config.voxelSize, tiltAngles(config.tilt, config.tiltStep), config.imaging);
  const rng = Rng.derive(config.seed, 0x5e);
  const density = renderDensity(model, config, { rotation: eulerToMatrix({ phi: 0.3, theta: 1.1, psi: -0.7 }), shift: [0, 0, 0] });
  const inside = (v: Float32Array) => v.filter((_, i) => mask[i] >= 1);
  const a = inside(tomo.simulate(density, config.snr, new Rng(rng.nextU32())).data);
  const b = inside(tomo.simulate(density, config.snr, new Rng(rng.nextU32())).data);
  return snrFromTwoRealisations(a, b, a.length);
}

export type Log = (line: string) => void;

/** Runs the plan; `onCondition` gets the report so far after every condition (for incremental output). */
export async function runAccuracy(
  plan: AccuracyPlan,
  command: string,
  log: Log,
  onCondition?: (partial: AccuracyReport) => Promise<void>,
): Promise<AccuracyReport> {
  const began = performance.now();
  const { model, name } = loadModel(plan.pdb);
  const group = parseSymmetry(plan.symmetry);
  const mask = softSphereMask(plan.n, plan.maskRadius, plan.maskEdge);
  const reach = model.radius / plan.voxelSize + Math.sqrt(3) * plan.maxShift;
  if (reach > plan.maskRadius + plan.maskEdge) {
    log(`warning: the structure reaches ${reach.toFixed(1)} voxels from the centre, beyond the alignment mask (${plan.maskRadius} + ${plan.maskEdge} edge)`);
  }
  const box = alignmentBox(plan);
  const report: AccuracyReport = {
    plan,
    command,
    machine: {
      cores: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: totalmem() / 2 ** 30,
      node: process.version,
      loadAverageStart: loadavg(),
      loadAverageEnd: [],
    },
    startedAt: new Date().toISOString(),
    wallSeconds: 0,
    model: name,
    alignBox: box,
    code: codeVersion(),
    conditions: [],
  };
  const bar = new ProgressBar('accuracy', plan.conditions.length * plan.particles);
  let warmedUp = false;
  for (const condition of plan.conditions) {
    const conditionStart = performance.now();
    const config = simulationConfig(plan, condition);
    const wedge: TiltRange | undefined = condition.tiltDeg < 90 ? config.tilt : undefined;
    const sim = new DatasetSimulator(model, config);
    const reference = lowpassToResolution(sim.reference(), plan.referenceResolution, REFERENCE_EDGE_SHELLS);
    const aligned = new AlignmentReference(reference, box);
    const subtomogramSnr = Number.isFinite(condition.snr) ? measureSubtomogramSnr(model, config, mask) : null;
    const record: ConditionRecord = { condition, subtomogramSnr, wallSeconds: 0, particles: [] };
    report.conditions.push(record);
    const ws = cccWorkspace(plan.n);
    const wedgeOfParticle = wedge ? wedgeMask(plan.n, wedge) : undefined;
    log(`${conditionLabel(condition)}: subtomogram SNR ${subtomogramSnr === null ? '∞' : subtomogramSnr.toFixed(4)}`);
    for (let i = 0; i < plan.particles; i++) {
      const simulated = sim.particle(i);
      // what every method aligns: the particle matched to its own CTF (CTF-aware), else as simulated
      const p = plan.ctfAlign && simulated.ctf ? { ...simulated, volume: ctfMatched(simulated.volume, { tilt: config.tilt, ctf: simulated.ctf }) } : simulated;
      const trueR = eulerToMatrix(p.pose);
      const trueT = [p.pose.tx, p.pose.ty, p.pose.tz];
      const frmTimer = startTimer();
      const candidates = frmCandidates(reference, p.volume, { bandwidth: plan.bandwidth, topN: plan.candidates, wedgeParticle: wedge });
      const frmTime = stopTimer(frmTimer);
      if (candidates.length === 0) throw new Error(`${conditionLabel(condition)}, particle ${i}: FRM found no rotation candidate`);
      const atTruth = transformVolume(reference, p.pose);
      const context = new ParticleContext(aligned, p.volume, { mask, wedgeParticle: wedge });
      const particle: ParticleRecord = {
        index: i,
        truePose: poseArray(trueT, p.pose),
        frm: {
          ...frmTime,
          candidateErrorsDeg: candidates.map((c) => degrees(rotationErrorUnderSymmetry(c.R, trueR, group))),
          distinctUnderSymmetry: distinctUnderSymmetry(candidates.map((c) => c.R), group, Math.PI / plan.bandwidth),
        },
        truthScore: context.objective.exactCcc(trueR, trueT.map((t) => t / context.scale)),
        outcomes: {},
      };
      const seed = Rng.derive(plan.seed, i).nextU32();
      if (!warmedUp) {
        // Compile every method's hot loops before anything is timed, so the first one measured is not charged for the JIT.
        for (const method of plan.methods) {
          alignParticle(aligned, p.volume, { method, candidates: candidates.slice(0, 1), maxShift: plan.searchShift, mask, wedgeParticle: wedge, seed });
        }
        warmedUp = true;
      }
      const traces = new Map<AlignMethod, CandidateResult[]>();
      let moved = undefined as ReturnType<typeof transformVolumeByMatrix> | undefined;
      // Methods take turns going first, so a change of machine load during a particle is spread over all of them.
      const order = plan.methods.map((_, k) => plan.methods[(k + i) % plan.methods.length]);
      for (const method of order) {
        const timer = startTimer();
        const result = alignParticle(aligned, p.volume, {
          method,
          candidates,
          maxShift: plan.searchShift,
          mask,
          wedgeParticle: wedge,
          seed,
        });
        const time = stopTimer(timer);
        const best = result.best;
        if (!best) {
          throw new Error(`${conditionLabel(condition)}, particle ${i}: every ${method} refinement failed (${result.failures.map((f) => f.reason).join('; ')})`);
        }
        const R = Float64Array.from(best.R);
        moved = transformVolumeByMatrix(reference, R, best.t, moved);
        particle.outcomes[method] = {
          rotationDeg: degrees(rotationErrorUnderSymmetry(R, trueR, group)),
          translationVoxels: translationError(best.t, trueT),
          cccTruePose: ws.cccWithWedges(atTruth.data, moved.data, wedgeOfParticle, undefined, mask),
          score: best.ccc,
          candidateIndex: best.candidateIndex,
          pose: poseArray(best.t, best.pose),
          ...time,
          evaluations: result.perCandidate.reduce((s, r) => s + r.evaluations, 0),
          candidates: candidates.map((_, k) => {
            const r = result.perCandidate.find((c) => c.candidateIndex === k);
            return { dissimilarity: r ? r.dissimilarity : null, capped: r ? r.capped : false };
          }),
        };
        traces.set(method, result.perCandidate);
      }
      const a2 = traces.get('sag');
      const a1 = traces.get('sag1');
      if (a2 && a1) {
        particle.sameLoss = a2.flatMap((r) => {
          const k = r.candidateIndex;
          const other = a1.find((o) => o.candidateIndex === k);
          if (!other) return [];
          if (!hasSagTraces(r) || !hasSagTraces(other)) throw new Error('SAG results carry no loss/time traces (core/sag.ts changed?)');
          return sameLossComparison(k, r, other);
        });
      }
      record.particles.push(particle);
      const summary = plan.methods
        .map((m) => {
          const o = particle.outcomes[m]!;
          return `${m} ${o.rotationDeg.toFixed(1)}° ${o.translationVoxels.toFixed(2)}vx ${o.wallSeconds.toFixed(1)}s`;
        })
        .join(' | ');
      log(
        `[${conditionKey(condition)}] particle ${i + 1}/${plan.particles}: FRM best candidate ` +
          `${Math.min(...particle.frm.candidateErrorsDeg).toFixed(1)}° (${frmTime.wallSeconds.toFixed(1)}s) | ${summary}`,
      );
      bar.tick(1, conditionKey(condition));
    }
    record.wallSeconds = (performance.now() - conditionStart) / 1000;
    report.wallSeconds = (performance.now() - began) / 1000;
    report.machine.loadAverageEnd = loadavg();
    await onCondition?.(report);
  }
  report.wallSeconds = (performance.now() - began) / 1000;
  report.machine.loadAverageEnd = loadavg();
  return report;
}

export async function writeOutputs(report: AccuracyReport, final: boolean): Promise<void> {
  const out = report.plan.out;
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'accuracy.json'), portableJson(report, 1, (v) => (v === Infinity ? 'Infinity' : v)));
  if (final) {
    await writeFile(join(out, 'accuracy.md'), accuracyMarkdown(report));
    await writeFile(join(out, 'accuracy.svg'), accuracySvg(report));
  }
}

/** The commit checked out and the uncommitted source files that take part in the benchmark. */
function codeVersion(): { commit: string; modified: string[] } | null {
  const repo = fileURLToPath(new URL('..', import.meta.url));
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const commit = git('rev-parse', '--short', 'HEAD').trim();
    const modified = git('status', '--porcelain', '--', 'core', 'io', 'bench', 'cli')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.slice(3));
    return { commit, modified };
  } catch {
    return null;
  }
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const plan = readPlan(argv);
  const command = ['npx', 'tsx', 'bench/accuracy.ts', ...argv].map(shellQuote).join(' ');
  const log: Log = (line) => process.stderr.write(`${line}\n`);
  log(
    `accuracy: ${plan.conditions.map(conditionKey).join(', ')} × ${plan.particles} particles, methods ${plan.methods.join(', ')}, ` +
      `${plan.candidates} FRM candidates, ${plan.n}³ at ${plan.voxelSize} Å → ${plan.out}`,
  );
  const report = await runAccuracy(plan, command, log, (partial) => writeOutputs(partial, false));
  await writeOutputs(report, true);
  process.stdout.write(accuracyMarkdown(report));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof UsageError ? 'usage error' : 'error'}: ${(err as Error).message}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
