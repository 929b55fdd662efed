/**
 * The MPI flags shared by the commands that can run as an MPI job: `--mpi P [--hostfile H] [--mca KEY=VALUE]…
 * [--mpi-ready-timeout S] [--mpi-stall-timeout S]`. Without --mpi the work runs in this process.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MpiRanks } from '../model/jobs.ts';
import { type Args, type FlagSpec, UsageError } from '../os/args.ts';

export const MPI_FLAGS: FlagSpec = {
  values: ['mpi', 'hostfile', 'mca', 'mpi-ready-timeout', 'mpi-stall-timeout'],
  repeatable: ['mca'],
};

export const MPI_USAGE = '[--mpi P [--hostfile H] [--mca KEY=VALUE]… [--mpi-ready-timeout S] [--mpi-stall-timeout S]]';

/** `--mca KEY=VALUE` values as a map; a malformed one names itself. */
export function mcaOptions(values: readonly string[]): Record<string, string> {
  const mca: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0 || !/^[A-Za-z0-9_]+$/.test(v.slice(0, eq))) {
      throw new UsageError(`--mca must be KEY=VALUE with an OpenMPI parameter name (e.g. btl_tcp_if_include=eth0), got '${v}'`);
    }
    mca[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return mca;
}

function seconds(args: Args, flag: string): number | undefined {
  if (!args.has(flag)) return undefined;
  const s = args.number(flag);
  if (!(s > 0)) throw new UsageError(`--${flag} must be a positive number of seconds, got ${s}`);
  return s;
}

export function mpiOptions(args: Args): MpiRanks | null {
  const hostfile = args.optionalString('hostfile');
  const mpiOnly = ['hostfile', 'mca', 'mpi-ready-timeout', 'mpi-stall-timeout'].filter((f) => args.has(f));
  if (!args.has('mpi')) {
    if (mpiOnly.length > 0) throw new UsageError(`--${mpiOnly[0]} needs --mpi P`);
    return null;
  }
  const np = args.int('mpi');
  if (np < 1) throw new UsageError(`--mpi must be at least 1 rank, got ${np}`);
  if (hostfile !== undefined && !existsSync(resolve(hostfile))) throw new UsageError(`--hostfile ${hostfile} does not exist`);
  const ready = seconds(args, 'mpi-ready-timeout');
  const stall = seconds(args, 'mpi-stall-timeout');
  const mca = mcaOptions(args.list('mca'));
  return {
    np,
    ...(hostfile !== undefined && { hostfile: resolve(hostfile) }),
    ...(Object.keys(mca).length > 0 && { mca }),
    ...(ready !== undefined && { readyTimeoutSeconds: ready }),
    ...(stall !== undefined && { stallTimeoutSeconds: stall }),
  };
}
