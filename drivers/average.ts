/**
 * Averaging posed particles into odd/even half maps and a combined map (core/halfmaps.ts), in this process
 * or on MPI ranks (mpi/averageRank.ts): shared by `subtomo average` and the campaign's averaging steps.
 */
import { fileURLToPath } from 'node:url';
import type { AverageJob } from '../model/jobs.ts';
import { averageGeometry, runAverageJob } from '../mpi/averageWork.ts';
import { type Execution, runOnRanks } from './execution.ts';

const AVERAGE_RANK = fileURLToPath(new URL('../mpi/averageRank.ts', import.meta.url));

/** Writes the three maps of `job.out`; progress counts particles. */
export async function runAverage(job: AverageJob, exec: Execution): Promise<void> {
  if (exec.mpi) {
    const boxSize = exec.boxSize ?? (await averageGeometry(job)).n;
    await runOnRanks(AVERAGE_RANK, job, job.out.combined, { ...exec, mpi: exec.mpi, boxSize });
    return;
  }
  await runAverageJob(job, (p) => {
    exec.signal?.throwIfAborted();
    exec.onProgress?.(p.done, p.particle);
  });
}
