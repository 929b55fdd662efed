/**
 * Start/stop a real Temporal dev server (`temporal server start-dev`) persisting to SQLite, so campaigns
 * survive a server restart. The server runs detached; its pid, address and database are recorded in a
 * state dir so a later `startServer` with the same settings reuses it and `stopServer` can find it.
 *
 * The server knows subtomo's search attributes (model/searchAttributes.ts): registered by `start-dev
 * --search-attribute` when it starts, and added to a reused server (or an older database) that lacks them.
 *
 * State dir (default `<repo>/.subtomo/server/`): `temporal.pid` (bare pid, for shell use), `server.json`
 * (the full record), `temporal.log` (server output, appended), `temporal.sqlite` (default database).
 */
import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants, closeSync, openSync, writeSync } from 'node:fs';
import { access, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../io/atomic.ts';
import { SUBTOMO_SEARCH_ATTRIBUTES } from '../model/searchAttributes.ts';
import { processAlive } from '../os/process.ts';

export const DEFAULT_PORT = 7233;
export const DEFAULT_ADDRESS = `127.0.0.1:${DEFAULT_PORT}`;

/** Where clients and workers find the server: --address, else TEMPORAL_ADDRESS, else 127.0.0.1:7233. */
export function temporalAddress(flag?: string): string {
  return flag || process.env.TEMPORAL_ADDRESS || DEFAULT_ADDRESS;
}
/** Dev-server namespaces keep closed runs only 24 h; a campaign's history must outlive that. */
export const NAMESPACE_RETENTION = '720h';
const RETENTION_SECONDS = 720 * 3600;
const NAMESPACE = 'default';

export interface ServerOptions {
  /** Front-end gRPC port (default 7233). */
  port?: number;
  /** Web UI port (default port + 1000). */
  uiPort?: number;
  /** Serve the Web UI (default true); false passes --headless. */
  ui?: boolean;
  /**
   * Bind address (default 127.0.0.1). Anything but loopback needs `insecureRemote`: the dev server has no TLS
   * and no authentication, so whoever reaches the port can start, read and cancel workflows (docs/security.md).
   */
  ip?: string;
  /** Allow a non-loopback `ip` although the server is then open to the network (see `ip`). */
  insecureRemote?: boolean;
  /** SQLite database (default <stateDir>/temporal.sqlite); its parent directory is created. */
  dbFile?: string;
  stateDir?: string;
  /** Temporal CLI binary (default: temporalBinary()). */
  bin?: string;
  /** How long to wait for SERVING (default 60 s). */
  readyTimeoutMs?: number;
}

export interface RunningServer {
  /** host:port for clients and workers. */
  address: string;
  uiUrl: string | null;
  pid: number;
  dbFile: string;
  stateDir: string;
  /** True if an already-running server recorded in the state dir was reused. */
  reused: boolean;
  /** Wall time from the call to SERVING (ms). */
  startupMs: number;
  /** SIGTERM, then SIGKILL after `graceMs` (default 20 s; 0 for a throw-away database). */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

interface ServerRecord {
  pid: number;
  address: string;
  ip: string;
  port: number;
  uiPort: number | null;
  dbFile: string;
  bin: string;
  startedAt: string;
}

export interface ServerStatus {
  stateDir: string;
  running: boolean;
  serving: boolean;
  record: ServerRecord | null;
}

/** `SUBTOMO_TEMPORAL_BIN`, else `${SUBTOMO_CACHE:-$HOME/.cache/subtomo}/bin/temporal`. */
export function temporalBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SUBTOMO_TEMPORAL_BIN) return resolve(env.SUBTOMO_TEMPORAL_BIN);
  const cache = env.SUBTOMO_CACHE || join(homedir(), '.cache', 'subtomo');
  return resolve(cache, 'bin', 'temporal');
}

export function defaultStateDir(): string {
  return fileURLToPath(new URL('../.subtomo/server/', import.meta.url));
}

const files = (stateDir: string) => ({
  pid: join(stateDir, 'temporal.pid'),
  record: join(stateDir, 'server.json'),
  log: join(stateDir, 'temporal.log'),
});

async function requireBinary(bin: string): Promise<void> {
  try {
    await access(bin, fsConstants.X_OK);
  } catch {
    throw new Error(
      `Temporal CLI not found (or not executable) at ${bin}: run infra/install.sh, or set SUBTOMO_TEMPORAL_BIN to the binary`,
    );
  }
}

function runCli(bin: string, args: string[], timeoutMs = 10_000): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(bin, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      done({ ok: !err, stdout, stderr });
    });
  });
}

/** One `temporal operator cluster health` probe. */
export async function isServing(address: string, bin: string = temporalBinary()): Promise<boolean> {
  const r = await runCli(bin, ['operator', 'cluster', 'health', '--address', address, '-o', 'json'], 5_000);
  if (!r.ok) return false;
  try {
    return (JSON.parse(r.stdout) as { status?: string }).status === 'SERVING';
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll health until SERVING. `stillRunning` lets a caller that spawned the server fail fast (with the log)
 * when it exits instead of waiting for the timeout.
 */
export async function waitUntilServing(
  address: string,
  opts: { bin?: string; timeoutMs?: number; stillRunning?: () => boolean; describeFailure?: () => Promise<string> } = {},
): Promise<void> {
  const bin = opts.bin ?? temporalBinary();
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    // Also require our process alive: a server that lost a race for the port must not pass for the winner.
    if ((await isServing(address, bin)) && (!opts.stillRunning || opts.stillRunning())) return;
    const why = opts.stillRunning && !opts.stillRunning() ? 'the server process exited' : Date.now() > deadline ? 'timed out' : null;
    if (why) {
      const detail = opts.describeFailure ? await opts.describeFailure() : '';
      throw new Error(`Temporal server at ${address} did not become SERVING (${why})${detail}`);
    }
    await sleep(100);
  }
}

/** A port that was free a moment ago (the OS picks it). */
export function freePort(ip = '127.0.0.1'): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, ip, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => done(port));
    });
  });
}

function portFree(port: number, ip: string): Promise<boolean> {
  return new Promise((done) => {
    const srv = createServer();
    srv.once('error', () => done(false));
    srv.listen(port, ip, () => srv.close(() => done(true)));
  });
}

/** Guards against a recycled pid: the recorded process must still be a `temporal server start-dev`. */
async function isDevServerProcess(pid: number): Promise<boolean> {
  if (!processAlive(pid)) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  if (cmdline === null) return process.platform !== 'linux';
  return cmdline.split('\0').includes('start-dev');
}

async function readRecord(stateDir: string): Promise<ServerRecord | null> {
  try {
    return JSON.parse(await readFile(files(stateDir).record, 'utf8')) as ServerRecord;
  } catch {
    return null;
  }
}

async function forgetRecord(stateDir: string): Promise<void> {
  const f = files(stateDir);
  await rm(f.pid, { force: true });
  await rm(f.record, { force: true });
}

async function logTail(logFile: string, lines = 20): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
  return tail ? `; last lines of ${logFile}:\n${tail}` : `; see ${logFile}`;
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(ip: string): boolean {
  return ip === 'localhost' || ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

const clientHost = (ip: string) => (ip === '0.0.0.0' || ip === '::' ? '127.0.0.1' : ip);

/** Set the namespace retention to 720 h unless it already is (it persists in the SQLite file). */
async function ensureRetention(address: string, bin: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await runCli(bin, ['operator', 'namespace', 'describe', '-n', NAMESPACE, '--address', address, '-o', 'json']);
    if (d.ok) {
      const ttl = (JSON.parse(d.stdout) as { config?: { workflowExecutionRetentionTtl?: string } }).config
        ?.workflowExecutionRetentionTtl;
      if (ttl === `${RETENTION_SECONDS}s`) return;
      const u = await runCli(bin, [
        'operator', 'namespace', 'update', '-n', NAMESPACE, '--retention', NAMESPACE_RETENTION, '--address', address,
      ]);
      if (u.ok) return;
      if (Date.now() > deadline) throw new Error(`could not set retention of namespace '${NAMESPACE}' at ${address}: ${u.stderr.trim()}`);
    } else if (Date.now() > deadline) {
      throw new Error(`could not describe namespace '${NAMESPACE}' at ${address}: ${d.stderr.trim()}`);
    }
    await sleep(200);
  }
}

/** `NAME=Type` of every subtomo search attribute, as `start-dev --search-attribute` takes them. */
function searchAttributeFlags(): string[] {
  return Object.values(SUBTOMO_SEARCH_ATTRIBUTES).flatMap((a) => ['--search-attribute', `${a.name}=${a.type}`]);
}

/** Registers the subtomo search attributes the namespace lacks (a server started without them, an older database). */
async function ensureSearchAttributes(address: string, bin: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const listed = await runCli(bin, ['operator', 'search-attribute', 'list', '-n', NAMESPACE, '--address', address, '-o', 'json']);
    if (listed.ok) {
      const known = (JSON.parse(listed.stdout) as { customAttributes?: Record<string, string> }).customAttributes ?? {};
      const missing = Object.values(SUBTOMO_SEARCH_ATTRIBUTES).filter((a) => !(a.name in known));
      if (missing.length === 0) return;
      for (const a of missing) {
        const created = await runCli(bin, ['operator', 'search-attribute', 'create', '-n', NAMESPACE, '--name', a.name, '--type', a.type, '--address', address]);
        if (!created.ok && Date.now() > deadline) throw new Error(`could not register search attribute ${a.name} at ${address}: ${created.stderr.trim()}`);
      }
    } else if (Date.now() > deadline) {
      throw new Error(`could not list the search attributes of namespace '${NAMESPACE}' at ${address}: ${listed.stderr.trim()}`);
    }
    await sleep(200);
  }
}

/**
 * Start a dev server (or reuse the one recorded in the state dir if it is alive, answers, and has the same
 * port and database). Resolves once it is SERVING, the namespace retention is 720 h and the subtomo search
 * attributes are registered.
 */
export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const t0 = performance.now();
  const bin = opts.bin ?? temporalBinary();
  await requireBinary(bin);
  const stateDir = resolve(opts.stateDir ?? defaultStateDir());
  const f = files(stateDir);
  const port = opts.port ?? DEFAULT_PORT;
  const ui = opts.ui ?? true;
  const uiPort = ui ? (opts.uiPort ?? port + 1000) : null;
  const ip = opts.ip ?? '127.0.0.1';
  if (!isLoopback(ip) && !opts.insecureRemote) {
    throw new Error(
      `refusing to serve Temporal on ${ip}: the dev server has no TLS or authentication, so anyone who can reach it can ` +
        'run and cancel campaigns. Use 127.0.0.1 with an SSH tunnel for remote workers, a Temporal cluster with mTLS ' +
        '(docs/security.md), or pass --insecure-remote on a network you trust.',
    );
  }
  const dbFile = resolve(opts.dbFile ?? join(stateDir, 'temporal.sqlite'));
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  const address = `${clientHost(ip)}:${port}`;
  await mkdir(stateDir, { recursive: true });
  await mkdir(dirname(dbFile), { recursive: true });
  // SQLite would report a directory here as "out of memory (14)".
  if ((await stat(dbFile).catch(() => null))?.isDirectory()) {
    throw new Error(`Temporal database ${dbFile} is a directory; give the path of a SQLite file`);
  }

  const handle = (rec: ServerRecord, reused: boolean): RunningServer => ({
    address: rec.address,
    uiUrl: rec.uiPort === null ? null : `http://${clientHost(rec.ip)}:${rec.uiPort}`,
    pid: rec.pid,
    dbFile: rec.dbFile,
    stateDir,
    reused,
    startupMs: performance.now() - t0,
    stop: (o) => stopPid(rec.pid, stateDir, o?.graceMs),
  });

  const previous = await readRecord(stateDir);
  if (previous && (await isDevServerProcess(previous.pid))) {
    if (previous.port !== port || previous.dbFile !== dbFile) {
      throw new Error(
        `a Temporal dev server (pid ${previous.pid}) from ${stateDir} is already running at ${previous.address} with ` +
          `database ${previous.dbFile}; stop it first (infra/server.ts stop) or use another state dir`,
      );
    }
    await waitUntilServing(previous.address, {
      bin,
      timeoutMs,
      stillRunning: () => processAlive(previous.pid),
      describeFailure: () => logTail(f.log),
    });
    await ensureRetention(previous.address, bin, timeoutMs);
    await ensureSearchAttributes(previous.address, bin, timeoutMs);
    return handle(previous, true);
  }
  if (previous) await forgetRecord(stateDir);

  for (const [what, p] of [['gRPC', port], ['Web UI', uiPort]] as const) {
    if (p !== null && !(await portFree(p, ip))) {
      throw new Error(`cannot start Temporal: ${what} port ${p} on ${ip} is already in use (another server?); choose another port`);
    }
  }

  const args = ['server', 'start-dev', '--db-filename', dbFile, '--ip', ip, '--port', String(port), '--log-level', 'warn', ...searchAttributeFlags()];
  args.push(...(uiPort === null ? ['--headless'] : ['--ui-port', String(uiPort)]));
  const logFd = openSync(f.log, 'a');
  writeSync(logFd, `\n=== ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
  let exited = false;
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  child.on('exit', () => {
    exited = true;
  });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${bin}${await logTail(f.log)}`);

  const rec: ServerRecord = { pid: child.pid, address, ip, port, uiPort, dbFile, bin, startedAt: new Date().toISOString() };
  await writeFileAtomic(f.pid, `${rec.pid}\n`);
  await writeFileAtomic(f.record, `${JSON.stringify(rec, null, 1)}\n`);
  try {
    await waitUntilServing(address, { bin, timeoutMs, stillRunning: () => !exited, describeFailure: () => logTail(f.log) });
    await ensureRetention(address, bin, timeoutMs);
    await ensureSearchAttributes(address, bin, timeoutMs);
  } catch (err) {
    await stopPid(rec.pid, stateDir);
    throw err;
  }
  return handle(rec, false);
}

/** SIGTERM (graceful: SQLite is closed cleanly), SIGKILL after the grace period; forget the record. */
async function stopPid(pid: number, stateDir: string, graceMs = 20_000): Promise<void> {
  if (await isDevServerProcess(pid)) {
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (processAlive(pid) && Date.now() < deadline) await sleep(50);
    if (processAlive(pid)) signal(pid, 'SIGKILL');
    while (processAlive(pid)) await sleep(20);
  }
  const rec = await readRecord(stateDir);
  if (!rec || rec.pid === pid) await forgetRecord(stateDir);
}

/** Send a signal to a process that may have exited meanwhile. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Stop the server recorded in the state dir; false if none was running. */
export async function stopServer(stateDir: string = defaultStateDir()): Promise<boolean> {
  const dir = resolve(stateDir);
  const rec = await readRecord(dir);
  if (!rec) return false;
  const running = await isDevServerProcess(rec.pid);
  await stopPid(rec.pid, dir);
  return running;
}

export async function serverStatus(stateDir: string = defaultStateDir()): Promise<ServerStatus> {
  const dir = resolve(stateDir);
  const record = await readRecord(dir);
  const running = record !== null && (await isDevServerProcess(record.pid));
  const serving = running && (await isServing(record.address, record.bin));
  return { stateDir: dir, running, serving, record };
}
