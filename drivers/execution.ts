/**
 * How a job of model/jobs.ts runs: in this process, as an MPI job of its rank program started here
 * (`mpirun -np P`, mpi/launcher.ts) after the checks of mpi/preflight.ts, or as a Slurm batch job running the
 * ranks with srun (mpi/slurmJob.ts). Every path runs the same mpi/*Work.ts code; this module only chooses,
 * writes the job file, and turns per-rank progress lines into one count for a progress bar or an activity
 * heartbeat.
 */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { AlignJob, AverageJob, MpiRanks } from '../model/jobs.ts';
import { writeJobFile } from '../mpi/jobFiles.ts';
import { type MpiJobResult, runMpiJob } from '../mpi/launcher.ts';
import { hostfileNetworks, preflight } from '../mpi/preflight.ts';
import { type SlurmJobStatus, runSlurmJob, slurmStatusText } from '../mpi/slurmJob.ts';
import { SLURM_JOB_PREFIX } from '../mpi/slurmScript.ts';

export interface Execution {
  /** null: in this process. */
  mpi: MpiRanks | null;
  /**
   * Job file for the ranks; default a hidden file beside the job's output, removed afterwards. A Slurm job
   * keeps its batch script and output files in the job file's directory (default: a hidden directory beside
   * the output, removed once the job has completed).
   */
  jobFile?: string;
  /** Process record of the job (mpi/processRecords.ts). */
  record?: string;
  signal?: AbortSignal;
  /** Working directory of the ranks. */
  cwd?: string;
  /** Box size of the job's volumes: the memory check before an MPI job (mpi/preflight.ts) needs it. */
  boxSize?: number;
  /** Work items finished so far (summed over ranks) and which one finished last. */
  onProgress?(done: number, detail: string): void;
  /** Slurm: the job's name, which says what it computes (default: from a hash of the job). */
  jobName?: string;
  /** Slurm: process records of earlier attempts, whose job is adopted (the same work) or cancelled. */
  earlierRecords?: readonly string[];
  /** Slurm: whether an abort with this reason leaves the job for a later attempt instead of cancelling it. */
  leaveJobOnAbort?(reason: unknown): boolean;
  /** Slurm: the job's queue and run state as it changes. */
  onSlurmStatus?(status: SlurmJobStatus): void;
  /** Slurm: decisions worth logging (re-attached to a job, cancelled a stale one). */
  log?(message: string): void;
}

/** The per-item progress line of a rank (mpi/protocol.ts PROGRESS payloads of the align and average ranks). */
interface RankProgress {
  done?: number;
  particle?: string;
  candidate?: number;
}

/** Sums the ranks' PROGRESS lines into one count; `report` gets it with the last rank's item. */
function progressSummer(report: (done: number, detail: string) => void): (rank: number, payload: unknown) => void {
  const doneByRank = new Map<number, number>();
  return (rank, payload) => {
    const p = (payload ?? {}) as RankProgress;
    if (typeof p.done !== 'number') return;
    doneByRank.set(rank, p.done);
    const done = [...doneByRank.values()].reduce((a, b) => a + b, 0);
    report(done, `rank ${rank}: ${p.particle ?? ''}${p.candidate === undefined ? '' : ` #${p.candidate + 1}`}`);
  };
}

/** Runs `job` on MPI ranks of the program `entry`; `output` is the job's main output path (for the job file name). */
export async function runOnRanks(entry: string, job: AlignJob | AverageJob, output: string, exec: Execution & { mpi: MpiRanks }): Promise<MpiJobResult> {
  if (exec.mpi.executor === 'slurm') return runOnSlurm(entry, job, output, exec);
  // Hosts must answer ssh within the time ranks are given to start (at most 15 s).
  const sshTimeoutSeconds = Math.min(15, exec.mpi.readyTimeoutSeconds ?? 15);
  await preflight({ np: exec.mpi.np, hostfile: exec.mpi.hostfile, mca: exec.mpi.mca, boxSize: exec.boxSize ?? 0, sshTimeoutSeconds });
  // MPI traffic only between the hostfile's hosts (single-host jobs keep to loopback: mpi/launcher.ts).
  const networks = exec.mpi.hostfile ? await hostfileNetworks(exec.mpi.hostfile) : null;
  const mca = { ...(networks && { btl_tcp_if_include: networks, oob_tcp_if_include: networks }), ...exec.mpi.mca };
  const jobFile = exec.jobFile ?? join(dirname(output), `.${basename(output)}.job.json`);
  await writeJobFile(jobFile, job);
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
      onProgress: progressSummer((done, detail) => exec.onProgress?.(done, detail)),
    });
  } finally {
    if (!exec.jobFile) await rm(jobFile, { force: true });
  }
}

/**
 * The job as a Slurm batch job. Its directory must be on the filesystem the compute nodes share: the ranks
 * read the job file there and the job writes its output files there. The default name carries a hash of the
 * job (which names its inputs and outputs), so running the same command again re-attaches to a job an
 * interrupted run left queued or running instead of computing it twice.
 */
async function runOnSlurm(entry: string, job: AlignJob | AverageJob, output: string, exec: Execution & { mpi: MpiRanks }): Promise<MpiJobResult> {
  // The config and the CLI refuse these with the Slurm executor; a caller passing them would be misled.
  if (exec.mpi.hostfile !== undefined || exec.mpi.args !== undefined) {
    throw new Error('a hostfile and mpirun arguments do not apply to Slurm jobs: Slurm places the ranks and srun starts them');
  }
  const dir = exec.jobFile ? dirname(exec.jobFile) : join(dirname(output), `.${basename(output)}.slurm`);
  const jobFile = exec.jobFile ?? join(dir, 'job.json');
  await writeJobFile(jobFile, job);
  const program = basename(entry).replace(/\.ts$/, '');
  const identity = createHash('sha256').update(JSON.stringify(job)).digest('hex').slice(0, 32);
  let done = 0;
  let status = '';
  const result = await runSlurmJob({
    np: exec.mpi.np,
    settings: exec.mpi.slurm ?? {},
    entry,
    args: [jobFile],
    dir,
    name: exec.jobName ?? `${SLURM_JOB_PREFIX}${program}.${identity}`,
    mca: exec.mpi.mca,
    record: exec.record,
    earlierRecords: exec.earlierRecords,
    signal: exec.signal,
    leaveJobOnAbort: exec.leaveJobOnAbort,
    ...(exec.mpi.readyTimeoutSeconds !== undefined && { readyTimeoutMs: exec.mpi.readyTimeoutSeconds * 1000 }),
    ...(exec.mpi.stallTimeoutSeconds !== undefined && { stallTimeoutMs: exec.mpi.stallTimeoutSeconds * 1000 }),
    boxSize: exec.boxSize,
    log: exec.log,
    onStatus: (s) => {
      exec.onSlurmStatus?.(s);
      status = slurmStatusText(s);
      exec.onProgress?.(done, status);
    },
    onProgress: progressSummer((n, detail) => {
      done = n;
      exec.onProgress?.(done, `${status} ${detail}`);
    }),
  });
  // A command's own job directory has served its purpose; a failed job's stays, named in the error.
  if (!exec.jobFile) await rm(dir, { recursive: true, force: true });
  return result;
}
