/**
 * `subtomo average`: gold-standard half maps and the combined wedge-normalised average of aligned particles
 * (a STAR with poses, e.g. from `subtomo align` or the ground truth of `subtomo simulate`), in this process
 * or as an MPI job (mpi/averageRank.ts) — both run mpi/averageWork.ts.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '../main.ts';
import { Args, UsageError } from '../args.ts';
import { ProgressBar } from '../progress.ts';
import { DEFAULT_WEIGHT_FLOOR_FRACTION } from '../../core/average.ts';
import { readParticleStar } from '../../io/particlestar.ts';
import { runAverageJob } from '../../mpi/averageWork.ts';
import { poseToDegrees, writeJobFile } from '../../mpi/jobFiles.ts';
import type { AverageJob } from '../../mpi/jobs.ts';
import { runMpiJob } from '../../mpi/launcher.ts';
import { mpiOptions } from '../mpiOptions.ts';

const usage = 'subtomo average --particles STAR --out DIR [--mpi P] [--hostfile H] [--floor-fraction 0.1]';

const RANK_PROGRAM = fileURLToPath(new URL('../../mpi/averageRank.ts', import.meta.url));

/** Output files inside --out. */
export function averageOutputs(dir: string): AverageJob['out'] {
  return { odd: join(dir, 'half_odd.mrc'), even: join(dir, 'half_even.mrc'), combined: join(dir, 'average.mrc') };
}

/** The AverageJob for the particles of a STAR file with poses. */
export async function averageJobFromStar(star: string, outDir: string, floorFraction: number): Promise<AverageJob> {
  const { source, particles } = await readParticleStar(star);
  if (particles.some((p) => p.pose === null)) {
    throw new Error(`${source}: no pose columns (_rlnAngleRot …); average needs aligned particles, e.g. the STAR written by subtomo align`);
  }
  return {
    particles: particles.map((p) => ({
      name: p.imageName,
      path: p.path,
      tiltMin: p.tiltMinDeg,
      tiltMax: p.tiltMaxDeg,
      pose: poseToDegrees(p.pose!),
      half: p.half,
    })),
    out: averageOutputs(outDir),
    floorFraction,
  };
}

async function run(args: Args): Promise<void> {
  const out = resolve(args.string('out'));
  const floorFraction = args.number('floor-fraction', DEFAULT_WEIGHT_FLOOR_FRACTION);
  if (floorFraction < 0) throw new UsageError(`--floor-fraction must be ≥ 0, got ${floorFraction}`);
  const mpi = mpiOptions(args);
  const job = await averageJobFromStar(args.string('particles'), out, floorFraction);
  await mkdir(out, { recursive: true });
  const bar = new ProgressBar('average', job.particles.length);
  const started = performance.now();
  if (!mpi) {
    await runAverageJob(job, (p) => bar.tick(1, p.particle));
  } else {
    const jobFile = join(out, '.average-job.json');
    await writeJobFile(jobFile, job);
    try {
      await runMpiJob({
        np: mpi.np,
        hostfile: mpi.hostfile,
        entry: RANK_PROGRAM,
        args: [jobFile],
        onProgress: (_rank, p) => bar.tick(1, (p as { particle?: string }).particle ?? ''),
      });
    } finally {
      await rm(jobFile, { force: true });
    }
  }
  const odd = job.particles.filter((p) => p.half === 'odd').length;
  process.stderr.write(
    `averaged ${job.particles.length} particles (${odd} odd, ${job.particles.length - odd} even) in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s${mpi ? ` on ${mpi.np} MPI ranks` : ''}: ` +
      `${job.out.odd}, ${job.out.even}, ${job.out.combined}\n`,
  );
}

const average: Command = {
  summary: 'average aligned particles into odd/even half maps and a combined map',
  usage,
  run,
};

export default average;
