/**
 * What a Slurm job's state means for an MPI step (JOB STATE CODES of squeue(1) and sacct(1)): still waiting or
 * running, done, or failed — and whether running it again unchanged could succeed.
 *
 * | state                                   | outcome                                                           |
 * | --------------------------------------- | ----------------------------------------------------------------- |
 * | COMPLETED                               | the outputs are read                                              |
 * | TIMEOUT                                 | not retried: the same job hits the same limit; raise `time`       |
 * | OUT_OF_MEMORY                           | not retried: raise `mem` or place fewer ranks per node             |
 * | DEADLINE                                | not retried: the job's `--deadline` has passed                    |
 * | CANCELLED (not by subtomo)              | not retried: someone cancelled it on purpose; resume to resubmit  |
 * | NODE_FAIL, BOOT_FAIL, PREEMPTED, REVOKED| retried: another node or a later slot can run it                  |
 * | FAILED                                  | retried, as a failed mpirun job is: the error names the rank      |
 */
import type { SlurmSettings } from '../model/jobs.ts';
import { rankMemoryBytes } from './preflight.ts';
import type { SlurmJobInfo } from './slurmCommands.ts';

/** States of a job that has not finished: queued, held, starting, running, suspended or finishing. */
export const ALIVE_STATES: ReadonlySet<string> = new Set([
  'PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'STOPPED', 'SIGNALING', 'STAGE_OUT', 'RESIZING',
  'REQUEUED', 'REQUEUE_FED', 'REQUEUE_HOLD', 'RESV_DEL_HOLD', 'SPECIAL_EXIT',
]);

/** States in which the ranks have been started (their output may come). */
export const RUNNING_STATES: ReadonlySet<string> = new Set(['RUNNING', 'COMPLETING', 'SIGNALING', 'STAGE_OUT', 'RESIZING']);

export function isAlive(state: string): boolean {
  return ALIVE_STATES.has(state);
}

/** A Slurm job of an MPI step ended without completing; `retryable` says whether resubmitting it may succeed. */
export class SlurmJobError extends Error {
  constructor(
    message: string,
    readonly jobId: string,
    readonly state: string,
    readonly retryable: boolean,
    /** The setting to change for a job that cannot succeed as it is ('cancelled': nothing to change, resubmit). */
    readonly fix: 'time' | 'mem' | 'deadline' | 'cancelled' | null,
  ) {
    super(message);
    this.name = 'SlurmJobError';
  }
}

export interface JobContext {
  settings: SlurmSettings;
  np: number;
  /** Box size of the job's volumes, for the memory each rank needs (mpi/preflight.ts rankMemoryBytes). */
  boxSize?: number;
  /** What the job printed outside its ranks (slurmstepd's and srun's messages), last lines. */
  launcherLines: string;
  /** Where its batch script and output files are. */
  dir: string;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** sacct/squeue's own words: state, run time against the limit, nodes, and a reason when it has one. */
function describe(info: SlurmJobInfo): string {
  const ran = info.start && info.end ? `, ran ${clock((info.end.getTime() - info.start.getTime()) / 1000)}` : '';
  const limit = info.timeLimit && info.timeLimit !== 'UNLIMITED' ? ` of its ${info.timeLimit} limit` : '';
  const reason = info.reason && info.reason !== 'None' ? `, reason ${info.reason}` : '';
  const nodes = info.nodes && info.nodes !== 'None assigned' ? ` on ${info.nodes}` : '';
  const exit = info.exitCode && info.exitCode !== '0:0' ? `, exit code ${info.exitCode}` : '';
  return `${info.stateText}${ran}${ran ? limit : ''}${nodes}${reason}${exit}`;
}

/** Seconds as [d-]h:mm:ss (Slurm's way of printing times). */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86_400);
  const hms = [Math.floor((s % 86_400) / 3600), Math.floor((s % 3600) / 60), s % 60].map((x, i) => (i === 0 && d === 0 ? String(x) : String(x).padStart(2, '0')));
  return `${d > 0 ? `${d}-` : ''}${hms.join(':')}`;
}

/** Ranks that share a node's memory, where the settings say; null when Slurm decides. */
function ranksPerNode(settings: SlurmSettings, np: number): number | null {
  if (settings.ntasksPerNode !== undefined) return Math.min(settings.ntasksPerNode, np);
  if (settings.nodes !== undefined) return Math.ceil(np / settings.nodes);
  return null;
}

/** The error of a job that ended in `info.state` (not COMPLETED, not alive). */
export function jobFailure(info: SlurmJobInfo, ctx: JobContext): SlurmJobError {
  const job = `slurm job ${info.id} (${info.name})`;
  const said = ctx.launcherLines ? `\nthe job's output ends with:\n${indent(ctx.launcherLines)}` : '';
  const where = `; its batch script and output are in ${ctx.dir}`;
  switch (info.state) {
    case 'TIMEOUT':
      return new SlurmJobError(
        `${job} exceeded its time limit: ${describe(info)}. Running it again unchanged would end the same way: raise the limit ` +
          `(alignment.slurm.time or --slurm-time, now ${ctx.settings.time ?? "the partition's default"}) or give the job more ranks${said}`,
        info.id, info.state, false, 'time');
    case 'OUT_OF_MEMORY': {
      const perNode = ranksPerNode(ctx.settings, ctx.np);
      const need = ctx.boxSize ? ` (each rank needs about ${gib(rankMemoryBytes(ctx.boxSize))} for ${ctx.boxSize}³ volumes` +
        `${perNode ? `, ${gib(perNode * rankMemoryBytes(ctx.boxSize))} for the ${perNode} ranks of a node` : ''})` : '';
      return new SlurmJobError(
        `${job} ran out of memory: ${describe(info)}. Running it again unchanged would end the same way: raise the memory per node ` +
          `(alignment.slurm.mem or --slurm-mem, now ${ctx.settings.mem ?? "the partition's default"})${need}, or place fewer ranks on a ` +
          `node (ntasksPerNode)${said}`,
        info.id, info.state, false, 'mem');
    }
    case 'DEADLINE':
      return new SlurmJobError(`${job} passed its deadline: ${describe(info)}; change or drop --deadline in alignment.slurm.extraArgs${said}`,
        info.id, info.state, false, 'deadline');
    case 'CANCELLED':
      return new SlurmJobError(
        `${job} was cancelled outside subtomo (${describe(info)}); it is not resubmitted behind the canceller's back: ` +
          `resume the campaign (subtomo campaign resume) or run the command again to submit it anew${said}`,
        info.id, info.state, false, 'cancelled');
    case 'NODE_FAIL':
    case 'BOOT_FAIL':
    case 'PREEMPTED':
    case 'REVOKED':
      return new SlurmJobError(`${job} ended ${describe(info)}: a node or the scheduler failed it, so it is submitted again${said}`,
        info.id, info.state, true, null);
    default:
      return new SlurmJobError(`${job} ended ${describe(info)}${where}${said}`, info.id, info.state, true, null);
  }
}

/** Which rank failed, from srun's report (`srun: error: host: task 1: Exited with exit code 3`). */
export function srunRankFailure(launcherText: string): { rank: number; exitCode: number | null; how: string } | null {
  const reports = [...launcherText.matchAll(/^srun: error: \S+: tasks? (\d+)(?:[-,][\d,-]+)?: (.+)$/gm)];
  // Ranks that srun terminated because another one failed (--kill-on-bad-exit) are not the cause.
  const cause = reports.find((m) => /Exited with exit code [1-9]/.test(m[2])) ?? reports.find((m) => m[2] !== 'Terminated');
  if (!cause) return null;
  const exit = /Exited with exit code (\d+)/.exec(cause[2]);
  return { rank: Number(cause[1]), exitCode: exit ? Number(exit[1]) : null, how: exit ? `exited with code ${exit[1]}` : `ended: ${cause[2]}` };
}

function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n');
}
