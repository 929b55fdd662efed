/**
 * The Slurm executor's settings: `alignment.executor` / `alignment.slurm` in a campaign config and the
 * `--executor slurm --slurm-*` flags, one set of rules naming the field or the flag; configs without them keep
 * their validated form (and content hash); and the sbatch options and batch script made from them.
 */
import { describe, expect, test } from 'vitest';
import { MPI_FLAGS, mpiOptions } from '../cli/mpiOptions.ts';
import { slurmTimeSeconds, validateConfig } from '../model/campaign.ts';
import { sbatchOptions, slurmBatchScript, slurmJobFiles } from '../mpi/slurmScript.ts';
import { Args } from '../os/args.ts';

const SIMULATED = { kind: 'simulate' };
const config = (alignment: Record<string, unknown>) => validateConfig({ workdir: 'w', data: SIMULATED, alignment });
const flags = (...argv: string[]) => mpiOptions(new Args(argv, MPI_FLAGS));

describe('alignment.executor and alignment.slurm', () => {
  test('stored only for Slurm: configs without them validate to what they always did', () => {
    const before = config({ mpiRanks: 4 });
    expect(before.alignment).not.toHaveProperty('executor');
    expect(before.alignment).not.toHaveProperty('slurm');
    expect(config({ mpiRanks: 4, executor: 'local' })).toEqual(before);
    const slurm = {
      partition: 'gpu,cpu', account: 'cryoem', qos: 'normal', nodes: 2, ntasksPerNode: 8, cpusPerTask: 2, time: '2:00:00', mem: '32G',
      extraArgs: ['--constraint=avx2', '--exclusive'],
    };
    const withSlurm = config({ mpiRanks: 16, executor: 'slurm', slurm });
    expect(withSlurm.alignment).toMatchObject({ executor: 'slurm', slurm });
    expect(validateConfig(JSON.parse(JSON.stringify(withSlurm)))).toEqual(withSlurm);
    // YAML numbers: minutes and megabytes, as sbatch reads them.
    expect(config({ executor: 'slurm', slurm: { time: 90, mem: 4096 } }).alignment.slurm).toEqual({ time: '90', mem: '4096' });
    expect(config({ executor: 'slurm' }).alignment).toMatchObject({ executor: 'slurm' });
  });

  test('every problem names its field', () => {
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ executor: 'pbs' }, /'alignment\.executor': must be one of local, slurm, got 'pbs'/],
      [{ slurm: { partition: 'p' } }, /'alignment\.slurm': holds sbatch options: it needs alignment\.executor: slurm/],
      [{ executor: 'slurm', slurm: { partiton: 'p' } }, /'alignment\.slurm\.partiton': is not a known field/],
      [{ executor: 'slurm', slurm: { time: '1:2:3:4' } }, /'alignment\.slurm\.time': must be a time limit in sbatch's formats/],
      [{ executor: 'slurm', slurm: { time: 0 } }, /'alignment\.slurm\.time': .* above zero, got '0'/],
      [{ executor: 'slurm', slurm: { mem: '4 GB' } }, /'alignment\.slurm\.mem': must be memory per node in sbatch's format/],
      [{ executor: 'slurm', slurm: { nodes: 0 } }, /'alignment\.slurm\.nodes': must be a positive integer/],
      [{ executor: 'slurm', mpiRanks: 2, slurm: { nodes: 3 } }, /'alignment\.slurm\.nodes': asks for 3 nodes for 2 MPI ranks/],
      [{ executor: 'slurm', mpiRanks: 8, slurm: { nodes: 2, ntasksPerNode: 2 } }, /'alignment\.slurm\.ntasksPerNode': 2 nodes × 2 tasks per node hold fewer than the 8/],
      [{ executor: 'slurm', slurm: { account: 'a b' } }, /'alignment\.slurm\.account': must be a name/],
      [{ executor: 'slurm', slurm: { partition: 'a;b' } }, /'alignment\.slurm\.partition': must be a partition name/],
      [{ executor: 'slurm', slurm: { extraArgs: '--exclusive' } }, /'alignment\.slurm\.extraArgs': must be a list of sbatch options/],
      [{ executor: 'slurm', slurm: { extraArgs: ['exclusive'] } }, /'alignment\.slurm\.extraArgs': holds sbatch options, one argument each/],
      [{ executor: 'slurm', slurm: { extraArgs: ['--job-name=x'] } }, /'--job-name=x' is not allowed here: subtomo names the job/],
      [{ executor: 'slurm', slurm: { extraArgs: ['-t', '5'] } }, /'-t' is not allowed here: set it with time \(alignment\.slurm\.time, --slurm-time\)/],
      [{ executor: 'slurm', slurm: { extraArgs: ['-o/tmp/x'] } }, /'-o\/tmp\/x' is not allowed here: subtomo follows the job/],
      [{ executor: 'slurm', hostfile: 'hosts' }, /'alignment\.hostfile': is for mpirun on this host; with executor: slurm, Slurm places the ranks/],
      [{ executor: 'slurm', mpi: { args: ['--map-by', 'node'] } }, /'alignment\.mpi\.args': are mpirun arguments/],
    ];
    for (const [alignment, message] of refused) expect(() => config(alignment), JSON.stringify(alignment)).toThrow(message);
  });

  test("sbatch's time formats", () => {
    expect(['90', '1:30', '2:00:00', '1-12', '1-12:30', '1-0:0:5'].map(slurmTimeSeconds)).toEqual([5400, 90, 7200, 129600, 131400, 86405]);
    expect(['', 'abc', '1:2:3:4', '-1', '1.5'].map(slurmTimeSeconds)).toEqual([null, null, null, null, null]);
  });
});

describe('--executor slurm and the --slurm-* flags', () => {
  test('give the settings of alignment.slurm', () => {
    expect(flags('--mpi', '4', '--executor', 'slurm', '--slurm-partition', 'main', '--slurm-time', '30', '--slurm-mem', '8G',
      '--slurm-nodes', '2', '--slurm-ntasks-per-node', '2', '--slurm-cpus-per-task', '3', '--slurm-account', 'lab', '--slurm-qos', 'high',
      '--slurm-extra-args=--exclusive --constraint=avx2', '--slurm-extra-args=--comment=x', '--mca', 'btl=self')).toEqual({
      np: 4, mca: { btl: 'self' }, executor: 'slurm',
      slurm: { partition: 'main', account: 'lab', qos: 'high', time: '30', mem: '8G', nodes: 2, ntasksPerNode: 2, cpusPerTask: 3, extraArgs: ['--exclusive', '--constraint=avx2', '--comment=x'] },
    });
    expect(flags('--mpi', '2', '--executor', 'local')).toEqual({ np: 2 });
  });

  test('are checked before anything starts, naming the flag', () => {
    const refused: [string[], RegExp][] = [
      [['--executor', 'slurm'], /--executor needs --mpi P/],
      [['--mpi', '2', '--slurm-time', '5'], /--slurm-time needs --executor slurm/],
      [['--mpi', '2', '--executor', 'pbs'], /--executor must be one of local, slurm, got 'pbs'/],
      [['--mpi', '2', '--executor', 'slurm', '--slurm-time', 'soon'], /--slurm-time must be a time limit in sbatch's formats/],
      [['--mpi', '2', '--executor', 'slurm', '--slurm-nodes', '1.5'], /--slurm-nodes must be an integer/],
      [['--mpi', '2', '--executor', 'slurm', '--slurm-nodes', '3'], /--slurm-nodes asks for 3 nodes for 2 MPI ranks/],
      [['--mpi', '2', '--executor', 'slurm', '--slurm-extra-args=--output=x'], /--slurm-extra-args '--output=x' is not allowed here/],
      [['--mpi', '2', '--executor', 'slurm', '--hostfile', 'h'], /--hostfile is for mpirun on this host/],
      [['--mpi', '2', '--executor', 'slurm', '--slurm-partiton', 'p'], /unknown flag --slurm-partiton; did you mean --slurm-partition\?/],
    ];
    for (const [argv, message] of refused) expect(() => flags(...argv), argv.join(' ')).toThrow(message);
  });
});

describe('the batch script', () => {
  const spec = {
    name: 'subtomo.refine.abc', np: 4, dir: '/shared/camp aign/slurm/abc', command: ['/usr/bin/node', '--import', 'file:///x/tsx', '/x/mpi/alignRank.ts', '/shared/camp aign/slurm/abc/align-job.json'],
    env: { OMPI_MCA_btl_vader_single_copy_mechanism: 'none', OMPI_MCA_plm_rsh_args: "-i key -o 'x y'" },
    settings: { partition: 'main', time: '1:00:00', mem: '8G', nodes: 2, extraArgs: ['--exclusive'] },
  };

  test('sbatch options: the name, the rank count as tasks, output files in the job directory, then the settings', () => {
    expect(sbatchOptions(spec)).toEqual([
      '--job-name=subtomo.refine.abc', '--ntasks=4', '--output=/shared/camp aign/slurm/abc/slurm-%j.out', '--error=/shared/camp aign/slurm/abc/slurm-%j.err',
      '--chdir=/shared/camp aign/slurm/abc', '--partition=main', '--nodes=2', '--time=1:00:00', '--mem=8G', '--exclusive',
    ]);
    expect(slurmJobFiles(spec.dir, '42')).toEqual({
      script: '/shared/camp aign/slurm/abc/job.sbatch', out: '/shared/camp aign/slurm/abc/slurm-42.out', err: '/shared/camp aign/slurm/abc/slurm-42.err',
    });
  });

  test('srun starts the ranks with PMIx and labelled output, in an environment quoted for the shell', () => {
    const script = slurmBatchScript(spec);
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain("export OMPI_MCA_plm_rsh_args='-i key -o '\\''x y'\\'''\n");
    expect(script).toContain("exec srun --mpi=pmix --label --kill-on-bad-exit=1 --export=ALL /usr/bin/node --import file:///x/tsx /x/mpi/alignRank.ts '/shared/camp aign/slurm/abc/align-job.json'\n");
    expect(script).toContain("# Submitted with: sbatch --parsable --job-name=subtomo.refine.abc --ntasks=4 '--output=/shared/camp aign/slurm/abc/slurm-%j.out'");
  });
});
