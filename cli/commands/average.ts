/**
 * `subtomo average`: gold-standard half maps and the combined wedge-normalised average of aligned particles
 * (a STAR with poses, e.g. from `subtomo align` or the ground truth of `subtomo simulate`), in this process
 * or on MPI ranks (drivers/average.ts).
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { softSphereMask } from '../../core/filters.ts';
import { fscCurve, goldStandardResolution, resolutionAtFscHalf } from '../../core/fsc.ts';
import { alternatingHalf } from '../../core/halfmaps.ts';
import { runAverage } from '../../drivers/average.ts';
import { type PreparedList, jobCtfOf, readPreparedList } from '../../drivers/particleList.ts';
import { type UserMask, readMask } from '../../io/mask.ts';
import { readMrc } from '../../io/mrc.ts';
import { readVolume } from '../../io/volumes.ts';
import { ALIGNMENT_DEFAULTS, WEIGHT_FLOOR_FRACTION, defaultMaskRadius } from '../../model/defaults.ts';
import type { AverageJob } from '../../model/jobs.ts';
import { type Args, UsageError } from '../../os/args.ts';
import { interruptSignal } from '../../os/interrupt.ts';
import { ProgressBar } from '../../os/progress.ts';
import type { Command } from '../command.ts';
import { symmetryOption } from '../symmetryOption.ts';
import { LIST_FLAGS, LIST_USAGE, listSelection } from '../listOptions.ts';
import { MPI_FLAGS, MPI_USAGE, mpiOptions } from '../mpiOptions.ts';

const usage = `subtomo average ${LIST_USAGE} --out DIR [--symmetry C1|Cn|Dn] [--mask MASK.mrc] [--floor-fraction ${WEIGHT_FLOOR_FRACTION}] ${MPI_USAGE}`;

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
    particles: prepared.particles.map((p, i) => ({
      name: p.name, path: p.image, tilt: p.tilt, ...jobCtfOf(prepared, p), pose: p.pose!, half: p.half ?? alternatingHalf(i),
    })),
    out: averageOutputs(outDir),
    floorFraction,
    voxelSize: prepared.voxelSize,
  };
}

/** The gold-standard resolution of two half maps inside the mask (0.143 and 0.5 crossings). */
async function halfMapResolution(job: AverageJob, mask: Float32Array | null): Promise<string> {
  const [odd, even] = await Promise.all([readMrc(job.out.odd), readMrc(job.out.even)]);
  const curve = fscCurve(odd, even, mask ?? softSphereMask(odd.n, defaultMaskRadius(odd.n), ALIGNMENT_DEFAULTS.maskEdge));
  const at = (r: number) => (Number.isFinite(r) ? `${r.toFixed(1)} Å` : 'beyond Nyquist');
  return `resolution of the half maps (FSC inside the ${mask ? 'given' : 'default soft sphere'} mask): ` +
    `${at(goldStandardResolution(curve, odd.voxelSize, odd.n))} at 0.143, ${at(resolutionAtFscHalf(curve, odd.voxelSize, odd.n))} at 0.5`;
}

async function run(args: Args): Promise<void> {
  const out = resolve(args.string('out'));
  const floorFraction = args.number('floor-fraction', WEIGHT_FLOOR_FRACTION);
  if (floorFraction < 0) throw new UsageError(`--floor-fraction must be ≥ 0, got ${floorFraction}`);
  const mpi = mpiOptions(args);
  const symmetry = symmetryOption(args)?.name;
  const prepared = await readPreparedList(args.string('particles'), listSelection(args));
  const job = { ...averageJobOf(prepared, out, floorFraction), ...(symmetry && { symmetry }) };
  let mask: UserMask | null = null;
  if (args.has('mask')) {
    const first = await readVolume(job.particles[0].path, { voxelSize: prepared.voxelSize });
    mask = await readMask(resolve(args.string('mask')), { n: first.n, voxelSize: first.voxelSize, label: 'the particles' });
  }
  await mkdir(out, { recursive: true });
  const bar = new ProgressBar('average', job.particles.length);
  const started = performance.now();
  const interrupt = interruptSignal();
  await runAverage(job, { mpi, signal: interrupt.signal, onProgress: (done, detail) => bar.update(done, detail) }).finally(interrupt.dispose);
  const odd = job.particles.filter((p) => p.half === 'odd').length;
  process.stderr.write(
    `averaged ${job.particles.length} particles (${odd} odd, ${job.particles.length - odd} even) in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s${mpi ? ` on ${mpi.np} MPI ranks` : ''}: ` +
      `${job.out.odd}, ${job.out.even}, ${job.out.combined}${symmetry ? ` (${symmetry} imposed on each)` : ''}\n` +
      (mask?.changes.map((c) => `${c}\n`).join('') ?? '') +
      `${await halfMapResolution(job, mask?.data ?? null)}\n`,
  );
}

const average: Command = {
  summary: 'average aligned particles into odd/even half maps and a combined map',
  usage,
  flags: {
    values: ['out', 'floor-fraction', 'symmetry', 'mask', ...LIST_FLAGS.values.filter((f) => f !== 'format'), ...MPI_FLAGS.values],
    switches: LIST_FLAGS.switches,
    repeatable: [...(LIST_FLAGS.repeatable ?? []), ...(MPI_FLAGS.repeatable ?? [])],
  },
  run,
};

export default average;
