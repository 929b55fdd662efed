/**
 * The batch script and sbatch options of an MPI job run by Slurm (pure: no I/O).
 *
 * Inside the allocation the ranks are started by `srun --mpi=pmix`, not by mpirun: Slurm's own launcher
 * starts every rank as a task of one job step, so the time limit, scancel, memory limits and node failures
 * act on the ranks themselves (no orted daemons in between), the step is accounted (sacct shows it), and no
 * ssh between nodes is needed. Debian's Slurm (22.05, plugin mpi_pmix_v4) and OpenMPI (4.1, built against the
 * same PMIx 4.2 library) work together this way; OpenMPI's own mpirun inside an allocation would work too, but
 * adds a daemon layer Slurm cannot see. Slurm's MPI guide: https://slurm.schedmd.com/mpi_guide.html.
 */
import { join } from 'node:path';
import type { SlurmSettings } from '../model/jobs.ts';

/** Every Slurm job subtomo submits is named `subtomo.<what>.<identity>`; records naming other jobs are refused. */
export const SLURM_JOB_PREFIX = 'subtomo.';

export interface SlurmJobSpec {
  /** Job name: how a later attempt finds the job again. */
  name: string;
  /** MPI ranks = Slurm tasks. */
  np: number;
  settings: SlurmSettings;
  /** Directory (shared by every node) of the batch script, the job's output files and its working directory. */
  dir: string;
  /** The rank program's command line, absolute paths: run once per rank. */
  command: readonly string[];
  /** Environment of the ranks (OpenMPI MCA parameters as OMPI_MCA_* variables). */
  env: Readonly<Record<string, string>>;
}

/** The batch script's path and, for job `id`, its output files (`%j` in --output/--error, sbatch(1)). */
export function slurmJobFiles(dir: string, id = '%j'): { script: string; out: string; err: string } {
  return { script: join(dir, 'job.sbatch'), out: join(dir, `slurm-${id}.out`), err: join(dir, `slurm-${id}.err`) };
}

/**
 * sbatch's options for the job (given on its command line, so that no path needs quoting inside `#SBATCH`
 * lines). The task count is the rank count; the Slurm settings follow, then the user's extra options.
 */
export function sbatchOptions(spec: SlurmJobSpec): string[] {
  const files = slurmJobFiles(spec.dir);
  const s = spec.settings;
  return [
    `--job-name=${spec.name}`,
    `--ntasks=${spec.np}`,
    `--output=${files.out}`,
    `--error=${files.err}`,
    `--chdir=${spec.dir}`,
    ...(s.partition !== undefined ? [`--partition=${s.partition}`] : []),
    ...(s.account !== undefined ? [`--account=${s.account}`] : []),
    ...(s.qos !== undefined ? [`--qos=${s.qos}`] : []),
    ...(s.nodes !== undefined ? [`--nodes=${s.nodes}`] : []),
    ...(s.ntasksPerNode !== undefined ? [`--ntasks-per-node=${s.ntasksPerNode}`] : []),
    ...(s.cpusPerTask !== undefined ? [`--cpus-per-task=${s.cpusPerTask}`] : []),
    ...(s.time !== undefined ? [`--time=${s.time}`] : []),
    ...(s.mem !== undefined ? [`--mem=${s.mem}`] : []),
    ...(s.extraArgs ?? []),
  ];
}

/** A word for the shell, quoted only when it needs to be. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The batch script: the ranks' environment, then srun starting one rank per task. */
export function slurmBatchScript(spec: SlurmJobSpec): string {
  const exports = Object.entries(spec.env).map(([k, v]) => `export ${k}=${shellWord(v)}`);
  const srun = [
    'srun',
    '--mpi=pmix', // PMIx wire-up of OpenMPI ranks (Slurm MPI guide)
    '--label', // each output line prefixed by its task (rank) number: mpi/labeledOutput.ts
    '--kill-on-bad-exit=1', // one failed rank ends the step instead of leaving the others in a collective
    '--export=ALL', // the script's environment, even where sbatch runs jobs with --export=NONE (srun(1))
    ...spec.command,
  ];
  return [
    '#!/bin/bash',
    `# MPI job written by subtomo (mpi/slurmScript.ts): ${spec.np} ranks, started by srun inside the allocation.`,
    `# Submitted with: sbatch --parsable ${sbatchOptions(spec).map(shellWord).join(' ')} ${shellWord(slurmJobFiles(spec.dir).script)}`,
    'set -eu',
    ...exports,
    `exec ${srun.map(shellWord).join(' ')}`,
    '',
  ].join('\n');
}
