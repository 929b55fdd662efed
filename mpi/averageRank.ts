/**
 * MPI rank program: `mpirun -np P node mpi/averageRank.ts JOB.json` (an AverageJob, model/jobs.ts).
 *
 * Rank 0 reads and validates the job and broadcasts it with the box geometry; each rank reads its contiguous
 * share of the particles and accumulates odd/even sums (mpi/averageWork.ts, the same code as the in-process
 * path); the float64 sums and wedge weights are reduced to rank 0, which writes the two half maps and the
 * combined average. Progress: one PROGRESS line per particle; rank 0 ends with a RESULT line.
 */
import { performance } from 'node:perf_hooks';
import { HalfMapSums } from '../core/halfmaps.ts';
import type { AverageJob } from '../model/jobs.ts';
import { accumulateParticles, averageGeometry, finishAverage } from './averageWork.ts';
import { withMpi } from './binding.ts';
import { jobPathArgument, readAverageJob } from './jobFiles.ts';
import { blockPartition } from './partition.ts';
import { printProgress, printResult } from './protocol.ts';

interface Broadcast {
  job: AverageJob;
  n: number;
  voxelSize: number;
}

await withMpi(async (mpi) => {
  const started = performance.now();
  let plan: Broadcast | undefined;
  if (mpi.rank === 0) {
    const job = await readAverageJob(jobPathArgument(process.argv.slice(2), 'mpi/averageRank.ts'));
    plan = { job, ...(await averageGeometry(job)) };
  }
  const { job, n, voxelSize } = mpi.bcastJson(plan);
  const { counts, offsets } = blockPartition(job.particles.length, mpi.size);
  const mine = counts[mpi.rank];
  // A rank with nothing to do says so, or the launcher's watchdog would wait for its progress.
  if (mine === 0) printProgress({ phase: 'average', rank: mpi.rank, done: 0, total: 0 });
  const sums = new HalfMapSums(n, voxelSize);
  const t0 = performance.now();
  await accumulateParticles(job, offsets[mpi.rank], mine, sums, (done, particle) =>
    printProgress({ phase: 'average', rank: mpi.rank, done, total: mine, particle }));
  const seconds = (performance.now() - t0) / 1000;

  const total = mpi.rank === 0 ? new HalfMapSums(n, voxelSize) : null;
  sums.buffers.forEach((buffer, k) => mpi.reduceSum(buffer, 0, total?.buffers[k]));
  const reducedCounts = mpi.reduceSum(sums.counts, 0);
  const timings = mpi.gatherJson({ rank: mpi.rank, particles: mine, seconds });
  if (total && reducedCounts && timings) {
    total.counts = reducedCounts;
    await finishAverage(job, total);
    printResult({
      particles: job.particles.length,
      odd: total.odd.count,
      even: total.even.count,
      out: job.out,
      ranks: timings,
      wallSeconds: (performance.now() - started) / 1000,
    });
  }
});
