/**
 * `subtomo align`: the paper's Algorithm 3 for a particle list against one reference (drivers/align.ts): FRM
 * rotation candidates in this process, then every (particle × candidate) pair refined locally (FTM shift, then
 * SAG / LM / Chen) in this process or on MPI ranks, the lowest dissimilarity winning per particle. Writes the
 * list (--out, in its own format or --format's) with every input column kept and only poses and scores
 * updated, and the full results, including every candidate's dissimilarity, as JSON beside it (angles in
 * radians, shifts in voxels, as model/jobs.ts ParticleAlignment). A reference of another box or voxel size is
 * resampled to the particles'.
 */
import { basename, dirname, join, resolve } from 'node:path';
import { radians } from '../../core/rotate.ts';
import type { Volume } from '../../core/volume.ts';
import { type AlignSettings, type AlignTarget, alignJob, alignmentWarnings, findCandidates, meanRefinedCcc, runAlignment } from '../../drivers/align.ts';
import { jobCtfOf, readPreparedList, withUpdatedParticles } from '../../drivers/particleList.ts';
import { writeMrc } from '../../io/mrc.ts';
import { writeParticleList } from '../../io/particles.ts';
import { type Sampling, assertSameSampling, readMapFitted, readVolume } from '../../io/volumes.ts';
import { ALIGNMENT_DEFAULTS, SAG_DEFAULTS, defaultMaskRadius } from '../../model/defaults.ts';
import type { SagSettings } from '../../model/jobs.ts';
import { ALIGN_METHODS, type AlignMethod } from '../../model/methods.ts';
import { type Args, UsageError } from '../../os/args.ts';
import { interruptSignal } from '../../os/interrupt.ts';
import { ProgressBar } from '../../os/progress.ts';
import type { Command } from '../command.ts';
import { symmetryOption } from '../symmetryOption.ts';
import { FORMAT_USAGE, LIST_FLAGS, LIST_USAGE, listSelection, outputFormat } from '../listOptions.ts';
import { MPI_FLAGS, MPI_USAGE, mpiOptions } from '../mpiOptions.ts';

const A = ALIGNMENT_DEFAULTS;

/** The alignment flags `readSettings` reads, shared with `subtomo classify`. */
export const ALIGN_SETTING_FLAGS = [
  'method', 'candidates', 'bandwidth', 'max-shift', 'mask-radius', 'mask-edge', 'align-box', 'seed', 'batch', 'epochs', 'tolerance', 'gradient-tolerance', 'lambda', 'symmetry',
];
export const ALIGN_SETTINGS_USAGE =
  `[--method ${ALIGN_METHODS.join('|')} (${A.method})] [--candidates ${A.candidates}] [--bandwidth ${A.bandwidth}] ` +
  `[--max-shift ${A.maxShift}] [--mask-radius R] [--mask-edge ${A.maskEdge}] [--align-box M] [--seed ${A.seed}] [--symmetry C1|Cn|Dn]\n` +
  `       SAG: [--batch B (box/8)] [--epochs ${SAG_DEFAULTS.maxEpochs} (safety cap)] [--tolerance ${SAG_DEFAULTS.tolerance}] ` +
  `[--gradient-tolerance ${SAG_DEFAULTS.gradientTolerance}] [--lambda ${SAG_DEFAULTS.lambda}]\n` +
  `            (B counts x-slices of the particles' box; tolerances are relative to the starting d; λ is Eq. 13's)`;

const usage =
  `subtomo align --ref REF.mrc|.em ${LIST_USAGE} --out LIST ${FORMAT_USAGE} ${MPI_USAGE}\n       ${ALIGN_SETTINGS_USAGE}\n` +
  `       [--angular-range DEG]   (local search within DEG of each particle's pose in the list)`;

/** The JSON results written beside the output STAR: x.star → x.json. */
export function resultsPathFor(star: string): string {
  return star.endsWith('.star') ? `${star.slice(0, -'.star'.length)}.json` : `${star}.json`;
}

function readSag(args: Args): SagSettings | undefined {
  const sag: SagSettings = {};
  if (args.has('batch')) {
    sag.batchSize = args.int('batch');
    if (sag.batchSize < 1) throw new UsageError(`--batch must be at least 1 x-slice, got ${sag.batchSize}`);
  }
  if (args.has('epochs')) {
    sag.maxEpochs = args.int('epochs');
    if (sag.maxEpochs < 0) throw new UsageError(`--epochs must be ≥ 0, got ${sag.maxEpochs}`);
  }
  if (args.has('tolerance')) {
    sag.tolerance = args.number('tolerance');
    if (sag.tolerance < 0) throw new UsageError(`--tolerance must be ≥ 0 (relative change of d per epoch), got ${sag.tolerance}`);
  }
  if (args.has('gradient-tolerance')) {
    sag.gradientTolerance = args.number('gradient-tolerance');
    if (sag.gradientTolerance < 0) {
      throw new UsageError(`--gradient-tolerance must be ≥ 0 (decrease of d predicted by the gradient, relative), got ${sag.gradientTolerance}`);
    }
  }
  if (args.has('lambda')) {
    sag.lambda = args.number('lambda');
    if (sag.lambda < 0) throw new UsageError(`--lambda must be ≥ 0 (λ of Eq. 13), got ${sag.lambda}`);
  }
  return Object.keys(sag).length > 0 ? sag : undefined;
}

/** The settings of the flags, for particles of an n³ box. */
export function readSettings(args: Args, n: number): AlignSettings {
  const method = args.string('method', A.method) as AlignMethod;
  if (!ALIGN_METHODS.includes(method)) throw new UsageError(`--method must be one of ${ALIGN_METHODS.join(', ')}, got '${method}'`);
  const candidates = args.int('candidates', A.candidates);
  const bandwidth = args.int('bandwidth', A.bandwidth);
  const maxShift = args.number('max-shift', A.maxShift);
  const edge = args.number('mask-edge', A.maskEdge);
  const radius = args.has('mask-radius') ? args.number('mask-radius') : defaultMaskRadius(n, edge);
  const alignBox = args.has('align-box') ? args.int('align-box') : undefined;
  const seed = args.int('seed', A.seed);
  if (candidates < 1) throw new UsageError(`--candidates must be at least 1, got ${candidates}`);
  if (bandwidth < 2) throw new UsageError(`--bandwidth must be at least 2, got ${bandwidth}`);
  if (maxShift < 0) throw new UsageError(`--max-shift must be ≥ 0 voxels, got ${maxShift}`);
  if (edge < 0) throw new UsageError(`--mask-edge must be ≥ 0 voxels, got ${edge}`);
  if (!(radius > 0)) {
    throw new UsageError(args.has('mask-radius') ? `--mask-radius must be > 0 voxels, got ${radius}` : `--mask-edge ${edge} leaves no mask inside a ${n}³ box`);
  }
  if (alignBox !== undefined && !(alignBox >= 2 && alignBox % 2 === 0 && alignBox <= n)) {
    throw new UsageError(`--align-box must be an even number of voxels from 2 to the particles' box ${n}, got ${alignBox}`);
  }
  if (seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed must be in [0, 2³²), got ${seed}`);
  const sag = readSag(args);
  if (sag?.batchSize !== undefined && sag.batchSize > n) throw new UsageError(`--batch ${sag.batchSize} exceeds the ${n} x-slices of the box`);
  const symmetry = symmetryOption(args)?.name;
  const angularRange = args.has('angular-range') ? args.number('angular-range') : undefined;
  if (angularRange !== undefined && !(angularRange > 0 && angularRange <= 180)) {
    throw new UsageError(`--angular-range must be in (0, 180] degrees, got ${angularRange}`);
  }
  return {
    method, candidates, bandwidth, maxShift, mask: { radius, edge }, alignBox, sag, seed,
    ...(symmetry && { symmetry }), ...(angularRange !== undefined && { angularRange: radians(angularRange) }),
  };
}

async function run(args: Args): Promise<void> {
  const mpi = mpiOptions(args);
  const out = resolve(args.string('out'));
  const refPath = resolve(args.string('ref'));
  const prepared = await readPreparedList(args.string('particles'), listSelection(args));
  const format = outputFormat(args, prepared.list.origin.format);
  const { voxelSize } = prepared;
  const first = prepared.particles[0];
  const sample = await readVolume(first.image, { voxelSize }).catch((err: Error) => {
    throw new Error(`particle ${first.name}: ${err.message}`);
  });
  const sampling = { n: sample.n, voxelSize, label: `particle ${first.name} (${first.image})` };
  const reference = await referenceOnSampling(refPath, sampling, out);
  const settings = readSettings(args, sampling.n);
  const unposed = settings.angularRange !== undefined && prepared.particles.find((p) => !p.pose);
  if (unposed) throw new UsageError(`--angular-range refines around each particle's pose, but ${unposed.name} has none in ${args.string('particles')}`);
  const targets: AlignTarget[] = prepared.particles.map((p) => ({
    name: p.name, path: p.image, tilt: p.tilt, ...jobCtfOf(prepared, p), reference: reference.path,
    ...(settings.angularRange !== undefined && { prior: p.pose }),
  }));
  const read = {
    reference: async (): Promise<Volume> => reference.volume,
    particle: async (t: AlignTarget): Promise<Volume> => {
      const v = await readVolume(t.path, { voxelSize }).catch((err: Error) => {
        throw new Error(`particle ${t.name}: ${err.message}`);
      });
      assertSameSampling({ n: v.n, voxelSize: v.voxelSize, label: `particle ${t.name} (${t.path})` }, sampling);
      return v;
    },
  };
  const frmBar = new ProgressBar('FRM', targets.length);
  const particles = await findCandidates(targets, settings, read, (_done, name) => frmBar.tick(1, name));
  const job = alignJob(particles, settings, { results: resultsPathFor(out) });
  const pairs = particles.reduce((sum, p) => sum + p.candidates.length, 0);
  const bar = new ProgressBar(`refine (${settings.method})`, pairs);
  const started = performance.now();
  const interrupt = interruptSignal();
  const { results, ranks } = await runAlignment(job, { mpi, boxSize: sampling.n, signal: interrupt.signal, onProgress: (done, detail) => bar.update(done, detail) })
    .finally(interrupt.dispose);
  const seconds = (performance.now() - started) / 1000;
  const aligned = prepared.particles.map((p, i) => {
    const r = results[i];
    return { ...p, pose: r.failed ? (p.pose ?? r.pose) : r.pose, scores: { ccc: r.ccc, dissimilarity: r.dissimilarity, iterations: r.iterations, candidate: r.failed ? -1 : r.candidateIndex } };
  });
  const written = await writeParticleList(withUpdatedParticles(prepared, aligned), out, format);
  const meanCcc = meanRefinedCcc(results);
  const lines = [
    ...reference.changes.map((c) => `reference ${refPath}: ${c}, to match the particles (written to ${reference.path})`),
    `aligned ${results.length} particles (${pairs} particle × candidate refinements, ${settings.method}) in ${seconds.toFixed(1)} s` +
      `${mpi ? ` on ${mpi.np} MPI ranks` : ''}; mean CCC ${meanCcc.toFixed(4)}`,
    ...alignmentWarnings(results),
    ...(ranks ?? []).map((r) => `  rank ${r.rank}: ${r.pairs} pairs, ${r.particlesRead} particles read, ${r.seconds.toFixed(1)} s`),
    `wrote ${written.join(', ')} (${format}) and ${job.out}`,
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}

/**
 * The reference on the particles' sampling. A reference of another box or voxel size is resampled (Fourier
 * crop/pad, then cut or padded about its centre) and written beside the output, since the MPI ranks read it
 * from a file.
 */
async function referenceOnSampling(path: string, sampling: Sampling, out: string): Promise<{ volume: Volume; path: string; changes: string[] }> {
  const { volume, changes } = await readMapFitted(path, sampling);
  if (changes.length === 0) return { volume, path, changes };
  const fitted = join(dirname(out), `.${basename(out)}.reference.mrc`);
  await writeMrc(fitted, volume, { labels: [`${basename(path)} resampled to ${sampling.n}^3 of ${sampling.voxelSize} A`] });
  return { volume, path: fitted, changes };
}

const align: Command = {
  summary: 'align particles to a reference: FRM candidates, then SAG/LM/Chen refinement (optionally on MPI ranks)',
  usage,
  flags: {
    values: ['ref', 'out', 'angular-range', ...ALIGN_SETTING_FLAGS, ...LIST_FLAGS.values, ...MPI_FLAGS.values],
    switches: LIST_FLAGS.switches,
    repeatable: [...(LIST_FLAGS.repeatable ?? []), ...(MPI_FLAGS.repeatable ?? [])],
  },
  run,
};

export default align;
