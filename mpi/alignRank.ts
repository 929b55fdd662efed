/**
 * MPI rank program: `mpirun -np P node mpi/alignRank.ts JOB.json` (an AlignJob, model/jobs.ts) — the paper's
 * Algorithm 3 over ranks.
 *
 * Rank 0 reads and validates the job and broadcasts it; every rank takes its share of the (particle ×
 * candidate) pairs (dealt back and forth, `rankOfPair`: equal counts ± 1) and refines them with
 * mpi/alignWork.ts (the in-process code), printing a PROGRESS line per pair; results are gathered to rank 0,
 * which keeps per particle the lowest dissimilarity, writes job.out (and job.outStar) and prints a RESULT
 * line with per-rank timings (load balance).
 */
import { performance } from 'node:perf_hooks';
import type { AlignJob } from '../model/jobs.ts';
import { AlignVolumes, type RankTiming, alignPairs, collectResults, pairsOfRank, refinePairs, writeAlignOutputs } from './alignWork.ts';
import { withMpi } from './binding.ts';
import { jobPathArgument, readAlignJob } from './jobFiles.ts';
import { printProgress, printResult } from './protocol.ts';

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

await withMpi(async (mpi) => {
  const started = performance.now();
  const job = mpi.bcastJson<AlignJob>(
    mpi.rank === 0 ? await readAlignJob(jobPathArgument(process.argv.slice(2), 'mpi/alignRank.ts')) : undefined,
  );
  const pairs = alignPairs(job);
  const mine = pairsOfRank(pairs, mpi.rank, mpi.size);
  // A rank with nothing to do says so, or the launcher's watchdog would wait for its progress.
  if (mine.length === 0) printProgress({ phase: 'refine', rank: mpi.rank, done: 0, total: 0 });
  const volumes = new AlignVolumes(job);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const results = await refinePairs(job, mine, volumes, (p) => printProgress({ ...p, rank: mpi.rank }));
  const timing: RankTiming = {
    rank: mpi.rank,
    pairs: mine.length,
    particlesRead: volumes.particlesRead,
    seconds: (performance.now() - t0) / 1000,
    cpuSeconds: cpuSecondsSince(cpu0),
    refineSeconds: results.reduce((s, r) => s + r.seconds, 0),
  };
  const all = mpi.gatherResults(results);
  const timings = mpi.gatherJson(timing);
  if (all && timings) {
    const aligned = collectResults(job, all);
    await writeAlignOutputs(job, aligned);
    printResult({
      particles: job.particles.length,
      pairs: pairs.length,
      out: job.out,
      outStar: job.outStar ?? null,
      ranks: timings,
      wallSeconds: (performance.now() - started) / 1000,
    });
  }
});
