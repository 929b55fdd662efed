/**
 * How a job of model/jobs.ts runs: in this process, or as an MPI job of its rank program (`mpirun -np P`,
 * mpi/launcher.ts) after the checks of mpi/preflight.ts. Both paths run the same mpi/*Work.ts code; this
 * module only chooses, writes the job file, and turns per-rank progress lines into one count for a progress
 * bar or an activity heartbeat.
 */
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { AlignJob, AverageJob, MpiRanks } from '../model/jobs.ts';
import { writeJobFile } from '../mpi/jobFiles.ts';
import { type MpiJobResult, runMpiJob } from '../mpi/launcher.ts';
import { hostfileNetworks, preflight } from '../mpi/preflight.ts';


export interface Execution {
  /** null: in this process. */
  mpi: MpiRanks | null;
  /** Job file for the ranks; default a hidden file beside the job's output, removed afterwards. */
  jobFile?: string;
  /** Process record of the mpirun job (mpi/processRecords.ts). */
  record?: string;
  signal?: AbortSignal;
  /** Working directory of the ranks. */
  cwd?: string;
  /** Box size of the job's volumes: the memory check before an MPI job (mpi/preflight.ts) needs it. */
  boxSize?: number;
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
  // Hosts must answer ssh within the time ranks are given to start (at most 15 s).
  const sshTimeoutSeconds = Math.min(15, exec.mpi.readyTimeoutSeconds ?? 15);
  await preflight({ np: exec.mpi.np, hostfile: exec.mpi.hostfile, mca: exec.mpi.mca, boxSize: exec.boxSize ?? 0, sshTimeoutSeconds });
  // MPI traffic only between the hostfile's hosts (single-host jobs keep to loopback: mpi/launcher.ts).
  const networks = exec.mpi.hostfile ? await hostfileNetworks(exec.mpi.hostfile) : null;
  const mca = { ...(networks && { btl_tcp_if_include: networks, oob_tcp_if_include: networks }), ...exec.mpi.mca };
  const jobFile = exec.jobFile ?? join(dirname(output), `.${basename(output)}.job.json`);
  await writeJobFile(jobFile, job);
  const doneByRank = new Map<number, number>();
  try {
    return await runMpiJob({
      np: exec.mpi.np,
      hostfile: exec.mpi.hostfile,
      mca,
      mpirunArgs: exec.mpi.args,
      ...(exec.mpi.readyTimeoutSeconds !== undefined && { readyTimeoutMs: exec.mpi.readyTimeoutSeconds * 1000 }),
      ...(exec.mpi.stallTimeoutSeconds !== undefined && { stallTimeoutMs: exec.mpi.stallTimeoutSeconds * 1000 }),
      entry,
      args: [jobFile],
      cwd: exec.cwd,
      record: exec.record,
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
