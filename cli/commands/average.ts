/**
 * `subtomo average`: gold-standard half maps and the combined wedge-normalised average of aligned particles
 * (a STAR with poses, e.g. from `subtomo align` or the ground truth of `subtomo simulate`), in this process
 * or on MPI ranks (drivers/average.ts).
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { runAverage } from '../../drivers/average.ts';
import { readParticleStar } from '../../io/particlestar.ts';
import { WEIGHT_FLOOR_FRACTION } from '../../model/defaults.ts';
import type { AverageJob } from '../../model/jobs.ts';
import { type Args, UsageError } from '../../os/args.ts';
import { interruptSignal } from '../../os/interrupt.ts';
import { ProgressBar } from '../../os/progress.ts';
import type { Command } from '../command.ts';
import { MPI_FLAGS, MPI_USAGE, mpiOptions } from '../mpiOptions.ts';

const usage = `subtomo average --particles STAR --out DIR [--floor-fraction ${WEIGHT_FLOOR_FRACTION}] ${MPI_USAGE}`;

/** Output files inside --out. */
export function averageOutputs(dir: string): AverageJob['out'] {
  return { odd: join(dir, 'half_odd.mrc'), even: join(dir, 'half_even.mrc'), combined: join(dir, 'average.mrc') };
}

/** The AverageJob for the particles of a STAR file with poses. */
export async function averageJobFromStar(star: string, outDir: string, floorFraction: number): Promise<AverageJob> {
  const { source, particles } = await readParticleStar(star);
  const unposed = particles.find((p) => p.pose === null);
  if (unposed) {
    throw new Error(`${source}: no pose columns (_rlnAngleRot …); average needs aligned particles, e.g. the STAR written by subtomo align`);
  }
  const rows = new Map<string, number>();
  particles.forEach((p, row) => {
    const twice = rows.get(p.path);
    if (twice !== undefined) throw new Error(`${source}: rows ${twice + 1} and ${row + 1} name the same file ${p.path}; each particle must be listed once`);
    rows.set(p.path, row);
  });
  return {
    particles: particles.map((p) => ({ name: p.imageName, path: p.path, tilt: p.tilt, pose: p.pose!, half: p.half })),
    out: averageOutputs(outDir),
    floorFraction,
  };
}

async function run(args: Args): Promise<void> {
  const out = resolve(args.string('out'));
  const floorFraction = args.number('floor-fraction', WEIGHT_FLOOR_FRACTION);
  if (floorFraction < 0) throw new UsageError(`--floor-fraction must be ≥ 0, got ${floorFraction}`);
  const mpi = mpiOptions(args);
  const job = await averageJobFromStar(args.string('particles'), out, floorFraction);
  await mkdir(out, { recursive: true });
  const bar = new ProgressBar('average', job.particles.length);
  const started = performance.now();
  const interrupt = interruptSignal();
  await runAverage(job, { mpi, signal: interrupt.signal, onProgress: (done, detail) => bar.update(done, detail) }).finally(interrupt.dispose);
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
  flags: { values: ['particles', 'out', 'floor-fraction', ...MPI_FLAGS.values], repeatable: MPI_FLAGS.repeatable },
  run,
};

export default average;
