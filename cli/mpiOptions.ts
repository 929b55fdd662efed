/** `--mpi P [--hostfile H]`, shared by the commands that can run as an MPI job. Absent --mpi: in-process. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MpiRanks } from '../drivers/execution.ts';
import { type Args, UsageError } from '../os/args.ts';

export function mpiOptions(args: Args): MpiRanks | null {
  const hostfile = args.optionalString('hostfile');
  if (!args.has('mpi')) {
    if (hostfile !== undefined) throw new UsageError('--hostfile needs --mpi P');
    return null;
  }
  const np = args.int('mpi');
  if (np < 1) throw new UsageError(`--mpi must be at least 1 rank, got ${np}`);
  if (hostfile !== undefined && !existsSync(resolve(hostfile))) throw new UsageError(`--hostfile ${hostfile} does not exist`);
  return { np, hostfile: hostfile && resolve(hostfile) };
}
