import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { MpiJobError, mpirunCommand, parseRankFailure, runMpiJob } from '../mpi/launcher.ts';
import { killRecordedJob } from '../mpi/processRecords.ts';
import { blockPartition } from '../mpi/partition.ts';
import { readProcess } from '../mpi/processes.ts';
import { TaggedOutputDemux } from '../mpi/taggedOutput.ts';

const selfTest = fileURLToPath(new URL('../mpi/rankSelfTest.ts', import.meta.url));
const launcherModule = fileURLToPath(new URL('../mpi/launcher.ts', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'subtomo-mpi-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Live (non-zombie) processes of a session, straight from ps. */
function psSession(sessionId: number): string[] {
  return execFileSync('ps', ['-eo', 'pid=,sid=,stat=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => Number(f[1]) === sessionId && !f[2]!.startsWith('Z'))
    .map((f) => f.join(' '));
}

function isAlive(pid: number): boolean {
  const info = readProcess(pid);
  return info !== null && info.state !== 'Z';
}

describe('mpirunCommand', () => {
  const REPO = fileURLToPath(new URL('..', import.meta.url));
  const base = { np: 2, entry: 'mpi/rankSelfTest.ts', args: ['sleep'], cwd: REPO };

  it('as root without hostfile: allow-run-as-root, oversubscribe, tagged output, env exported', () => {
    const cmd = mpirunCommand({ ...base, env: { SUBTOMO_FLAG: 'x' } }, { uid: 0, cores: 8 });
    expect(cmd.file).toBe('mpirun');
    expect(cmd.args.slice(0, 2)).toEqual(['-np', '2']);
    expect(cmd.args).toContain('--allow-run-as-root');
    expect(cmd.args).toContain('--oversubscribe');
    expect(cmd.args).toContain('--tag-output');
    expect(cmd.args).not.toContain('--hostfile');
    const exported = cmd.args.flatMap((a, i) => (a === '-x' ? [cmd.args[i + 1]] : []));
    expect(exported).toEqual(expect.arrayContaining(['PATH', 'OMPI_MCA_btl_vader_single_copy_mechanism', 'SUBTOMO_FLAG']));
    expect(cmd.env.OMPI_MCA_btl_vader_single_copy_mechanism).toBe('none');
    expect(cmd.env.SUBTOMO_FLAG).toBe('x');
    const program = cmd.args.slice(-5);
    expect(program[0]).toBe(process.execPath);
    expect(program[1]).toBe('--import');
    expect(existsSync(fileURLToPath(program[2]!))).toBe(true);
    expect(program.slice(3)).toEqual([resolve(REPO, 'mpi/rankSelfTest.ts'), 'sleep']);
  });

  it('as a user with a hostfile: no root flag, never oversubscribe (slot mistakes must show), no loopback limit', () => {
    const fits = mpirunCommand({ ...base, hostfile: 'hosts.txt' }, { uid: 1000, cores: 4 });
    expect(fits.args).not.toContain('--allow-run-as-root');
    expect(fits.args).not.toContain('--oversubscribe');
    expect(fits.args[fits.args.indexOf('--hostfile') + 1]).toBe(resolve(REPO, 'hosts.txt'));
    const crowded = mpirunCommand({ ...base, np: 5, hostfile: 'hosts.txt' }, { uid: 1000, cores: 4 });
    expect(crowded.args).not.toContain('--oversubscribe');
    expect(crowded.args).not.toContain('btl_tcp_if_include');
  });

  it('one host: MPI traffic on loopback only; --mca options and mpirun arguments are passed, user values win', () => {
    const mcaOf = (args: string[]) => Object.fromEntries(args.flatMap((a, i) => (a === '--mca' ? [[args[i + 1], args[i + 2]]] : [])));
    expect(mcaOf(mpirunCommand(base, { uid: 1000, cores: 4 }).args)).toEqual({ btl_tcp_if_include: 'lo', oob_tcp_if_include: 'lo' });
    const cmd = mpirunCommand({ ...base, mca: { btl_tcp_if_include: 'eth0', plm_rsh_args: '-p 2222' }, mpirunArgs: ['--map-by', 'node'] }, { uid: 1000, cores: 4 });
    expect(mcaOf(cmd.args)).toEqual({ btl_tcp_if_include: 'eth0', oob_tcp_if_include: 'lo', plm_rsh_args: '-p 2222' });
    expect(cmd.args.indexOf('--map-by')).toBeLessThan(cmd.args.indexOf(process.execPath));
  });

  it('rejects a non-positive rank count', () => {
    expect(() => mpirunCommand({ ...base, np: 0 })).toThrow(/rank count .* got 0/);
  });
});

describe('TaggedOutputDemux', () => {
  it('reassembles a long UTF-8 line cut into chunks that interleave with another rank', () => {
    const longLine = 'PROGRESS ' + 'é'.repeat(3000); // 6009 bytes
    const bytes = Buffer.from(longLine + '\n');
    const cut = 4094; // odd payload offset: splits a two-byte 'é'
    const stream = Buffer.concat([
      Buffer.from('[1,0]<stdout>:'), bytes.subarray(0, cut),
      Buffer.from('[1,1]<stdout>:short ✓\n'),
      Buffer.from('[1,0]<stdout>:'), bytes.subarray(cut),
      Buffer.from('mpirun: an own message\n[1,1]<stdout>:unterminated'),
    ]);
    const rankLines: [number, string][] = [];
    const launcherLines: string[] = [];
    const demux = new TaggedOutputDemux((r, l) => rankLines.push([r, l]), (l) => launcherLines.push(l));
    for (let i = 0; i < stream.length; i += 7) demux.push(stream.subarray(i, i + 7));
    demux.end();
    expect(rankLines).toEqual([[1, 'short ✓'], [0, longLine], [1, 'unterminated']]);
    expect(launcherLines).toEqual(['mpirun: an own message']);
  });
});

describe('parseRankFailure (OpenMPI 4.1.4 wording, captured from real runs)', () => {
  it('names the rank of a non-zero exit and of a signal', () => {
    const exited = 'mpirun detected that one or more processes exited with non-zero status, thus causing\n' +
      'the job to be terminated. The first process to do so was:\n\n  Process name: [[24262,1],1]\n  Exit code:    3\n';
    expect(parseRankFailure(exited)).toEqual({ rank: 1, exitCode: 3, signal: null });
    const killed = 'mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 (Killed).';
    expect(parseRankFailure(killed)).toEqual({ rank: 1, exitCode: null, signal: 9 });
    expect(parseRankFailure('There are not enough slots available')).toEqual({ rank: null, exitCode: null, signal: null });
  });
});

describe('blockPartition', () => {
  it('splits contiguously with sizes differing by at most one', () => {
    expect(blockPartition(11, 3)).toEqual({ counts: [4, 4, 3], offsets: [0, 4, 8] });
    expect(blockPartition(2, 4)).toEqual({ counts: [1, 1, 0, 0], offsets: [0, 1, 2, 2] });
    expect(() => blockPartition(5, 0)).toThrow(/0 ranks/);
  });
});

describe('runMpiJob with real mpirun (np 2)', () => {
  it('collectives give the expected sums and gathers; long progress lines arrive intact', async () => {
    const progress: { rank: number; value: Record<string, unknown> }[] = [];
    const job = await runMpiJob({
      np: 2,
      entry: selfTest,
      args: ['progress-bytes=20000'],
      onProgress: (rank, value) => progress.push({ rank, value: value as Record<string, unknown> }),
    });
    const result = job.result as { ok: boolean; size: number; checks: string[]; failures: unknown[];
      allreduce64CubedFloat32Ms: number; rankStartupMs: number[] };
    expect(result.failures).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.size).toBe(2);
    expect(result.checks).toHaveLength(11);
    for (const rank of [0, 1]) {
      const payload = progress.find((p) => p.rank === rank && p.value.phase === 'payload')!.value;
      expect((payload.payload as string).length).toBe(20000);
      expect(createHash('sha256').update(payload.payload as string).digest('hex')).toBe(payload.sha256);
      expect(progress.some((p) => p.rank === rank && p.value.phase === 'checked' && p.value.failures === 0)).toBe(true);
    }
    expect(job.stdoutTail).toMatch(/^\[0\] RESULT \{"ok":true/m);
    console.log(`self-test np 2: ${job.durationMs.toFixed(0)} ms wall, rank start-up ${result.rankStartupMs
      .map((t) => t.toFixed(0)).join('/')} ms, Allreduce 64³ float32 ${result.allreduce64CubedFloat32Ms.toFixed(3)} ms`);
  });

  it('a failing rank rejects with that rank, its exit code and its stderr', async () => {
    const started = performance.now();
    const error = await runMpiJob({ np: 2, entry: selfTest, args: ['fail-rank=1'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MpiJobError);
    const failure = error as MpiJobError;
    expect(failure.rank).toBe(1);
    expect(failure.exitCode).toBe(3);
    expect(failure.stderrTail).toContain('rank 1: deliberate failure requested by fail-rank=1');
    expect(failure.message).toMatch(/rank 1 exited with code 3; its stderr ends with:\n.*deliberate failure/);
    console.log(`failing rank reported after ${(performance.now() - started).toFixed(0)} ms`);
  });

  it('aborting a sleeping job kills every rank and leaves no process of its session', async () => {
    const controller = new AbortController();
    const ranks = new Map<number, { pid: number; sessionId: number }>();
    const record = join(scratch, 'abort', 'job.json');
    let abortedAt = 0;
    let recordedPid = 0;
    const job = runMpiJob({
      np: 2,
      entry: selfTest,
      args: ['sleep'],
      record,
      signal: controller.signal,
      killGraceMs: 3_000,
      onProgress: (rank, value) => {
        const v = value as { phase: string; pid: number };
        if (v.phase !== 'sleeping') return;
        ranks.set(rank, { pid: v.pid, sessionId: readProcess(v.pid)!.sessionId });
        if (ranks.size === 2) {
          recordedPid = (JSON.parse(readFileSync(record, 'utf8')) as { pid: number }).pid;
          abortedAt = performance.now();
          controller.abort();
        }
      },
    });
    await expect(job).rejects.toMatchObject({ name: 'AbortError' });
    const stopMs = performance.now() - abortedAt;
    const [rank0, rank1] = [ranks.get(0)!, ranks.get(1)!];
    expect(rank0.sessionId).toBe(rank1.sessionId);
    expect(recordedPid).toBe(rank0.sessionId); // the record names mpirun, leader of the ranks' session
    expect(isAlive(rank0.pid) || isAlive(rank1.pid)).toBe(false);
    expect(psSession(rank0.sessionId)).toEqual([]);
    expect(existsSync(record)).toBe(false);
    console.log(`abort → all ranks gone in ${stopMs.toFixed(0)} ms`);
  });

  it('an exception in a progress callback stops the job and becomes its error', async () => {
    let sessionId = 0;
    const job = runMpiJob({
      np: 2,
      entry: selfTest,
      args: ['sleep'],
      onProgress: (_rank, value) => {
        const v = value as { phase: string; pid: number };
        if (v.phase !== 'sleeping') return;
        sessionId = readProcess(v.pid)!.sessionId;
        throw new Error('heartbeat failed');
      },
    });
    await expect(job).rejects.toThrow('heartbeat failed');
    expect(sessionId).toBeGreaterThan(0);
    expect(psSession(sessionId)).toEqual([]);
  });

  it('killRecordedJob ends the job of a launcher that crashed', async () => {
    const record = join(scratch, 'crash', 'job.json');
    // A launcher process that is SIGKILLed while its job runs, as a Temporal worker can be.
    const script = `import { runMpiJob } from ${JSON.stringify(launcherModule)};
      let sleeping = 0;
      await runMpiJob({ np: 2, entry: ${JSON.stringify(selfTest)}, args: ['sleep'], record: ${JSON.stringify(record)},
        onProgress: (rank, v) => { if (v.phase === 'sleeping' && ++sleeping === 2) console.log('READY'); } });`;
    const launcher = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((ready, fail) => {
      launcher.stdout.on('data', (d: Buffer) => { if (d.toString().includes('READY')) ready(); });
      launcher.once('exit', (code) => fail(new Error(`launcher exited early with code ${code}`)));
    });
    const { pid: sessionId } = JSON.parse(readFileSync(record, 'utf8')) as { pid: number };
    launcher.kill('SIGKILL');
    await new Promise((r) => launcher.once('exit', r));
    const leftover = psSession(sessionId);
    expect(leftover.length).toBeGreaterThanOrEqual(3); // mpirun and two ranks survive their launcher
    const started = performance.now();
    expect(await killRecordedJob(record)).toEqual({ killed: leftover.length });
    expect(psSession(sessionId)).toEqual([]);
    expect(existsSync(record)).toBe(false);
    expect(await killRecordedJob(record)).toEqual({ killed: 0 });
    console.log(`stale job (${leftover.length} processes) killed in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it('names a missing rank program', async () => {
    await expect(runMpiJob({ np: 2, entry: 'mpi/noSuchProgram.ts', cwd: scratch }))
      .rejects.toThrow(`MPI rank program ${join(scratch, 'mpi/noSuchProgram.ts')} does not exist`);
  });
});
