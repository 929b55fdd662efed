/**
 * `subtomo align`: the paper's Algorithm 3 for a particle STAR against one reference. FRM rotation candidates
 * are computed here (core/frm.ts); every (particle × candidate) pair is then refined locally (FTM shift, then
 * SAG / LM / Chen) either in this process or by an MPI job of mpi/alignRank.ts — both run mpi/alignWork.ts —
 * and per particle the lowest dissimilarity wins. Writes a STAR with the poses and scores (--out) and the full
 * results, including every candidate's dissimilarity, as JSON beside it.
 */
import { readFile, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '../main.ts';
import { Args, UsageError } from '../args.ts';
import { mpiOptions } from '../mpiOptions.ts';
import { ProgressBar } from '../progress.ts';
import { REFINE_METHODS, type RefineMethod } from '../../core/align.ts';
import { frmCandidates } from '../../core/frm.ts';
import { degrees } from '../../core/rotate.ts';
import type { Volume } from '../../core/volume.ts';
import { tiltRangeDegrees } from '../../core/wedge.ts';
import { readMrc } from '../../io/mrc.ts';
import { readParticleStar } from '../../io/particlestar.ts';
import { type RankTiming, alignPairs, runAlignJob } from '../../mpi/alignWork.ts';
import { writeJobFile } from '../../mpi/jobFiles.ts';
import type { AlignJob, AlignResult, ParticleEntry } from '../../mpi/jobs.ts';
import { runMpiJob } from '../../mpi/launcher.ts';

const usage =
  'subtomo align --ref REF.mrc --particles STAR --method sag|sag1|lm|chen --out STAR [--candidates 10] [--bandwidth 32] ' +
  '[--max-shift 4] [--mask-radius R] [--mask-edge 3] [--align-box M] [--seed 1] [--mpi P] [--hostfile H]';

const RANK_PROGRAM = fileURLToPath(new URL('../../mpi/alignRank.ts', import.meta.url));

/** The JSON results written beside the output STAR: x.star → x.json. */
export function resultsPathFor(star: string): string {
  return star.endsWith('.star') ? `${star.slice(0, -'.star'.length)}.json` : `${star}.json`;
}

interface Settings {
  method: RefineMethod;
  candidates: number;
  bandwidth: number;
  maxShift: number;
  maskEdge: number;
  maskRadius: number | undefined;
  /** Refine at a Fourier-cropped M³ box (binning); undefined = full size. */
  alignBox: number | undefined;
  seed: number;
}

function readSettings(args: Args): Settings {
  const method = args.string('method') as RefineMethod;
  if (!REFINE_METHODS.includes(method)) throw new UsageError(`--method must be one of ${REFINE_METHODS.join(', ')}, got '${method}'`);
  const s: Settings = {
    method,
    candidates: args.int('candidates', 10),
    bandwidth: args.int('bandwidth', 32),
    maxShift: args.number('max-shift', 4),
    maskEdge: args.number('mask-edge', 3),
    maskRadius: args.has('mask-radius') ? args.number('mask-radius') : undefined,
    alignBox: args.has('align-box') ? args.int('align-box') : undefined,
    seed: args.int('seed', 1),
  };
  if (s.candidates < 1) throw new UsageError(`--candidates must be at least 1, got ${s.candidates}`);
  if (s.bandwidth < 2) throw new UsageError(`--bandwidth must be at least 2, got ${s.bandwidth}`);
  if (s.maxShift < 0) throw new UsageError(`--max-shift must be ≥ 0 voxels, got ${s.maxShift}`);
  if (s.maskEdge < 0) throw new UsageError(`--mask-edge must be ≥ 0 voxels, got ${s.maskEdge}`);
  if (s.maskRadius !== undefined && !(s.maskRadius > 0)) throw new UsageError(`--mask-radius must be > 0 voxels, got ${s.maskRadius}`);
  if (s.alignBox !== undefined && !(s.alignBox >= 2 && s.alignBox % 2 === 0)) {
    throw new UsageError(`--align-box must be an even number of voxels ≥ 2, got ${s.alignBox}`);
  }
  if (s.seed < 0 || s.seed > 0xffffffff) throw new UsageError(`--seed must be in [0, 2³²), got ${s.seed}`);
  return s;
}

async function readParticle(name: string, path: string, reference: Volume, refPath: string): Promise<Volume> {
  let v: Volume;
  try {
    v = await readMrc(path);
  } catch (err) {
    throw new Error(`particle ${name}: ${(err as Error).message}`);
  }
  if (v.n !== reference.n || Math.abs(v.voxelSize - reference.voxelSize) > 1e-3 * reference.voxelSize) {
    throw new Error(
      `particle ${name} (${path}) is ${v.n}³ voxels of ${v.voxelSize} Å but the reference ${refPath} is ` +
        `${reference.n}³ voxels of ${reference.voxelSize} Å`,
    );
  }
  return v;
}

/** FRM candidates for every particle of the STAR, as the AlignJob's particle entries. */
async function frmEntries(starPath: string, refPath: string, reference: Volume, s: Settings): Promise<ParticleEntry[]> {
  const { particles } = await readParticleStar(starPath);
  const bar = new ProgressBar('FRM', particles.length);
  const entries: ParticleEntry[] = [];
  for (const p of particles) {
    const volume = await readParticle(p.imageName, p.path, reference, refPath);
    const found = frmCandidates(reference, volume, {
      bandwidth: s.bandwidth,
      topN: s.candidates,
      wedgeParticle: tiltRangeDegrees(p.tiltMinDeg, p.tiltMaxDeg),
    });
    if (found.length === 0) throw new Error(`particle ${p.imageName}: FRM found no rotation candidate`);
    entries.push({
      name: p.imageName,
      path: p.path,
      tiltMin: p.tiltMinDeg,
      tiltMax: p.tiltMaxDeg,
      reference: refPath,
      candidates: found.map((c) => ({ phi: degrees(c.euler.phi), theta: degrees(c.euler.theta), psi: degrees(c.euler.psi), score: c.score })),
    });
    bar.tick(1, p.imageName);
  }
  return entries;
}

async function run(args: Args): Promise<void> {
  const settings = readSettings(args);
  const mpi = mpiOptions(args);
  const out = resolve(args.string('out'));
  const refPath = resolve(args.string('ref'));
  const starPath = args.string('particles');
  const reference = await readMrc(refPath);
  const maskRadius = settings.maskRadius ?? Math.floor(reference.n / 2) - 1 - settings.maskEdge;
  if (!(maskRadius > 0)) throw new UsageError(`--mask-edge ${settings.maskEdge} leaves no mask inside a ${reference.n}³ box`);
  if (settings.alignBox !== undefined && settings.alignBox > reference.n) {
    throw new UsageError(`--align-box ${settings.alignBox} is larger than the reference's ${reference.n}³ box`);
  }

  const job: AlignJob = {
    method: settings.method,
    particles: await frmEntries(starPath, refPath, reference, settings),
    maxShift: settings.maxShift,
    mask: { radius: maskRadius, edge: settings.maskEdge },
    ...(settings.alignBox !== undefined && { alignBox: settings.alignBox }),
    seed: settings.seed,
    out: resultsPathFor(out),
    outStar: out,
  };
  const pairs = alignPairs(job).length;
  const bar = new ProgressBar(`refine (${settings.method})`, pairs);
  const started = performance.now();
  let results: AlignResult[];
  let ranks: RankTiming[] | null = null;
  if (!mpi) {
    results = await runAlignJob(job, (p) => bar.tick(1, `${p.particle} #${p.candidate + 1}`));
  } else {
    const jobFile = join(dirname(out), `.${basename(out)}.job.json`);
    await writeJobFile(jobFile, job);
    try {
      const done = await runMpiJob({
        np: mpi.np,
        hostfile: mpi.hostfile,
        entry: RANK_PROGRAM,
        args: [jobFile],
        onProgress: (rank, p) => {
          const q = p as { phase?: string; particle?: string; candidate?: number };
          if (q.phase === 'refine') bar.tick(1, `rank ${rank}: ${q.particle} #${(q.candidate ?? 0) + 1}`);
        },
      });
      ranks = (done.result as { ranks?: RankTiming[] } | undefined)?.ranks ?? null;
    } finally {
      await rm(jobFile, { force: true });
    }
    results = JSON.parse(await readFile(job.out, 'utf8')) as AlignResult[];
  }
  const seconds = (performance.now() - started) / 1000;
  const meanCcc = results.reduce((a, r) => a + r.ccc, 0) / results.length;
  const lines = [
    `aligned ${results.length} particles (${pairs} particle × candidate refinements, ${settings.method}) in ${seconds.toFixed(1)} s` +
      `${mpi ? ` on ${mpi.np} MPI ranks` : ''}; mean CCC ${meanCcc.toFixed(4)}`,
    ...(ranks ?? []).map((r) => `  rank ${r.rank}: ${r.pairs} pairs, ${r.particlesRead} particles read, ${r.seconds.toFixed(1)} s`),
    `wrote ${out} and ${job.out}`,
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}

const align: Command = {
  summary: 'align particles to a reference: FRM candidates, then SAG/LM/Chen refinement (optionally on MPI ranks)',
  usage,
  run,
};

export default align;
