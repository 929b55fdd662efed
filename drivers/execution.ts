/**
 * How a job of model/jobs.ts runs: in this process, or as an MPI job of its rank program (`mpirun -np P`,
 * mpi/launcher.ts). Both paths run the same mpi/*Work.ts code; this module only chooses, writes the job file,
 * and turns per-rank progress lines into one count for a progress bar or an activity heartbeat.
 */
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { AlignJob, AverageJob } from '../model/jobs.ts';
import { writeJobFile } from '../mpi/jobFiles.ts';
import { type MpiJobResult, runMpiJob } from '../mpi/launcher.ts';

/** MPI ranks to start, optionally on the hosts of an OpenMPI hostfile. */
export interface MpiRanks {
  np: number;
  hostfile?: string;
}

export interface Execution {
  /** null: in this process. */
  mpi: MpiRanks | null;
  /** Job file for the ranks; default a hidden file beside the job's output, removed afterwards. */
  jobFile?: string;
  /** Process record of the mpirun job (mpi/launcher.ts): a job left by a crashed attempt is killed first. */
  pidfile?: string;
  signal?: AbortSignal;
  /** Working directory of the ranks. */
  cwd?: string;
  /** Work items finished so far (summed over ranks) and which one finished last. */
  onProgress?(done: number, detail: string): void;
}

/** The per-item progress line of a rank (mpi/protocol.ts PROGRESS payloads of the align and average ranks). */
interface RankProgress {
  done?: number;
  particle?: string;
  candidate?: number;
}

/** Runs `job` on MPI ranks of the program `entry`; `output` is the job's main output path (for the job file name). */
export async function runOnRanks(entry: string, job: AlignJob | AverageJob, output: string, exec: Execution & { mpi: MpiRanks }): Promise<MpiJobResult> {
  const jobFile = exec.jobFile ?? join(dirname(output), `.${basename(output)}.job.json`);
  await writeJobFile(jobFile, job);
  const doneByRank = new Map<number, number>();
  try {
    return await runMpiJob({
      np: exec.mpi.np,
      hostfile: exec.mpi.hostfile,
      entry,
      args: [jobFile],
      cwd: exec.cwd,
      pidfile: exec.pidfile,
      signal: exec.signal,
      onProgress: (rank, payload) => {
        const p = (payload ?? {}) as RankProgress;
        if (typeof p.done !== 'number') return;
        doneByRank.set(rank, p.done);
        const done = [...doneByRank.values()].reduce((a, b) => a + b, 0);
        exec.onProgress?.(done, `rank ${rank}: ${p.particle ?? ''}${p.candidate === undefined ? '' : ` #${p.candidate + 1}`}`);
      },
    });
  } finally {
    if (!exec.jobFile) await rm(jobFile, { force: true });
  }
}
