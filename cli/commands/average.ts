/**
 * `subtomo average`: gold-standard half maps and the combined wedge-normalised average of aligned particles
 * (a STAR with poses, e.g. from `subtomo align` or the ground truth of `subtomo simulate`), in this process
 * or on MPI ranks (drivers/average.ts).
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { alternatingHalf } from '../../core/halfmaps.ts';
import { runAverage } from '../../drivers/average.ts';
import { type PreparedList, readPreparedList } from '../../drivers/particleList.ts';
import { WEIGHT_FLOOR_FRACTION } from '../../model/defaults.ts';
import type { AverageJob } from '../../model/jobs.ts';
import { type Args, UsageError } from '../../os/args.ts';
import { interruptSignal } from '../../os/interrupt.ts';
import { ProgressBar } from '../../os/progress.ts';
import type { Command } from '../command.ts';
import { LIST_FLAGS, LIST_USAGE, listSelection } from '../listOptions.ts';
import { MPI_FLAGS, MPI_USAGE, mpiOptions } from '../mpiOptions.ts';

const usage = `subtomo average ${LIST_USAGE} --out DIR [--floor-fraction ${WEIGHT_FLOOR_FRACTION}] ${MPI_USAGE}`;

/** Output files inside --out. */
export function averageOutputs(dir: string): AverageJob['out'] {
  return { odd: join(dir, 'half_odd.mrc'), even: join(dir, 'half_even.mrc'), combined: join(dir, 'average.mrc') };
}

/**
 * The AverageJob for the aligned particles of a list: poses are required; half-sets are the list's
 * (rlnRandomSubset), else alternating rows.
 */
export function averageJobOf(prepared: PreparedList, outDir: string, floorFraction: number): AverageJob {
  const unposed = prepared.particles.find((p) => p.pose === undefined);
  if (unposed) {
    throw new Error(`${prepared.list.origin.path}: particle ${unposed.name} has no pose; average needs aligned particles, e.g. the list written by subtomo align`);
  }
  return {
    particles: prepared.particles.map((p, i) => ({ name: p.name, path: p.image, tilt: p.tilt, pose: p.pose!, half: p.half ?? alternatingHalf(i) })),
    out: averageOutputs(outDir),
    floorFraction,
    voxelSize: prepared.voxelSize,
  };
}

async function run(args: Args): Promise<void> {
  const out = resolve(args.string('out'));
  const floorFraction = args.number('floor-fraction', WEIGHT_FLOOR_FRACTION);
  if (floorFraction < 0) throw new UsageError(`--floor-fraction must be ≥ 0, got ${floorFraction}`);
  const mpi = mpiOptions(args);
  const job = averageJobOf(await readPreparedList(args.string('particles'), listSelection(args)), out, floorFraction);
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
  flags: {
    values: ['out', 'floor-fraction', ...LIST_FLAGS.values.filter((f) => f !== 'format'), ...MPI_FLAGS.values],
    repeatable: [...(LIST_FLAGS.repeatable ?? []), ...(MPI_FLAGS.repeatable ?? [])],
  },
  run,
};

export default average;
