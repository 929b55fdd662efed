/**
 * Process records: what a running MPI job leaves on disk so that a later attempt can end it when the process
 * that launched it died (a Temporal worker killed with SIGKILL leaves mpirun and its ranks running).
 *
 * A record is trusted only as far as it can be checked, because anyone who can write to a campaign directory
 * can write a file there: it is used only if it is a regular file owned by this process's user, written on
 * this host, and it only ever leads to killing processes that (a) are alive with the recorded start time or
 * belong to the recorded mpirun session, (b) belong to this user, and (c) carry the recorded command tail —
 * one of subtomo's own rank programs followed by the job's arguments (its job file) — at the end of their
 * argument vector. mpirun and every rank of a job have that tail; no unrelated process does.
 *
 * A Slurm job's record holds its job id instead (mpi/slurmJob.ts): a later attempt re-attaches to the job, or
 * cancels it, only after Slurm confirms that the job belongs to this user and carries the recorded subtomo
 * job name; Slurm, not this host, then ends its processes wherever they run.
 */
import { readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ProcessInfo, commandLine, processOwner, readProcess, sameProcessAlive } from '../os/process.ts';
import { sessionMembers } from './processes.ts';
import { scancel, squeueJob } from './slurmCommands.ts';
import { SLURM_JOB_PREFIX } from './slurmScript.ts';
import { isAlive } from './slurmStates.ts';

/** The rank programs live here; a record naming another program is not ours. */
const RANK_PROGRAMS_DIR = fileURLToPath(new URL('.', import.meta.url));

export interface ProcessRecord {
  host: string;
  /** mpirun, the leader of the job's session (the launcher starts it with setsid). */
  pid: number;
  startTime: number;
  /** The end of every job process's argument vector: rank program and its arguments. */
  command: string[];
  np: number;
  startedAt: string;
}

/** A Slurm job of an MPI step (mpi/slurmJob.ts), submitted or re-attached to by the attempt that wrote it. */
export interface SlurmJobRecord {
  kind: 'slurm';
  jobId: string;
  /** subtomo's name of the job: what the computation is (it carries the step key). */
  jobName: string;
  /** Slurm user of the job: this process's user. */
  user: string;
  /** Host of the worker that wrote the record (for people reading it: any host of the cluster can cancel). */
  host: string;
  submittedAt: string;
}

export async function writeProcessRecord(path: string, record: ProcessRecord | SlurmJobRecord): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** Why a record cannot be acted on, or the record itself. */
function trustedRecord(path: string): { record: ProcessRecord } | { slurm: SlurmJobRecord } | { refused: string } {
  let st;
  try {
    st = statSync(path);
  } catch {
    return { refused: 'gone' };
  }
  const uid = process.getuid?.();
  if (!st.isFile()) return { refused: 'not a regular file' };
  if (uid !== undefined && st.uid !== uid) return { refused: `owned by uid ${st.uid}, not by this process's user (${uid})` };
  let record: ProcessRecord | SlurmJobRecord;
  try {
    record = JSON.parse(readFileSync(path, 'utf8')) as ProcessRecord | SlurmJobRecord;
  } catch (err) {
    return { refused: `unreadable (${(err as Error).message})` };
  }
  if (typeof record !== 'object' || record === null) return { refused: 'not a record' };
  if ('kind' in record && record.kind === 'slurm') {
    if (typeof record.jobId !== 'string' || !/^\d+$/.test(record.jobId)) return { refused: `Slurm job id ${JSON.stringify(record.jobId)}` };
    if (typeof record.jobName !== 'string' || !record.jobName.startsWith(SLURM_JOB_PREFIX)) {
      return { refused: `names Slurm job ${JSON.stringify(record.jobName)}, not a subtomo job` };
    }
    if (record.user !== userInfo().username) return { refused: `names a job of user ${record.user}, not of ${userInfo().username}` };
    return { slurm: record };
  }
  const mpirun = record as ProcessRecord;
  const { command } = mpirun;
  if (!Array.isArray(command) || command.length === 0 || command.some((a) => typeof a !== 'string')) return { refused: 'no command' };
  if (dirname(command[0]) !== RANK_PROGRAMS_DIR.replace(/\/$/, '')) return { refused: `names ${command[0]}, not a subtomo rank program` };
  if (!Number.isInteger(mpirun.pid) || mpirun.pid <= 1) return { refused: `pid ${mpirun.pid}` };
  return { record: mpirun };
}

function endsWith(argv: readonly string[], tail: readonly string[]): boolean {
  return argv.length >= tail.length && tail.every((a, i) => argv[argv.length - tail.length + i] === a);
}

/** Live processes of the recorded job that pass every check of the module doc. */
export function recordedProcesses(record: ProcessRecord): ProcessInfo[] {
  const uid = process.getuid?.();
  const candidates = new Map<number, ProcessInfo>();
  for (const p of sessionMembers(record.pid)) candidates.set(p.pid, p);
  const leader = readProcess(record.pid);
  if (leader && leader.startTime === record.startTime && leader.state !== 'Z') candidates.set(leader.pid, leader);
  return [...candidates.values()].filter((p) => {
    const argv = commandLine(p.pid);
    return argv !== null && endsWith(argv, record.command) && (uid === undefined || processOwner(p.pid) === uid);
  });
}

async function waitGone(processes: readonly ProcessInfo[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (processes.every((p) => !sameProcessAlive(p.pid, p.startTime))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function signal(processes: readonly ProcessInfo[], sig: NodeJS.Signals): void {
  for (const p of processes) {
    // Checked again right before each signal: a pid is only ever signalled while it is the recorded process.
    if (!sameProcessAlive(p.pid, p.startTime)) continue;
    try {
      process.kill(p.pid, sig);
    } catch {
      // already gone
    }
  }
}

export interface StaleJobOutcome {
  /** Processes of the recorded job that were still running and were ended. */
  killed: number;
  /** Set when the record was left alone, and why (another user's file, another host, not a rank program…). */
  refused?: string;
}

/**
 * Ends what is left of the job recorded at `path` (mpirun and ranks of a crashed earlier attempt) and removes
 * the record. A record that fails the checks of the module doc is left in place and nothing is killed.
 */
export async function killRecordedJob(path: string, graceMs = 2_000): Promise<StaleJobOutcome> {
  const trusted = trustedRecord(path);
  if ('refused' in trusted) return trusted.refused === 'gone' ? { killed: 0 } : { killed: 0, refused: `process record ${path}: ${trusted.refused}` };
  if ('slurm' in trusted) return cancelRecordedSlurmJob(path, trusted.slurm);
  const { record } = trusted;
  if (record.host !== hostname()) {
    return { killed: 0, refused: `process record ${path}: the job ran on ${record.host}, which this host (${hostname()}) cannot signal` };
  }
  const processes = recordedProcesses(record);
  if (processes.length > 0) {
    signal(processes, 'SIGTERM');
    if (!(await waitGone(processes, graceMs))) {
      signal(processes, 'SIGKILL');
      if (!(await waitGone(processes, 5_000))) {
        const left = processes.filter((p) => sameProcessAlive(p.pid, p.startTime)).map((p) => p.pid);
        throw new Error(`processes ${left.join(', ')} of the MPI job recorded in ${path} survived SIGKILL`);
      }
    }
  }
  await rm(path, { force: true });
  return { killed: processes.length };
}

/** The record at `path` if it is a trusted Slurm job record, why it is refused, or null (gone, or an mpirun job's). */
export function readSlurmRecord(path: string): { record: SlurmJobRecord } | { refused: string } | null {
  const trusted = trustedRecord(path);
  if ('slurm' in trusted) return { record: trusted.slurm };
  if ('refused' in trusted) return trusted.refused === 'gone' ? null : { refused: `process record ${path}: ${trusted.refused}` };
  return null;
}

/**
 * Cancels the recorded Slurm job if Slurm confirms it is the recorded subtomo job of this user and it has not
 * ended, then removes the record. A job id that now names another job (ids are reused after a cluster is
 * rebuilt) is left alone.
 */
async function cancelRecordedSlurmJob(path: string, record: SlurmJobRecord): Promise<StaleJobOutcome> {
  const job = await squeueJob(record.jobId);
  if (job && (job.name !== record.jobName || job.user !== record.user)) {
    await rm(path, { force: true });
    return { killed: 0, refused: `process record ${path}: Slurm job ${record.jobId} is now ${job.user}'s '${job.name}', not the recorded job` };
  }
  const alive = job !== null && isAlive(job.state);
  if (alive) await scancel(record.jobId);
  await rm(path, { force: true });
  return { killed: alive ? 1 : 0 };
}
