/**
 * How the Slurm executor reads a job: `srun --label` output split back into per-rank lines (also lines longer
 * than Slurm's 1024-byte I/O messages, cut inside UTF-8 characters), the failing rank from srun's report, and
 * what each final job state means (mpi/slurmStates.ts), and which process records naming a job are trusted.
 */
import { createHash } from 'node:crypto';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { LabeledOutputDemux } from '../mpi/labeledOutput.ts';
import { readSlurmRecord, writeProcessRecord } from '../mpi/processRecords.ts';
import type { SlurmJobInfo } from '../mpi/slurmCommands.ts';
import { clock, jobFailure, srunRankFailure } from '../mpi/slurmStates.ts';

/** Output as srun --label writes a task's line: 1024-byte pieces, each labelled and ended by a newline. */
function labelled(rank: number, line: string, width = 1): Buffer {
  const bytes = Buffer.from(`${line}\n`, 'utf8');
  const pieces: Buffer[] = [];
  const label = Buffer.from(`${String(rank).padStart(width, '0')}: `);
  for (let at = 0; at < bytes.length; at += 1024) {
    const piece = bytes.subarray(at, Math.min(at + 1024, bytes.length));
    pieces.push(label, piece);
    if (piece[piece.length - 1] !== 0x0a) pieces.push(Buffer.from('\n'));
  }
  return Buffer.concat(pieces);
}

function demux(chunks: Buffer[], chunkBytes = 7): { ranks: [number, string][]; launcher: string[] } {
  const ranks: [number, string][] = [];
  const launcher: string[] = [];
  const d = new LabeledOutputDemux((rank, line) => ranks.push([rank, line]), (line) => launcher.push(line));
  const all = Buffer.concat(chunks);
  for (let at = 0; at < all.length; at += chunkBytes) d.push(all.subarray(at, at + chunkBytes));
  d.end();
  return { ranks, launcher };
}

describe('srun --label output', () => {
  test('long lines come back whole, interleaved ranks apart, multi-byte characters intact', () => {
    const long = `PROGRESS ${'Å-µ-✓-'.repeat(700)}`;
    const exact = 'x'.repeat(1024);
    const a = labelled(0, long);
    const b = labelled(1, long.toLowerCase(), 2);
    // Pieces of rank 1 between those of rank 0, as srun forwards them.
    const cut = a.indexOf('\n') + 1;
    const out = demux([a.subarray(0, cut), b, a.subarray(cut), labelled(0, exact), labelled(1, 'short'), Buffer.from('srun: error: node1: task 1: Exited with exit code 3\n')]);
    expect(out.ranks.map(([r, l]) => [r, createHash('sha256').update(l).digest('hex')])).toEqual([
      [1, createHash('sha256').update(long.toLowerCase()).digest('hex')],
      [0, createHash('sha256').update(long).digest('hex')],
      [0, createHash('sha256').update(exact).digest('hex')],
      [1, createHash('sha256').update('short').digest('hex')],
    ]);
    expect(out.launcher).toEqual(['srun: error: node1: task 1: Exited with exit code 3']);
  });

  test("srun's report names the rank that failed, not the ones it then terminated", () => {
    const report = [
      'srun: error: node1: task 1: Exited with exit code 3',
      'srun: launch/slurm: _step_signal: Terminating StepId=1.0',
      'srun: error: node1: task 0: Terminated',
    ].join('\n');
    expect(srunRankFailure(report)).toEqual({ rank: 1, exitCode: 3, how: 'exited with code 3' });
    expect(srunRankFailure('srun: error: node2: task 5: Segmentation fault (core dumped)\nsrun: error: node1: task 0: Terminated'))
      .toEqual({ rank: 5, exitCode: null, how: 'ended: Segmentation fault (core dumped)' });
    expect(srunRankFailure('srun: error: Couldn\'t find the specified plugin name for mpi/pmix')).toBeNull();
  });
});

describe('final job states', () => {
  const info = (state: string, extra: Partial<SlurmJobInfo> = {}): SlurmJobInfo => ({
    id: '42', name: 'subtomo.refine.abc', user: 'me', state, stateText: state, reason: 'None', nodes: 'node1',
    submit: new Date(2026, 0, 1, 10, 0, 0), start: new Date(2026, 0, 1, 10, 0, 5), end: new Date(2026, 0, 1, 10, 1, 7),
    timeLimit: '00:01:00', exitCode: '0:0', source: 'sacct', ...extra,
  });
  const ctx = { settings: { time: '1', mem: '2G', ntasksPerNode: 4 }, np: 8, boxSize: 64, launcherLines: 'slurmstepd: error: *** JOB 42 ON node1 CANCELLED AT 2026-01-01T10:01:07 DUE TO TIME LIMIT ***', dir: '/w/slurm/abc' };

  test('TIMEOUT and OUT_OF_MEMORY are not retried: the message names the setting to raise', () => {
    const timeout = jobFailure(info('TIMEOUT'), ctx);
    expect(timeout).toMatchObject({ retryable: false, fix: 'time', state: 'TIMEOUT' });
    expect(timeout.message).toMatch(/^slurm job 42 \(subtomo\.refine\.abc\) exceeded its time limit: TIMEOUT, ran 0:01:02 of its 00:01:00 limit on node1\./);
    expect(timeout.message).toMatch(/raise the limit \(alignment\.slurm\.time or --slurm-time, now 1\)/);
    expect(timeout.message).toMatch(/DUE TO TIME LIMIT/);
    const oom = jobFailure(info('OUT_OF_MEMORY', { exitCode: '0:125' }), ctx);
    expect(oom).toMatchObject({ retryable: false, fix: 'mem' });
    expect(oom.message).toMatch(/ran out of memory: OUT_OF_MEMORY, .*exit code 0:125\. .*alignment\.slurm\.mem or --slurm-mem, now 2G\) \(each rank needs about 0\.2 GiB for 64³ volumes, 0\.9 GiB for the 4 ranks of a node\)/);
  });

  test('node and scheduler failures are retried; a cancellation by someone else is not', () => {
    for (const state of ['NODE_FAIL', 'BOOT_FAIL', 'PREEMPTED', 'FAILED']) expect(jobFailure(info(state), ctx).retryable, state).toBe(true);
    const cancelled = jobFailure(info('CANCELLED', { stateText: 'CANCELLED by 1000' }), ctx);
    expect(cancelled).toMatchObject({ retryable: false, fix: 'cancelled' });
    expect(cancelled.message).toMatch(/was cancelled outside subtomo \(CANCELLED by 1000, .*\); it is not resubmitted/);
    expect(jobFailure(info('DEADLINE'), ctx)).toMatchObject({ retryable: false, fix: 'deadline' });
  });

  test('times print as Slurm prints them', () => {
    expect([0, 62, 3600, 90061].map(clock)).toEqual(['0:00:00', '0:01:02', '1:00:00', '1-01:01:01']);
  });
});

describe('Slurm process records', () => {
  const dir = mkdtempSync(join(tmpdir(), 'subtomo-slurm-records-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const base = { kind: 'slurm' as const, jobId: '42', jobName: 'subtomo.refine.abc', user: userInfo().username, host: hostname(), submittedAt: new Date().toISOString() };

  test("are trusted only when they are this user's files naming this user's subtomo jobs", async () => {
    const ours = join(dir, 'ours.json');
    await writeProcessRecord(ours, base);
    expect(readSlurmRecord(ours)).toEqual({ record: base });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ jobName: 'someone-elses-job' }, /names Slurm job "someone-elses-job", not a subtomo job/],
      [{ user: 'mallory' }, new RegExp(`names a job of user mallory, not of ${userInfo().username}`)],
      [{ jobId: '42; rm -rf /' }, /Slurm job id "42; rm -rf \/"/],
    ];
    for (const [change, message] of cases) {
      const path = join(dir, 'forged.json');
      writeFileSync(path, JSON.stringify({ ...base, ...change }));
      expect((readSlurmRecord(path) as { refused: string }).refused).toMatch(message);
    }
    if (process.getuid?.() === 0) {
      const foreign = join(dir, 'foreign.json');
      await writeProcessRecord(foreign, base);
      chownSync(foreign, 1, 1);
      expect((readSlurmRecord(foreign) as { refused: string }).refused).toMatch(/owned by uid 1/);
    }
    // An mpirun job's record, or none at all, is not a Slurm job's.
    expect(readSlurmRecord(join(dir, 'missing.json'))).toBeNull();
  });
});
