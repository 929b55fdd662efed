/**
 * Checks made before an MPI job starts, so that a job that cannot run fails at once with a message that
 * names the problem, instead of hanging, swapping or failing rank by rank:
 * - rank count: at most the hostfile's slots (when every host line states them), or 4 × this host's cores;
 * - memory: the ranks placed on this host must fit its memory (estimate from the box size);
 * - hosts: every host of the hostfile other than this one must answer ssh without a password
 *   (`ssh -o BatchMode=yes`, with the `plm_rsh_args` MCA parameter mpirun would use).
 */
import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { availableParallelism, hostname, networkInterfaces, totalmem } from 'node:os';

export class PreflightError extends Error {
  constructor(message: string, readonly kind: 'ranks' | 'memory' | 'hosts') {
    super(message);
    this.name = 'PreflightError';
  }
}

export interface HostfileEntry {
  host: string;
  /** `slots=N` of the line, when given. */
  slots?: number;
}

/** The host lines of an OpenMPI hostfile (`host [slots=N] [max_slots=M]`, `#` comments). */
export function parseHostfile(text: string, source: string): HostfileEntry[] {
  const entries: HostfileEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const [host, ...fields] = line.split(/\s+/);
    const entry: HostfileEntry = { host };
    for (const f of fields) {
      const m = /^slots=(\d+)$/.exec(f);
      if (m) entry.slots = Number(m[1]);
      else if (!/^max[-_]slots=\d+$/.test(f)) throw new PreflightError(`${source}:${i + 1}: '${f}' is not slots=N or max_slots=N`, 'hosts');
    }
    entries.push(entry);
  });
  if (entries.length === 0) throw new PreflightError(`${source} lists no host`, 'hosts');
  return entries;
}

/**
 * Memory one rank needs for an alignment or average of an n³ box: the Node runtime and code (~200 MB, measured
 * in docs/memory.md) plus about 40 float32 volumes of the box (particle, reference, objective buffers, FFT
 * spectra at 16 bytes per voxel).
 */
export function rankMemoryBytes(n: number): number {
  return 200 * 2 ** 20 + 40 * 4 * n ** 3;
}

function isThisHost(host: string): boolean {
  if (host === 'localhost' || host === hostname() || /^127\./.test(host) || host === '::1') return true;
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address === host));
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

export interface PreflightOptions {
  np: number;
  hostfile?: string;
  mca?: Readonly<Record<string, string>>;
  /** Box size of the job's volumes, for the memory estimate. */
  boxSize: number;
  /** Seconds to wait for each host's ssh answer (default 15). */
  sshTimeoutSeconds?: number;
}

export async function preflight(opts: PreflightOptions): Promise<void> {
  const cores = availableParallelism();
  const entries = opts.hostfile ? parseHostfile(await readFile(opts.hostfile, 'utf8'), opts.hostfile) : null;
  if (entries === null) {
    if (opts.np > 4 * cores) {
      throw new PreflightError(`${opts.np} MPI ranks on this host's ${cores} cores is more than 4 per core; use fewer ranks or a hostfile`, 'ranks');
    }
  } else if (entries.every((e) => e.slots !== undefined)) {
    const slots = entries.reduce((s, e) => s + e.slots!, 0);
    if (opts.np > slots) {
      throw new PreflightError(`${opts.np} MPI ranks but the hostfile ${opts.hostfile} has ${slots} slots; add hosts or slots, or use fewer ranks`, 'ranks');
    }
  }
  const localRanks = entries === null
    ? opts.np
    : Math.min(opts.np, entries.filter((e) => isThisHost(e.host)).reduce((s, e) => s + (e.slots ?? cores), 0));
  const need = localRanks * rankMemoryBytes(opts.boxSize);
  if (need > totalmem()) {
    throw new PreflightError(
      `${localRanks} MPI rank${localRanks === 1 ? '' : 's'} on this host need about ${gib(need)} for ${opts.boxSize}³ volumes ` +
        `(${gib(rankMemoryBytes(opts.boxSize))} each), more than its ${gib(totalmem())}; use fewer ranks per host or a smaller box (binning)`,
      'memory',
    );
  }
  if (entries === null) return;
  const remote = [...new Set(entries.map((e) => e.host).filter((h) => !isThisHost(h)))];
  const rshArgs = opts.mca?.plm_rsh_args?.split(/\s+/).filter((a) => a !== '') ?? [];
  const timeout = opts.sshTimeoutSeconds ?? 15;
  const failures = await Promise.all(remote.map((host) => sshProbe(host, rshArgs, timeout)));
  const down = remote.flatMap((host, i) => (failures[i] === null ? [] : [`${host} (${failures[i]})`]));
  if (down.length > 0) {
    throw new PreflightError(
      `hosts of ${opts.hostfile} that do not answer ssh without a password: ${down.join(', ')}; mpirun could not start ranks there`,
      'hosts',
    );
  }
}

/**
 * The network OpenMPI's TCP transports should use for a job over the hosts of `hostfile`: the subnet (CIDR) of
 * this host's interface that every host's IPv4 address lies in, when there is one; otherwise null, and
 * OpenMPI's own choice of interfaces stands (docs/cluster.md says how to name them with --mca).
 */
export async function hostfileNetworks(hostfile: string): Promise<string | null> {
  const addresses: number[] = [];
  for (const { host } of parseHostfile(await readFile(hostfile, 'utf8'), hostfile)) {
    const found = await lookup(host, { family: 4 }).catch(() => null);
    if (!found) return null;
    addresses.push(ipv4(found.address));
  }
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.internal || !a.cidr) continue;
      const mask = ipv4(a.netmask);
      const net = ipv4(a.address) & mask;
      if (addresses.every((x) => (x & mask) === net)) return a.cidr.replace(/^[\d.]+/, dottedQuad(net >>> 0));
    }
  }
  return null;
}

function ipv4(dotted: string): number {
  return dotted.split('.').reduce((v, part) => (v << 8) | Number(part), 0);
}

function dottedQuad(v: number): string {
  return [24, 16, 8, 0].map((s) => (v >>> s) & 255).join('.');
}

/** null if `ssh host true` succeeds within the timeout, else why not. */
function sshProbe(host: string, rshArgs: readonly string[], timeoutSeconds: number): Promise<string | null> {
  const args = ['-o', 'BatchMode=yes', '-o', `ConnectTimeout=${timeoutSeconds}`, ...rshArgs, host, 'true'];
  return new Promise((resolve) => {
    execFile('ssh', args, { timeout: (timeoutSeconds + 5) * 1000 }, (err, _out, stderr) => {
      if (!err) return resolve(null);
      const last = stderr.trim().split('\n').pop();
      resolve(last || ((err as { killed?: boolean }).killed ? 'no answer within the timeout' : err.message));
    });
  });
}
