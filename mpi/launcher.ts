/**
 * Runs a TypeScript rank program under mpirun (OpenMPI 4.x) for activities and the CLI: per-rank output
 * streaming, cancellation that leaves no process behind, and errors that name the failing rank.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, hostname } from 'node:os';
import { basename, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { LineTail } from './lineTail.ts';
import { killRecordedJob, writeProcessRecord } from './processRecords.ts';
import { readProcess, sessionMembers, terminateSession } from './processes.ts';
import { MpiStallError, RankWatch } from './rankWatch.ts';
import { TaggedOutputDemux } from './taggedOutput.ts';

export { MpiStallError };

export interface MpiJobOptions {
  np: number;
  hostfile?: string;
  /** Rank program (.ts), run as `node --import tsx <entry> ...args`; relative to `cwd`. */
  entry: string;
  args?: readonly string[];
  /** Extra environment for the ranks (exported to remote hosts with `-x`). */
  env?: Readonly<Record<string, string>>;
  /** Every line a rank prints, on stdout or stderr. */
  onLine?(rank: number, line: string, stream: 'stdout' | 'stderr'): void;
  /** The payload of each `PROGRESS <json>` line of a rank (see protocol.ts). */
  onProgress?(rank: number, progress: unknown): void;
  signal?: AbortSignal;
  cwd?: string;
  /**
   * Process record of the running job (mpi/processRecords.ts): written once mpirun runs, removed when it
   * ends; a job still recorded there by a crashed earlier launcher is ended first.
   */
  record?: string;
  /** Time between SIGTERM and SIGKILL on cancellation (default 5 s). */
  killGraceMs?: number;
  /** OpenMPI MCA parameters, passed as `--mca KEY VALUE`. */
  mca?: Readonly<Record<string, string>>;
  /** Further mpirun arguments, before the program (e.g. ['--map-by', 'node']). */
  mpirunArgs?: readonly string[];
  /** Every rank must print READY (MPI up) within this time of the launch (default 120 s). */
  readyTimeoutMs?: number;
  /**
   * A rank that has not finished its share must print a line at least this often, and the job must end
   * within this time once every rank has finished (default 10 min): otherwise it is stalled and ended.
   */
  stallTimeoutMs?: number;
}

export const MPI_READY_TIMEOUT_MS = 120_000;
export const MPI_STALL_TIMEOUT_MS = 600_000;

export interface MpiJobResult {
  /** The last stdout lines of all ranks, each as `[rank] line`. */
  stdoutTail: string;
  durationMs: number;
  /** Payload of the last `RESULT <json>` line (normally rank 0's summary), if any. */
  result: unknown;
}

export interface MpirunCommand {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export interface HostFacts {
  uid: number;
  cores: number;
}

const STDOUT_TAIL_LINES = 100;
const STDERR_TAIL_LINES = 30;
const LAUNCHER_TAIL_LINES = 60;
const INSTALL_HINT = 'install OpenMPI with: apt-get install openmpi-bin libopenmpi-dev';

/** A rank (or mpirun itself) failed. `rank` is null when mpirun did not say which rank. */
export class MpiJobError extends Error {
  constructor(
    message: string,
    readonly rank: number | null,
    readonly exitCode: number | null,
    readonly rankSignal: number | null,
    readonly stderrTail: string,
  ) {
    super(message);
    this.name = 'MpiJobError';
  }
}

function currentHost(): HostFacts {
  return { uid: process.getuid?.() ?? -1, cores: availableParallelism() };
}

const tsxLoaderUrl = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** How every rank runs a TypeScript rank program: this Node.js with tsx's loader (same paths on every host). */
export function rankProgramCommand(entry: string, args: readonly string[] = []): string[] {
  return [process.execPath, '--import', tsxLoaderUrl, entry, ...args];
}

/**
 * A job on this host alone talks over loopback only: OpenMPI's TCP transport and its out-of-band channel
 * would otherwise listen on every interface (docs/security.md).
 */
export const LOOPBACK_ONLY: Readonly<Record<string, string>> = { btl_tcp_if_include: 'lo', oob_tcp_if_include: 'lo' };

/** The mpirun invocation for `opts` (pure apart from reading process.env and the tsx location). */
export function mpirunCommand(opts: MpiJobOptions, host: HostFacts = currentHost()): MpirunCommand {
  if (!Number.isInteger(opts.np) || opts.np < 1) {
    throw new Error(`MPI rank count must be a positive integer, got ${opts.np}`);
  }
  const cwd = opts.cwd ?? process.cwd();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...opts.env,
    // Containers usually forbid the cross-memory-attach (CMA) copy of the shared-memory transport.
    OMPI_MCA_btl_vader_single_copy_mechanism: 'none',
  };
  const exported = ['PATH', 'NODE_OPTIONS', 'OMPI_MCA_btl_vader_single_copy_mechanism', ...Object.keys(opts.env ?? {})]
    .filter((name, i, all) => env[name] !== undefined && all.indexOf(name) === i);
  const args = ['-np', String(opts.np)];
  if (host.uid === 0) args.push('--allow-run-as-root');
  // On one host more ranks than cores is a choice; with a hostfile it would hide a slot mistake on a cluster.
  if (!opts.hostfile) args.push('--oversubscribe');
  if (opts.hostfile) args.push('--hostfile', resolve(cwd, opts.hostfile));
  // Node ranks run GC and libuv threads beside the main one, and the machines are shared: no core pinning.
  args.push('--bind-to', 'none', '--tag-output');
  const mca = { ...(opts.hostfile ? {} : LOOPBACK_ONLY), ...opts.mca };
  for (const [key, value] of Object.entries(mca)) args.push('--mca', key, value);
  args.push(...(opts.mpirunArgs ?? []));
  for (const name of exported) args.push('-x', name);
  args.push(...rankProgramCommand(resolve(cwd, opts.entry), opts.args));
  return { file: 'mpirun', args, env };
}

interface RankFailure {
  rank: number | null;
  exitCode: number | null;
  signal: number | null;
}

/**
 * Which rank failed, from mpirun's own report (OpenMPI 4.1 wording). MPI_Abort is not covered: Debian's
 * OpenMPI 4.1.4 with PMIx 4.2 loses the rank-side "MPI_ABORT was invoked on rank …" message (show_help unpack
 * error), which is why rank programs exit with a non-zero code instead (see withMpi).
 */
export function parseRankFailure(launcherOutput: string): RankFailure {
  const exited = /Process name:\s*\[\[\d+,\d+\],(\d+)\]\s*\n\s*Exit code:\s*(-?\d+)/.exec(launcherOutput);
  if (exited) return { rank: Number(exited[1]), exitCode: Number(exited[2]), signal: null };
  const signalled = /process rank (\d+) with PID \d+ on node \S+ exited on signal (\d+)/.exec(launcherOutput);
  if (signalled) return { rank: Number(signalled[1]), exitCode: null, signal: Number(signalled[2]) };
  return { rank: null, exitCode: null, signal: null };
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('MPI job aborted');
}

/**
 * Runs `np` ranks of `entry` under mpirun and resolves when all ranks have finished successfully. Rejects with
 * an MpiJobError naming the failing rank and the tail of its stderr, or with `signal.reason` once every process
 * of an aborted job is gone.
 */
export async function runMpiJob(opts: MpiJobOptions): Promise<MpiJobResult> {
  const cwd = opts.cwd ?? process.cwd();
  const entry = resolve(cwd, opts.entry);
  if (!existsSync(entry)) throw new Error(`MPI rank program ${entry} does not exist`);
  if (opts.hostfile && !existsSync(resolve(cwd, opts.hostfile))) {
    throw new Error(`MPI hostfile ${resolve(cwd, opts.hostfile)} does not exist`);
  }
  const command = mpirunCommand(opts);
  if (opts.record) {
    const stale = await killRecordedJob(opts.record);
    if (stale.refused) throw new Error(`${stale.refused}; remove it or use another working directory`);
  }
  if (opts.signal?.aborted) throw abortReason(opts.signal);

  const started = performance.now();
  const stdoutTail = new LineTail(STDOUT_TAIL_LINES);
  const stderrTails = new Map<number, LineTail>();
  const launcherTail = new LineTail(LAUNCHER_TAIL_LINES);
  let result: unknown;

  // A throwing callback (e.g. a failed heartbeat) must not become an uncaught exception inside a stream
  // handler: it stops the job and becomes the job's error.
  let callbackError: unknown = null;
  const guarded = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A): void => {
    if (callbackError !== null) return;
    try {
      fn(...args);
    } catch (err) {
      callbackError = err;
      terminate();
    }
  };
  const watch = new RankWatch(opts.np, opts.readyTimeoutMs ?? MPI_READY_TIMEOUT_MS, opts.stallTimeoutMs ?? MPI_STALL_TIMEOUT_MS);
  const onStdout = guarded((rank: number, line: string): void => {
    stdoutTail.push(`[${rank}] ${line}`);
    opts.onLine?.(rank, line, 'stdout');
    const said = watch.line(rank, line);
    if (said.progress !== undefined) opts.onProgress?.(rank, said.progress);
    if (said.result !== undefined) result = said.result;
  });
  const onStderr = guarded((rank: number, line: string): void => {
    let tail = stderrTails.get(rank);
    if (!tail) stderrTails.set(rank, (tail = new LineTail(STDERR_TAIL_LINES)));
    tail.push(line);
    opts.onLine?.(rank, line, 'stderr');
  });
  const stdoutDemux = new TaggedOutputDemux(onStdout, (line) => launcherTail.push(line));
  const stderrDemux = new TaggedOutputDemux(onStderr, (line) => launcherTail.push(line));

  const child = spawn(command.file, command.args, {
    cwd,
    env: command.env,
    detached: true, // own session and process group: see processes.ts
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => stdoutDemux.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderrDemux.push(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit, rejectExit) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      rejectExit(err.code === 'ENOENT' ? new Error(`mpirun not found on PATH; ${INSTALL_HINT}`) : err));
    child.once('close', (code, signal) => resolveExit({ code, signal }));
  });

  const sessionId = child.pid;
  let termination: Promise<number> | null = null;
  const terminate = (): void => {
    if (sessionId === undefined || termination) return;
    termination = terminateSession(sessionId, opts.killGraceMs ?? 5_000);
    termination.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
  };
  opts.signal?.addEventListener('abort', terminate, { once: true });
  let stalled: MpiStallError | null = null;
  const watchdog = setInterval(() => {
    if (stalled) return;
    stalled = watch.check(basename(entry));
    if (stalled) terminate();
  }, watch.checkEveryMs);
  try {
    const leader = sessionId !== undefined ? readProcess(sessionId) : null;
    if (leader && opts.record) {
      const record = {
        host: hostname(), pid: leader.pid, startTime: leader.startTime, command: [entry, ...(opts.args ?? [])], np: opts.np,
        startedAt: new Date().toISOString(),
      };
      await writeProcessRecord(opts.record, record).catch(async (err: Error) => {
        terminate();
        await termination;
        await exited.catch(() => undefined);
        throw new Error(`cannot write the MPI process record ${opts.record}: ${err.message}`);
      });
    }
    const { code, signal } = await exited;
    stdoutDemux.end();
    stderrDemux.end();
    if (opts.signal?.aborted || callbackError !== null || stalled) {
      terminate();
      await termination;
      throw stalled ?? callbackError ?? abortReason(opts.signal!);
    }
    // mpirun has exited; anything still in its session is an orphaned rank.
    if (sessionId !== undefined && sessionMembers(sessionId).length > 0) await terminateSession(sessionId, 1_000);
    if (code !== 0) throw jobError(basename(entry), opts.np, code, signal, launcherTail, stderrTails);
    return { stdoutTail: stdoutTail.text, durationMs: performance.now() - started, result };
  } finally {
    clearInterval(watchdog);
    opts.signal?.removeEventListener('abort', terminate);
    if (opts.record) await rm(opts.record, { force: true });
  }
}

function jobError(
  program: string,
  np: number,
  code: number | null,
  signal: NodeJS.Signals | null,
  launcherTail: LineTail,
  stderrTails: Map<number, LineTail>,
): MpiJobError {
  const failure = parseRankFailure(launcherTail.text);
  const how = failure.signal !== null
    ? `was killed by signal ${failure.signal}`
    : failure.exitCode !== null ? `exited with code ${failure.exitCode}` : 'failed';
  const rankTail = failure.rank !== null ? stderrTails.get(failure.rank) : undefined;
  let message: string;
  let stderrTail: string;
  if (failure.rank !== null) {
    stderrTail = rankTail?.text ?? '';
    message = `MPI job ${program} (np ${np}): rank ${failure.rank} ${how}` +
      (stderrTail ? `; its stderr ends with:\n${indent(stderrTail)}` : ' without writing to stderr');
  } else {
    // mpirun failed before or without blaming a rank (bad hostfile, not enough slots, …): show its own words.
    stderrTail = [...stderrTails].map(([r, t]) => `[rank ${r}]\n${t.text}`).join('\n');
    message = `MPI job ${program} (np ${np}): mpirun ${signal ? `was killed by ${signal}` : `exited with code ${code}`}` +
      (launcherTail.isEmpty ? '' : `; mpirun says:\n${indent(launcherTail.text)}`) +
      (stderrTail ? `\nrank stderr:\n${indent(stderrTail)}` : '');
  }
  return new MpiJobError(message, failure.rank, failure.exitCode, failure.signal, stderrTail);
}

function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n');
}
