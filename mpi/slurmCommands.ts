/**
 * Slurm's user commands as functions: sbatch to submit, squeue for the jobs slurmctld still holds, sacct for
 * the accounting record of any job, scancel. Each runs the real command (whatever SLURM_CONF and PATH of this
 * process name) and parses its machine-readable output; failures say which command failed and what it said.
 */
import { execFile } from 'node:child_process';

/**
 * A Slurm command failed. `kind`: 'missing' — not installed here; 'rejected' — Slurm refused the request for a
 * reason the user must fix (a partition, account, QOS or limit it does not accept); 'failed' — anything else
 * (slurmctld busy or unreachable: worth retrying).
 */
export class SlurmCommandError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly kind: 'missing' | 'rejected' | 'failed',
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'SlurmCommandError';
  }
}

/** What squeue or sacct says about a job. Times are the controller's, read in this host's time zone. */
export interface SlurmJobInfo {
  id: string;
  name: string;
  user: string;
  /** Base state (JOB STATE CODES of squeue(1)/sacct(1)), e.g. PENDING, RUNNING, TIMEOUT, CANCELLED. */
  state: string;
  /** The state as printed, e.g. `CANCELLED by 1000`. */
  stateText: string;
  /** Why the job is in its state (squeue's REASON, e.g. Resources, TimeLimit; sacct's last blocking reason). */
  reason: string;
  nodes: string;
  submit: Date | null;
  /** Actual start; for a pending job squeue prints an expected one, which is not kept. */
  start: Date | null;
  /** End of a finished job (sacct only). */
  end: Date | null;
  /** `Timelimit` as printed (e.g. 00:01:00, UNLIMITED). */
  timeLimit: string;
  /** sacct's `exit code:signal` of the batch script. */
  exitCode?: string;
  source: 'squeue' | 'sacct';
}

const COMMAND_TIMEOUT_MS = 60_000;

/** Errors of a busy or unreachable controller or database daemon: the request may succeed later. */
const TRANSIENT = /timed out|unable to contact|temporarily unable|zero bytes were transmitted|connection refused|connection failure|try again/i;
/** sbatch's words for a request it will never accept as it stands (slurm_errno.c messages, option parsing). */
const REJECTED = /batch job submission failed|unrecognized option|invalid option|invalid argument|invalid (partition|account|qos|feature|node)/i;

function run(command: string, args: readonly string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const text = stderr.trim() || err.message;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        return reject(new SlurmCommandError(
          `${command} not found on PATH: the Slurm executor runs on a host with Slurm's client commands (a login or service node; docs/cluster.md)`,
          command, 'missing', ''));
      }
      const kind = !TRANSIENT.test(text) && REJECTED.test(text) ? 'rejected' : 'failed';
      reject(new SlurmCommandError(`${command} ${args.join(' ')} failed: ${text}`, command, kind, stderr));
    });
  });
}

/** Submits the batch script with sbatch's options; returns the job id (`sbatch --parsable` prints `id[;cluster]`). */
export async function sbatch(options: readonly string[], script: string, cwd: string): Promise<string> {
  const out = await run('sbatch', ['--parsable', ...options, script], cwd);
  const id = out.trim().split('\n').pop()?.split(';')[0] ?? '';
  if (!/^\d+$/.test(id)) throw new SlurmCommandError(`sbatch printed no job id: '${out.trim()}'`, 'sbatch', 'failed', '');
  return id;
}

/**
 * Fields of squeue's and sacct's lines, the job name last so that a `|` in another user's job name cannot shift
 * the fields (squeue(1) --format %i %u %T %r %N %V %S %l %j; sacct(1) --format, --parsable2).
 */
const SQUEUE_FORMAT = '%i|%u|%T|%r|%N|%V|%S|%l|%j';
const SACCT_FORMAT = 'JobID,User,State,Reason,NodeList,Submit,Start,End,Timelimit,JobName,ExitCode';

function time(text: string | undefined): Date | null {
  if (!text || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(text)) return null; // N/A, Unknown, None
  const date = new Date(text); // no zone: local time, as squeue and sacct print it
  return Number.isNaN(date.getTime()) ? null : date;
}

function fields(line: string, count: number): string[] {
  const parts = line.split('|');
  return [...parts.slice(0, count - 1), parts.slice(count - 1).join('|')];
}

/** States in which squeue's start time is an expected one (squeue(1) %S), not when the job started. */
const NOT_STARTED = new Set(['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD', 'SPECIAL_EXIT']);

function squeueInfo(line: string): SlurmJobInfo {
  const [id, user, state, reason, nodes, submit, start, timeLimit, name] = fields(line, 9);
  return {
    id, user, state, stateText: state, reason, nodes, submit: time(submit), start: NOT_STARTED.has(state) ? null : time(start),
    end: null, timeLimit, name, source: 'squeue',
  };
}

/** The job as slurmctld holds it (also finished jobs, until MinJobAge passes), or null if it does not know it. */
export async function squeueJob(id: string): Promise<SlurmJobInfo | null> {
  let out: string;
  try {
    out = await run('squeue', ['--noheader', '--states=all', `--jobs=${id}`, `--format=${SQUEUE_FORMAT}`]);
  } catch (err) {
    // A job purged from slurmctld's memory (or never known) is an error to squeue, not an empty answer.
    if (err instanceof SlurmCommandError && /invalid job id/i.test(err.message)) return null;
    throw err;
  }
  const line = out.split('\n').find((l) => l.startsWith(`${id}|`));
  return line ? squeueInfo(line) : null;
}

/** Jobs of `user` named `name` that slurmctld holds, in any state. */
export async function squeueByName(name: string, user: string): Promise<SlurmJobInfo[]> {
  const out = await run('squeue', ['--noheader', '--states=all', `--name=${name}`, `--user=${user}`, `--format=${SQUEUE_FORMAT}`]);
  return out.split('\n').filter((l) => l.trim() !== '').map(squeueInfo).filter((j) => j.name === name);
}

/**
 * The accounting record of job `id` (sacct -X: the allocation, not its steps), or null if there is none yet.
 * Throws SlurmCommandError when accounting is unavailable (no slurmdbd on this cluster).
 */
export async function sacctJob(id: string): Promise<SlurmJobInfo | null> {
  // With --jobs the time window starts at the epoch (sacct(1), DEFAULT TIME WINDOW): old jobs are found.
  const out = await run('sacct', ['--noheader', '--parsable2', '--allocations', `--jobs=${id}`, `--format=${SACCT_FORMAT}`]);
  const line = out.split('\n').find((l) => l.startsWith(`${id}|`));
  if (!line) return null;
  const [jobId, user, stateText, reason, nodes, submit, start, end, timeLimit, rest] = fields(line, 10);
  // JobName may hold a `|`; ExitCode (n:m) never does: it is the text after the last one.
  const cut = rest.lastIndexOf('|');
  return {
    id: jobId, user, state: stateText.split(' ')[0], stateText, reason, nodes, submit: time(submit), start: time(start), end: time(end),
    timeLimit, name: rest.slice(0, cut), exitCode: rest.slice(cut + 1), source: 'sacct',
  };
}

/** Asks Slurm to cancel job `id` (scancel(1): SIGTERM to its steps, SIGKILL after KillWait). */
export async function scancel(id: string): Promise<void> {
  await run('scancel', [id]);
}
