/**
 * Runs an MPI rank program as a Slurm batch job and follows it to its end (docs/cluster.md):
 *
 * - A job of the same computation that an earlier attempt left behind — named in one of `earlierRecords`, or
 *   found by its name, which says what the computation is — is adopted instead of submitting a second one:
 *   queued or running, it is followed; finished while nobody watched, its outcome is this attempt's. Recorded
 *   jobs of another computation are cancelled (stale), as are surplus duplicates.
 * - Otherwise the batch script (mpi/slurmScript.ts) is written to `dir` and submitted with `sbatch --parsable`;
 *   the job id goes into this attempt's process record at once (mpi/processRecords.ts).
 * - While it waits and runs, the job's state comes from squeue (from sacct once slurmctld has forgotten it) and
 *   the ranks' output from its output files on the shared filesystem: progress, the rank watchdog of
 *   mpi/rankWatch.ts once ranks run, and the queue wait and run time for heartbeats and progress lines.
 * - Aborting scancels the job, unless `leaveJobOnAbort` says a later attempt will take it over (a worker that
 *   is only going away); then job and record stay.
 * - The final state, confirmed by sacct, decides (mpi/slurmStates.ts): COMPLETED returns; a failed rank throws
 *   an MpiJobError naming it, as mpirun jobs do; any other end throws a SlurmJobError.
 */
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SlurmSettings } from '../model/jobs.ts';
import { LabeledOutputDemux } from './labeledOutput.ts';
import { MpiJobError, type MpiJobResult, MPI_READY_TIMEOUT_MS, MPI_STALL_TIMEOUT_MS, LOOPBACK_ONLY, rankProgramCommand } from './launcher.ts';
import { LineTail } from './lineTail.ts';
import { killRecordedJob, readSlurmRecord, writeProcessRecord } from './processRecords.ts';
import { type MpiStallError, RankWatch } from './rankWatch.ts';
import { SlurmCommandError, type SlurmJobInfo, sacctJob, sbatch, scancel, squeueByName, squeueJob } from './slurmCommands.ts';
import { type SlurmJobSpec, sbatchOptions, slurmBatchScript, slurmJobFiles } from './slurmScript.ts';
import { RUNNING_STATES, SlurmJobError, clock, isAlive, jobFailure, srunRankFailure } from './slurmStates.ts';

export interface SlurmJobOptions {
  np: number;
  settings: SlurmSettings;
  /** Rank program (absolute path of a .ts file) and its arguments. */
  entry: string;
  args: readonly string[];
  /** Directory on the shared filesystem: the batch script, the job's output files, its working directory. */
  dir: string;
  /** Job name (SLURM_JOB_PREFIX …): what identifies the computation; a live job of this name is adopted. */
  name: string;
  /** OpenMPI MCA parameters of the ranks. */
  mca?: Readonly<Record<string, string>>;
  /** This attempt's process record; written once the job id is known, removed when the job has ended. */
  record?: string;
  /** Process records of earlier attempts of the same work, which may name a job to adopt or to cancel. */
  earlierRecords?: readonly string[];
  signal?: AbortSignal;
  /** For an abort with this reason, leave the job (and the record) for a later attempt instead of cancelling it. */
  leaveJobOnAbort?(reason: unknown): boolean;
  readyTimeoutMs?: number;
  stallTimeoutMs?: number;
  /** Interval of squeue queries (default SUBTOMO_SLURM_POLL_SECONDS, else 10 s). */
  pollMs?: number;
  /** Box size of the job's volumes: the memory hint of an OUT_OF_MEMORY failure. */
  boxSize?: number;
  /** The payload of each `PROGRESS <json>` line of a rank. */
  onProgress?(rank: number, progress: unknown): void;
  /** The job's queue and run state, about twice a second. */
  onStatus?(status: SlurmJobStatus): void;
  /** Decisions worth a log line (adoptions, cancelled stale jobs, query failures). */
  log?(message: string): void;
}

/** Where a Slurm job is: heartbeat details and progress lines. */
export interface SlurmJobStatus {
  jobId: string;
  state: string;
  /** squeue's reason while it waits (Priority, Resources, …), or the final reason. */
  reason: string;
  nodes: string;
  queuedSeconds: number;
  runSeconds: number;
  /** Taken over from an earlier attempt rather than submitted by this one. */
  adopted: boolean;
}

/** squeue interval unless SUBTOMO_SLURM_POLL_SECONDS says otherwise: one job's queries barely load slurmctld. */
const DEFAULT_POLL_MS = 10_000;
/** How often the output files are read and the watchdog is checked. */
const TICK_MS = 500;
/** Queries failing for this long (slurmctld down or unreachable) end the attempt; the job stays for the next. */
const QUERY_OUTAGE_MS = 5 * 60_000;
/** sacct may lag slurmctld by a moment when a job ends: its final record is awaited this long. */
const ACCOUNTING_LAG_MS = 15_000;
const STDOUT_TAIL_LINES = 100;
const STDERR_TAIL_LINES = 30;
const LAUNCHER_TAIL_LINES = 60;

export function slurmPollMs(): number {
  const seconds = Number(process.env.SUBTOMO_SLURM_POLL_SECONDS);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : DEFAULT_POLL_MS;
}

/** One line for a progress bar or heartbeat: `slurm job 42 RUNNING on n1 0:35 (queued 0:12)`. */
export function slurmStatusText(s: SlurmJobStatus): string {
  const reason = s.reason && s.reason !== 'None' ? ` (${s.reason})` : '';
  if (s.runSeconds > 0 || RUNNING_STATES.has(s.state)) {
    return `slurm job ${s.jobId} ${s.state}${s.nodes ? ` on ${s.nodes}` : ''} ${clock(s.runSeconds)} (queued ${clock(s.queuedSeconds)})`;
  }
  return `slurm job ${s.jobId} ${s.state}${reason} queued ${clock(s.queuedSeconds)}`;
}

/**
 * The environment of the ranks: OpenMPI's MCA parameters as OMPI_MCA_* variables. Containers forbid the
 * shared-memory transport's cross-memory-attach copy; a one-node job keeps MPI's TCP traffic on loopback
 * (docs/security.md), as local jobs do.
 */
function rankEnvironment(settings: SlurmSettings, mca: Readonly<Record<string, string>> = {}): Record<string, string> {
  const all = { btl_vader_single_copy_mechanism: 'none', ...(settings.nodes === 1 ? LOOPBACK_ONLY : {}), ...mca };
  return Object.fromEntries(Object.entries(all).map(([k, v]) => [`OMPI_MCA_${k}`, v]));
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('Slurm job aborted');
}

/** Reads what was appended to a file since the last read, opening it anew each time (NFS close-to-open). */
class FileFollower {
  private offset = 0;
  constructor(private readonly path: string) {}

  async read(): Promise<Buffer | null> {
    const file = await open(this.path, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (!file) return null;
    try {
      const { size } = await file.stat();
      if (size <= this.offset) return null;
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      return buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }
}

/** The job as Slurm knows it: slurmctld first, then accounting; null if neither knows the id. */
async function jobInfo(id: string): Promise<SlurmJobInfo | null> {
  return (await squeueJob(id)) ?? (await accountingRecord(id));
}

/** sacct's record of the job; null when there is none or this cluster keeps no accounting (no slurmdbd). */
async function accountingRecord(id: string): Promise<SlurmJobInfo | null> {
  try {
    return await sacctJob(id);
  } catch (err) {
    if (err instanceof SlurmCommandError && (err.kind === 'missing' || /accounting storage is disabled/i.test(err.message))) return null;
    throw err;
  }
}

function bySubmit(a: SlurmJobInfo, b: SlurmJobInfo): number {
  return (a.submit?.getTime() ?? 0) - (b.submit?.getTime() ?? 0) || Number(a.id) - Number(b.id);
}

/**
 * The job this attempt takes over, if any, after dealing with what earlier attempts recorded: a trusted record
 * of a job of this computation makes it a candidate whatever its state (its outcome was never collected); a
 * recorded live job of another computation is cancelled; live jobs of this name that no record mentions are
 * candidates too (the submitter died before writing its record, or another campaign on the same workdir runs
 * the same step). Of several live ones the oldest is kept and the others are cancelled.
 */
async function adoptableJob(opts: SlurmJobOptions, me: string): Promise<{ job: SlurmJobInfo | null; handled: string[] }> {
  const log = opts.log ?? (() => undefined);
  const recorded: SlurmJobInfo[] = [];
  const handled: string[] = [];
  for (const path of opts.earlierRecords ?? []) {
    if (path === opts.record) continue;
    const read = readSlurmRecord(path);
    if (read === null) {
      // Gone, or an mpirun job of an attempt that ran locally: end what is left of it.
      const outcome = await killRecordedJob(path);
      if (outcome.refused) log(`left alone: ${outcome.refused}`);
      continue;
    }
    if ('refused' in read) {
      log(`left alone: ${read.refused}`);
      continue;
    }
    handled.push(path);
    const info = await jobInfo(read.record.jobId);
    // An id that now names someone else's job, or nothing Slurm remembers, is not ours to follow.
    if (!info || info.user !== me || info.name !== read.record.jobName) continue;
    if (info.name === opts.name) {
      recorded.push(info);
    } else if (isAlive(info.state)) {
      log(`cancelling slurm job ${info.id} (${info.name}) of an earlier attempt: it computes something else than ${opts.name}`);
      await scancel(info.id);
    }
  }
  const live = [...recorded.filter((j) => isAlive(j.state))];
  for (const j of await squeueByName(opts.name, me)) if (isAlive(j.state) && !live.some((l) => l.id === j.id)) live.push(j);
  live.sort(bySubmit);
  const ended = recorded.filter((j) => !isAlive(j.state)).sort(bySubmit);
  const job = live[0] ?? ended.find((j) => j.state === 'COMPLETED') ?? ended.at(-1) ?? null;
  for (const duplicate of live.slice(1)) {
    log(`cancelling slurm job ${duplicate.id}: a second job of ${opts.name} (job ${job!.id} is kept)`);
    await scancel(duplicate.id);
  }
  if (job) log(`re-attached to slurm job ${job.id} (${job.stateText}) of ${opts.name} instead of submitting another`);
  return { job, handled };
}

function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n');
}

/** Submits (or adopts) the job and resolves once it has COMPLETED; see the module doc for everything else. */
export async function runSlurmJob(opts: SlurmJobOptions): Promise<MpiJobResult> {
  const started = performance.now();
  const program = basename(opts.entry);
  const me = userInfo().username;
  const log = opts.log ?? (() => undefined);
  const pollMs = opts.pollMs ?? slurmPollMs();
  await mkdir(opts.dir, { recursive: true });

  const { job: adopted, handled } = await adoptableJob(opts, me);
  let info: SlurmJobInfo;
  if (adopted) {
    info = adopted;
  } else {
    if (opts.signal?.aborted) throw abortReason(opts.signal);
    const spec: SlurmJobSpec = {
      name: opts.name, np: opts.np, settings: opts.settings, dir: opts.dir,
      command: rankProgramCommand(opts.entry, opts.args), env: rankEnvironment(opts.settings, opts.mca),
    };
    const { script } = slurmJobFiles(opts.dir);
    await writeFile(script, slurmBatchScript(spec), { mode: 0o755 });
    const id = await sbatch(sbatchOptions(spec), script, opts.dir);
    info = {
      id, name: opts.name, user: me, state: 'PENDING', stateText: 'PENDING', reason: '', nodes: '', submit: new Date(), start: null,
      end: null, timeLimit: '', source: 'squeue',
    };
  }
  if (opts.record) {
    const record = { kind: 'slurm' as const, jobId: info.id, jobName: opts.name, user: me, host: hostname(), submittedAt: (info.submit ?? new Date()).toISOString() };
    await writeProcessRecord(opts.record, record).catch(async (err: Error) => {
      if (!adopted) await scancel(info.id).catch(() => undefined);
      throw new Error(`cannot write the process record ${opts.record} of slurm job ${info.id}: ${err.message}`);
    });
  }
  for (const path of handled) await rm(path, { force: true });

  const files = slurmJobFiles(opts.dir, info.id);
  const stdoutTail = new LineTail(STDOUT_TAIL_LINES);
  const stderrTails = new Map<number, LineTail>();
  const launcherTail = new LineTail(LAUNCHER_TAIL_LINES);
  let watch = null as RankWatch | null;
  const startWatch = (): RankWatch =>
    (watch ??= new RankWatch(opts.np, opts.readyTimeoutMs ?? MPI_READY_TIMEOUT_MS, opts.stallTimeoutMs ?? MPI_STALL_TIMEOUT_MS,
      'check that the compute nodes see subtomo, Node.js and OpenMPI at the same paths as this host and the workdir on the shared filesystem'));
  let result: unknown;
  const stdout = new LabeledOutputDemux((rank, line) => {
    stdoutTail.push(`[${rank}] ${line}`);
    const said = startWatch().line(rank, line);
    if (said.progress !== undefined) opts.onProgress?.(rank, said.progress);
    if (said.result !== undefined) result = said.result;
  }, (line) => launcherTail.push(line));
  const stderr = new LabeledOutputDemux((rank, line) => {
    let tail = stderrTails.get(rank);
    if (!tail) stderrTails.set(rank, (tail = new LineTail(STDERR_TAIL_LINES)));
    tail.push(line);
  }, (line) => launcherTail.push(line));
  const outFile = new FileFollower(files.out);
  const errFile = new FileFollower(files.err);
  const pump = async (): Promise<void> => {
    const [out, err] = [await outFile.read(), await errFile.read()];
    if (out) stdout.push(out);
    if (err) stderr.push(err);
  };

  const firstSeen = Date.now();
  const report = (): void => {
    const now = Date.now();
    const submit = info.submit?.getTime() ?? firstSeen;
    const start = info.start?.getTime();
    const end = info.end?.getTime() ?? now;
    opts.onStatus?.({
      jobId: info.id, state: info.state, reason: info.reason, nodes: info.nodes, adopted: adopted !== null,
      queuedSeconds: Math.max(0, ((start ?? end) - submit) / 1000), runSeconds: start === undefined ? 0 : Math.max(0, (end - start) / 1000),
    });
  };
  /** Ends the job and waits until Slurm says it has (KillWait after SIGTERM), within a minute. */
  const cancel = async (): Promise<void> => {
    // A job that ended meanwhile makes scancel complain; whether it is gone is checked below either way.
    await scancel(info.id).catch((err: Error) => log(`scancel ${info.id}: ${err.message}`));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const now = await jobInfo(info.id).catch(() => null);
      if (now && !isAlive(now.state)) return;
      await sleep(TICK_MS);
    }
    log(`slurm job ${info.id} still not ended a minute after scancel`);
  };

  let lastPoll = adopted ? Date.now() : 0;
  let queryFailingSince: number | null = null;
  let keepRecord = false;
  try {
    for (;;) {
      await pump();
      if (opts.signal?.aborted) {
        const reason = abortReason(opts.signal);
        if (opts.leaveJobOnAbort?.(reason)) {
          keepRecord = true;
          log(`left slurm job ${info.id} (${info.state}) for a later attempt to re-attach to`);
        } else {
          await cancel();
        }
        throw reason;
      }
      const endNear = watch?.allFinished === true || result !== undefined;
      if (Date.now() - lastPoll >= (endNear ? TICK_MS : pollMs)) {
        lastPoll = Date.now();
        try {
          const now = await jobInfo(info.id);
          queryFailingSince = null;
          if (!now) throw new SlurmJobError(`slurm job ${info.id} (${opts.name}) is unknown to Slurm (neither squeue nor sacct has it)`, info.id, 'UNKNOWN', true, null);
          info = now;
        } catch (err) {
          if (!(err instanceof SlurmCommandError) || err.kind === 'missing') throw err;
          queryFailingSince ??= Date.now();
          log(`querying slurm job ${info.id} failed: ${err.message}`);
          if (Date.now() - queryFailingSince > QUERY_OUTAGE_MS) {
            // The job itself may be fine: leave it, with its record, for the next attempt to re-attach to.
            keepRecord = true;
            throw new Error(`Slurm has not answered about job ${info.id} for ${QUERY_OUTAGE_MS / 60_000} minutes: ${err.message}`);
          }
        }
      }
      report();
      if (!isAlive(info.state)) break;
      if (RUNNING_STATES.has(info.state)) startWatch();
      const stalled: MpiStallError | null = watch?.check(program) ?? null;
      if (stalled) {
        await cancel();
        throw stalled;
      }
      await sleep(TICK_MS, undefined, { signal: opts.signal }).catch(() => undefined);
    }

    info = await finalRecord(info);
    report();
    await pump();
    stdout.end();
    stderr.end();
    if (info.state === 'COMPLETED') return { stdoutTail: stdoutTail.text, durationMs: performance.now() - started, result };
    const failed = info.state === 'FAILED' ? srunRankFailure(launcherTail.text) : null;
    if (failed) {
      const tail = stderrTails.get(failed.rank)?.text ?? '';
      throw new MpiJobError(
        `MPI job ${program} (np ${opts.np}) in slurm job ${info.id}: rank ${failed.rank} ${failed.how}` +
          (tail ? `; its stderr ends with:\n${indent(tail)}` : ' without writing to stderr'),
        failed.rank, failed.exitCode, null, tail,
      );
    }
    throw jobFailure(info, { settings: opts.settings, np: opts.np, boxSize: opts.boxSize, launcherLines: launcherTail.text, dir: opts.dir });
  } finally {
    if (opts.record && !keepRecord) await rm(opts.record, { force: true });
  }
}

/**
 * The accounting record of a job that has left the queue: sacct's state is the authoritative one (it carries
 * who cancelled it, the exit code, the end time), but slurmdbd may still be catching up; without accounting the
 * last squeue answer stands.
 */
async function finalRecord(last: SlurmJobInfo): Promise<SlurmJobInfo> {
  const deadline = Date.now() + ACCOUNTING_LAG_MS;
  for (;;) {
    const record = await accountingRecord(last.id).catch(() => undefined);
    if (record === null) return last;
    if (record && !isAlive(record.state)) return record;
    if (Date.now() > deadline) return last;
    await sleep(TICK_MS);
  }
}
