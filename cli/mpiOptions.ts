/**
 * The MPI flags shared by the commands that can run as an MPI job: `--mpi P [--hostfile H] [--mca KEY=VALUE]…
 * [--mpi-ready-timeout S] [--mpi-stall-timeout S] [--executor local|slurm] [--slurm-* …]`. Without --mpi the
 * work runs in this process; with `--executor slurm` it is submitted to Slurm (docs/cluster.md), the --slurm-*
 * flags being the sbatch options of `alignment.slurm` in a campaign, checked by the same rules.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { MPI_EXECUTORS, slurmSettingsProblem } from '../model/campaign.ts';
import type { MpiRanks, SlurmSettings } from '../model/jobs.ts';
import { type Args, type FlagSpec, UsageError } from '../os/args.ts';

/** Each Slurm setting's flag: its field name in kebab-case after `--slurm-`. */
const SLURM_FLAGS: Readonly<Record<keyof SlurmSettings, string>> = {
  partition: 'slurm-partition',
  account: 'slurm-account',
  nodes: 'slurm-nodes',
  ntasksPerNode: 'slurm-ntasks-per-node',
  cpusPerTask: 'slurm-cpus-per-task',
  time: 'slurm-time',
  mem: 'slurm-mem',
  qos: 'slurm-qos',
  extraArgs: 'slurm-extra-args',
};

export const MPI_FLAGS: FlagSpec = {
  values: ['mpi', 'hostfile', 'mca', 'mpi-ready-timeout', 'mpi-stall-timeout', 'executor', ...Object.values(SLURM_FLAGS)],
  repeatable: ['mca', SLURM_FLAGS.extraArgs],
};

export const MPI_USAGE =
  '[--mpi P [--hostfile H] [--mca KEY=VALUE]… [--mpi-ready-timeout S] [--mpi-stall-timeout S]\n' +
  '       [--executor local|slurm] [--slurm-partition P] [--slurm-account A] [--slurm-qos Q] [--slurm-time T] [--slurm-mem M]\n' +
  '       [--slurm-nodes N] [--slurm-ntasks-per-node N] [--slurm-cpus-per-task C] [--slurm-extra-args="--opt=v …"]]';

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

/**
 * The sbatch options of the --slurm-* flags, checked for a job of `np` ranks. `--slurm-extra-args` takes sbatch
 * options separated by blanks (give it with `=`, as its value starts with `--`) and may be repeated.
 */
function slurmSettings(args: Args, np: number): SlurmSettings {
  const s: SlurmSettings = {};
  for (const field of ['partition', 'account', 'qos', 'time', 'mem'] as const) {
    const v = args.optionalString(SLURM_FLAGS[field]);
    if (v !== undefined) s[field] = v;
  }
  for (const field of ['nodes', 'ntasksPerNode', 'cpusPerTask'] as const) {
    if (args.has(SLURM_FLAGS[field])) s[field] = args.int(SLURM_FLAGS[field]);
  }
  const extra = args.list(SLURM_FLAGS.extraArgs).flatMap((v) => v.split(/\s+/)).filter((a) => a !== '');
  if (extra.length > 0) s.extraArgs = extra;
  const problem = slurmSettingsProblem(s, np);
  if (problem) throw new UsageError(`--${SLURM_FLAGS[problem.field]} ${problem.message}`);
  return s;
}

export function mpiOptions(args: Args): MpiRanks | null {
  const hostfile = args.optionalString('hostfile');
  const slurmFlags = Object.values(SLURM_FLAGS).filter((f) => args.has(f));
  const mpiOnly = ['hostfile', 'mca', 'mpi-ready-timeout', 'mpi-stall-timeout', 'executor', ...slurmFlags].filter((f) => args.has(f));
  if (!args.has('mpi')) {
    if (mpiOnly.length > 0) throw new UsageError(`--${mpiOnly[0]} needs --mpi P`);
    return null;
  }
  const np = args.int('mpi');
  if (np < 1) throw new UsageError(`--mpi must be at least 1 rank, got ${np}`);
  const executor = args.string('executor', 'local');
  if (!(MPI_EXECUTORS as readonly string[]).includes(executor)) throw new UsageError(`--executor must be one of ${MPI_EXECUTORS.join(', ')}, got '${executor}'`);
  if (executor !== 'slurm' && slurmFlags.length > 0) throw new UsageError(`--${slurmFlags[0]} needs --executor slurm`);
  if (executor === 'slurm' && hostfile !== undefined) {
    throw new UsageError('--hostfile is for mpirun on this host; with --executor slurm, Slurm places the ranks (--slurm-nodes, --slurm-ntasks-per-node)');
  }
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
    ...(executor === 'slurm' && { executor: 'slurm' as const, slurm: slurmSettings(args, np) }),
  };
}
