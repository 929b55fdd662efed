/**
 * Content-addressed artifact store for one campaign directory (Nextflow-style resume).
 *
 * A step's key hashes its name, code version, parameters and the content hashes of its inputs; its outputs
 * live in `root/work/<key[0:2]>/<key>/`. A step runs in a fresh temp dir inside the store; the done-marker
 * `.done` (listing every output with its sha256 and size) is written last, by atomic rename, and only then is
 * the directory renamed into place. A crash therefore leaves either nothing or a leftover temp dir, never a
 * step directory that looks complete but is torn, and re-running a step with the same key reuses its result.
 *
 * What crosses Temporal is only the small JSON `ArtifactRef` — never the data.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type Stats, createReadStream } from 'node:fs';
import { appendFile, lstat, mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { processAlive, readProcess, sameProcessAlive } from '../os/process.ts';
import { writeFileAtomic } from './atomic.ts';

/** A file passed between steps (and through Temporal payloads). */
export interface ArtifactRef {
  path: string;
  sha256: string;
  bytes: number;
}

/** What a step function returns: output name → file path inside its temp dir (relative, or absolute within it). */
export type OutputManifest = Record<string, string>;

export type StepOutputs = Record<string, ArtifactRef>;

export interface StepResult {
  reused: boolean;
  /** The step directory `root/work/<key[0:2]>/<key>`. */
  dir: string;
  outputs: StepOutputs;
}

export interface StoreEvent {
  time: string;
  /** `invalid`: a completed step's output no longer matched its recorded hash, so the step is recomputed. */
  event: 'reuse' | 'compute' | 'invalid';
  key: string;
  label?: string;
  /** For `invalid`: which output changed and how. */
  reason?: string;
}

interface MarkerEntry {
  file: string;
  sha256: string;
  bytes: number;
}

interface DoneMarker {
  format: typeof MARKER_FORMAT;
  key: string;
  label?: string;
  completedAt: string;
  outputs: Record<string, MarkerEntry>;
}

const MARKER_FORMAT = 'subtomo-step/1';
/** A step lock is refreshed this often by its holder, broken when not refreshed for LOCK_STALE_MS. */
const LOCK_REFRESH_MS = 5_000;
const LOCK_STALE_MS = 60_000;
const LOCK_POLL_MS = 1_000;

interface LockHolder {
  host: string;
  pid: number;
  startTime: number;
}

/** A lock whose holder is gone: on this host by pid and start time, elsewhere by its refresh time. */
async function lockIsStale(path: string): Promise<boolean> {
  const [text, st] = await Promise.all([readFile(path, 'utf8').catch(() => null), stat(path).catch(() => null)]);
  if (text === null || st === null) return true;
  let holder: LockHolder;
  try {
    holder = JSON.parse(text) as LockHolder;
  } catch {
    // Being written this very moment, or garbage: garbage is broken once it has not been touched for a while.
    return Date.now() - st.mtimeMs > LOCK_STALE_MS;
  }
  if (holder.host === HOST) return !sameProcessAlive(holder.pid, holder.startTime);
  return Date.now() - st.mtimeMs > LOCK_STALE_MS;
}
const MARKER_NAME = '.done';
const SHA256_HEX = /^[0-9a-f]{64}$/;
const HOST = hostname();

/**
 * JSON with object keys sorted at every level, so equal values always hash equally. Refuses values JSON would
 * silently mangle (undefined in arrays, NaN/Infinity, typed arrays, class instances) — they would make two
 * different parameter sets share a key.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '$');
}

function encode(value: unknown, where: string): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`canonical JSON: ${where} is ${value}, which JSON cannot represent`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map((v, i) => {
      if (v === undefined) throw new Error(`canonical JSON: ${where}[${i}] is undefined`);
      return encode(v, `${where}[${i}]`);
    }).join(',')}]`;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new Error(`canonical JSON: ${where} is a ${proto?.constructor?.name ?? 'non-plain object'}; pass plain data`);
    }
    const obj = value as Record<string, unknown>;
    const fields = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${encode(obj[k], `${where}.${k}`)}`);
    return `{${fields.join(',')}}`;
  }
  throw new Error(`canonical JSON: ${where} has type ${typeof value}, which is not JSON data`);
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * File hashes already computed by this process, valid while the file's identity and change time are the
 * same. The change time (ctime) advances on every write and every utimes() and cannot be set back, so a file
 * overwritten in place with its size and mtime restored is hashed again.
 */
const hashCache = new Map<string, { fingerprint: string; sha256: string }>();

function fingerprint(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** sha256 of a file's content (cached per path while the file is unchanged, see `hashCache`). */
export async function hashFile(path: string): Promise<string> {
  const abs = resolve(path);
  const st = await stat(abs);
  const hit = hashCache.get(abs);
  if (hit && hit.fingerprint === fingerprint(st)) return hit.sha256;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(abs)) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  // A write during the read changes ctime: then the hash may describe neither version, so it is not kept.
  const after = await stat(abs);
  if (fingerprint(after) === fingerprint(st)) hashCache.set(abs, { fingerprint: fingerprint(st), sha256 });
  return sha256;
}

/**
 * The content of an artifact, read once and checked against its recorded hash while in memory (no second
 * read): what steps use to read their inputs.
 */
export async function readVerified(ref: ArtifactRef): Promise<Uint8Array> {
  const bytes = await readFile(ref.path).catch((err: NodeJS.ErrnoException) => {
    throw new ArtifactChangedError(ref, err.code === 'ENOENT' ? 'is gone' : `cannot be read (${err.message})`);
  });
  const sha256 = sha256Hex(bytes);
  if (bytes.length !== ref.bytes || sha256 !== ref.sha256) {
    throw new ArtifactChangedError(ref, `now has ${bytes.length} bytes sha256 ${sha256.slice(0, 12)}…`);
  }
  return bytes;
}

/** A file behind an ArtifactRef no longer has the content recorded for it. */
export class ArtifactChangedError extends Error {
  constructor(readonly ref: ArtifactRef, found: string) {
    super(`artifact ${ref.path} changed since it was recorded (expected ${ref.bytes} bytes sha256 ${ref.sha256.slice(0, 12)}…; it ${found})`);
    this.name = 'ArtifactChangedError';
  }
}

/** Reference to an existing file (e.g. a user's input MRC) so it can feed a step key. */
export async function refOf(path: string): Promise<ArtifactRef> {
  const abs = resolve(path);
  const st = await stat(abs).catch(() => {
    throw new Error(`artifact ${abs} does not exist`);
  });
  if (!st.isFile()) throw new Error(`artifact ${abs} is not a regular file`);
  return { path: abs, sha256: await hashFile(abs), bytes: st.size };
}

/** Throws an ArtifactChangedError if the file behind a reference is gone or no longer has the recorded content. */
export async function verifyRef(ref: ArtifactRef): Promise<void> {
  const st = await stat(ref.path).catch(() => null);
  if (!st?.isFile()) throw new ArtifactChangedError(ref, 'is gone');
  const sha256 = await hashFile(ref.path);
  if (st.size !== ref.bytes || sha256 !== ref.sha256) {
    throw new ArtifactChangedError(ref, `now has ${st.size} bytes sha256 ${sha256.slice(0, 12)}…`);
  }
}

export class ArtifactStore {
  readonly root: string;
  private readonly tmpRoot: string;
  private readonly logPath: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.tmpRoot = join(this.root, 'work', '.tmp');
    this.logPath = join(this.root, 'reuse.log');
  }

  /**
   * Step key: sha256 of the canonical JSON of step name, code version, parameters and input content hashes
   * (named, or in order). Inputs must be sha256 hex (use `ref.sha256`), not paths: moving a file must not
   * invalidate a result, editing it must.
   */
  key(step: string, codeVersion: string, params: unknown, inputHashes: Record<string, string> | readonly string[]): string {
    if (!step) throw new Error('artifact key: step name is empty');
    if (!codeVersion) throw new Error(`artifact key for step '${step}': code version is empty`);
    const entries = Array.isArray(inputHashes) ? inputHashes.map((h, i) => [String(i), h] as const) : Object.entries(inputHashes);
    for (const [name, h] of entries) {
      if (typeof h !== 'string' || !SHA256_HEX.test(h)) {
        throw new Error(`artifact key for step '${step}': input '${name}' is not a sha256 hex digest (got '${String(h)}')`);
      }
    }
    return sha256Hex(canonicalJson({ step, codeVersion, params, inputs: inputHashes }));
  }

  stepDir(key: string): string {
    if (!SHA256_HEX.test(key)) throw new Error(`artifact key '${key}' is not a sha256 hex digest`);
    return join(this.root, 'work', key.slice(0, 2), key);
  }

  async isComplete(key: string): Promise<boolean> {
    return (await this.completedOutputs(key)) !== null;
  }

  /**
   * Outputs of a complete step, each checked against its recorded content hash (whatever its mtime says), or
   * null if the step never completed. A step whose output has gone or changed is recorded as `invalid` in the
   * reuse log and returns null, so it is recomputed rather than reused.
   */
  async completedOutputs(key: string): Promise<StepOutputs | null> {
    const dir = this.stepDir(key);
    let marker: DoneMarker;
    try {
      marker = JSON.parse(await readFile(join(dir, MARKER_NAME), 'utf8')) as DoneMarker;
    } catch {
      return null;
    }
    if (marker.format !== MARKER_FORMAT || marker.key !== key) return null;
    const outputs: StepOutputs = {};
    for (const [name, entry] of Object.entries(marker.outputs)) {
      const ref = { path: join(dir, entry.file), sha256: entry.sha256, bytes: entry.bytes };
      try {
        await verifyRef(ref);
      } catch (err) {
        await this.invalidate(key, `output '${name}': ${(err as Error).message}`, marker.label);
        return null;
      }
      outputs[name] = ref;
    }
    return outputs;
  }

  /**
   * Marks the complete step `key` as not complete (its done-marker is set aside), so the next run of the step
   * recomputes it; records why in the reuse log.
   */
  async invalidate(key: string, reason: string, label?: string): Promise<void> {
    const marker = join(this.stepDir(key), MARKER_NAME);
    await rename(marker, `${marker}.invalid-${Date.now()}`).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await this.record('invalid', key, label, reason);
  }

  /** The store and step key that `path` is an output of (`<root>/work/<key[0:2]>/<key>/…`), or null. */
  static producerOf(path: string): { store: ArtifactStore; key: string } | null {
    const parts = resolve(path).split(sep);
    for (let i = parts.length - 4; i >= 1; i--) {
      const [work, prefix, key] = parts.slice(i, i + 3);
      if (work === 'work' && SHA256_HEX.test(key) && key.startsWith(prefix) && prefix.length === 2) {
        return { store: new ArtifactStore(parts.slice(0, i).join(sep) || sep), key };
      }
    }
    return null;
  }

  /**
   * Reuse the complete result of `key`, or run `fn` in a fresh temp dir and commit its outputs atomically.
   * `fn` returns the output files it wrote (name → path inside the temp dir); it must not embed the temp dir's
   * path in their content, since the dir is renamed. If `fn` throws, nothing is committed.
   *
   * One computation per key at a time: a step lock (`<key>.lock` beside the step directory) is held while
   * `fn` runs, and a second caller — another worker or another campaign sharing the workdir — waits for it
   * (calling `onWait` about once a second, e.g. to heartbeat) and then reuses its result. A lock whose holder
   * is dead (on this host: its pid and start time; elsewhere: no refresh for LOCK_STALE_MS) is broken.
   */
  async runStep(
    key: string,
    fn: (tmpDir: string) => Promise<OutputManifest>,
    label?: string,
    opts: { onWait?: () => Promise<void> | void } = {},
  ): Promise<StepResult> {
    const dir = this.stepDir(key);
    for (;;) {
      const existing = await this.completedOutputs(key);
      if (existing) {
        await this.record('reuse', key, label);
        return { reused: true, dir, outputs: existing };
      }
      const lock = await this.tryLock(key);
      if (!lock) {
        await opts.onWait?.();
        await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
        continue;
      }
      try {
        // Completed between the check above and taking the lock: reuse it.
        const finished = await this.completedOutputs(key);
        if (finished) {
          await this.record('reuse', key, label);
          return { reused: true, dir, outputs: finished };
        }
        return await this.compute(key, fn, label);
      } finally {
        await lock.release();
      }
    }
  }

  private async compute(key: string, fn: (tmpDir: string) => Promise<OutputManifest>, label?: string): Promise<StepResult> {
    const dir = this.stepDir(key);
    await this.cleanTemp(key);
    const tmp = this.freshTempPath(key);
    await mkdir(tmp, { recursive: true });
    try {
      const manifest = await fn(tmp);
      const marker: DoneMarker = {
        format: MARKER_FORMAT,
        key,
        ...(label ? { label } : {}),
        completedAt: new Date().toISOString(),
        outputs: await describeOutputs(tmp, manifest, label ?? key),
      };
      await writeFileAtomic(join(tmp, MARKER_NAME), JSON.stringify(marker, null, 1));
      const winner = await this.commit(tmp, dir, key);
      await this.record('compute', key, label);
      return { reused: false, dir, outputs: winner ?? this.refsFromMarker(dir, marker) };
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Takes the step lock of `key`, breaking a stale one; null while a live holder has it. */
  private async tryLock(key: string): Promise<{ release(): Promise<void> } | null> {
    const path = `${this.stepDir(key)}.lock`;
    await mkdir(dirname(path), { recursive: true });
    const me = readProcess(process.pid);
    const holder: LockHolder = { host: HOST, pid: process.pid, startTime: me?.startTime ?? 0 };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(path, JSON.stringify(holder), { flag: 'wx' });
        const refresh = setInterval(() => {
          const now = new Date();
          utimes(path, now, now).catch(() => undefined);
        }, LOCK_REFRESH_MS);
        return {
          release: async () => {
            clearInterval(refresh);
            await rm(path, { force: true });
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (!(await lockIsStale(path))) return null;
      await rm(path, { force: true });
    }
    return null;
  }

  /**
   * Move a finished temp dir into place. An existing step dir is either a complete result committed
   * concurrently by another attempt of the same step (keep it, return its outputs) or an invalidated one
   * (move it aside and replace it).
   */
  private async commit(tmp: string, dir: string, key: string): Promise<StepOutputs | null> {
    await mkdir(dirname(dir), { recursive: true });
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(tmp, dir);
        return null;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || attempt >= 3) throw err;
      }
      const theirs = await this.completedOutputs(key);
      if (theirs) return theirs;
      const stale = this.freshTempPath(key);
      await rename(dir, stale).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      await rm(stale, { recursive: true, force: true });
    }
  }

  private refsFromMarker(dir: string, marker: DoneMarker): StepOutputs {
    const outputs: StepOutputs = {};
    for (const [name, e] of Object.entries(marker.outputs)) outputs[name] = { path: join(dir, e.file), sha256: e.sha256, bytes: e.bytes };
    return outputs;
  }

  private freshTempPath(key: string): string {
    return join(this.tmpRoot, `${key}.${HOST}.${process.pid}.${randomBytes(6).toString('hex')}`);
  }

  /**
   * Remove temp dirs left by crashed runs: those created on this host by a process that no longer exists
   * (optionally only for one key). Temp dirs of other hosts are left alone — they are never read anyway.
   * Returns how many were removed.
   */
  async cleanTemp(onlyKey?: string): Promise<number> {
    const names = await readdir(this.tmpRoot).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      const parts = name.split('.');
      if (parts.length < 4) continue;
      const pid = Number(parts[parts.length - 2]);
      const host = parts.slice(1, -2).join('.');
      if (onlyKey && parts[0] !== onlyKey) continue;
      if (host !== HOST || !Number.isInteger(pid) || processAlive(pid)) continue;
      await rm(join(this.tmpRoot, name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  private async record(event: StoreEvent['event'], key: string, label?: string, reason?: string): Promise<void> {
    const line: StoreEvent = { time: new Date().toISOString(), event, key, ...(label ? { label } : {}), ...(reason ? { reason } : {}) };
    await mkdir(this.root, { recursive: true });
    await appendFile(this.logPath, `${JSON.stringify(line)}\n`);
  }

  /** Every reuse/compute decision recorded in `root/reuse.log`, oldest first. */
  async events(): Promise<StoreEvent[]> {
    const text = await readFile(this.logPath, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as StoreEvent);
  }

  /** Totals over `root/reuse.log` (all processes that used this campaign directory). */
  async counts(): Promise<{ reused: number; computed: number }> {
    const events = await this.events();
    const count = (e: StoreEvent['event']) => events.filter((x) => x.event === e).length;
    return { reused: count('reuse'), computed: count('compute') };
  }
}

async function describeOutputs(tmp: string, manifest: OutputManifest, stepName: string): Promise<Record<string, MarkerEntry>> {
  if (manifest === null || typeof manifest !== 'object') {
    throw new Error(`step ${stepName}: must return a manifest {name: file}, got ${String(manifest)}`);
  }
  const entries: Record<string, MarkerEntry> = {};
  for (const [name, given] of Object.entries(manifest)) {
    const abs = resolve(tmp, given);
    const rel = relative(tmp, abs);
    if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
      throw new Error(`step ${stepName}: output '${name}' (${given}) is not inside its working directory`);
    }
    const st = await lstat(abs).catch(() => null);
    if (!st) throw new Error(`step ${stepName}: output '${name}' (${given}) was not written`);
    if (!st.isFile()) throw new Error(`step ${stepName}: output '${name}' (${given}) is not a regular file`);
    if (rel === MARKER_NAME) throw new Error(`step ${stepName}: output '${name}' may not be named ${MARKER_NAME}`);
    entries[name] = { file: rel.split(sep).join('/'), sha256: await hashFile(abs), bytes: st.size };
  }
  return entries;
}
