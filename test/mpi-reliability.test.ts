/**
 * Reliability of MPI jobs (issue "Reliability and security"): process records that are only acted on when
 * they can be trusted, the start-up and progress watchdog, and the checks made before a job starts.
 * Real mpirun, real processes.
 */
import { spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { MpiStallError, runMpiJob } from '../mpi/launcher.ts';
import { PreflightError, parseHostfile, preflight, rankMemoryBytes } from '../mpi/preflight.ts';
import { killRecordedJob, writeProcessRecord } from '../mpi/processRecords.ts';
import { readProcess } from '../mpi/processes.ts';

const selfTest = fileURLToPath(new URL('../mpi/rankSelfTest.ts', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'subtomo-mpi-rel-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A long-running process that is not ours to kill, and a way to tell whether it survived. */
function bystander(): { pid: number; alive: () => boolean; stop: () => void } {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  const pid = child.pid!;
  const start = readProcess(pid)!.startTime;
  return { pid, alive: () => readProcess(pid)?.startTime === start, stop: () => child.kill('SIGKILL') };
}

describe('process records are trusted only as far as they can be checked', () => {
  it('a forged record never makes the worker kill an unrelated process', async () => {
    const victim = bystander();
    try {
      const start = readProcess(victim.pid)!.startTime;
      const base = { host: hostname(), pid: victim.pid, startTime: start, np: 1, startedAt: new Date().toISOString() };
      // Names the victim's own command line: not one of subtomo's rank programs.
      const notOurs = join(scratch, 'forged-command.json');
      await writeProcessRecord(notOurs, { ...base, command: ['sleep', '300'] });
      expect((await killRecordedJob(notOurs)).refused).toMatch(/names sleep, not a subtomo rank program/);
      // Names a rank program, but the victim's command line does not end with it: nothing matches.
      const wrongTail = join(scratch, 'forged-tail.json');
      await writeProcessRecord(wrongTail, { ...base, command: [selfTest, 'sleep'] });
      expect(await killRecordedJob(wrongTail)).toEqual({ killed: 0 });
      // Written by another user: refused before anything is read.
      if (process.getuid?.() === 0) {
        const foreign = join(scratch, 'foreign.json');
        await writeProcessRecord(foreign, { ...base, command: [selfTest, 'sleep'] });
        chownSync(foreign, 1, 1);
        expect((await killRecordedJob(foreign)).refused).toMatch(/owned by uid 1, not by this process's user \(0\)/);
      }
      // Another host's job cannot be signalled from here.
      const remote = join(scratch, 'remote.json');
      await writeProcessRecord(remote, { ...base, host: 'elsewhere', command: [selfTest, 'sleep'] });
      expect((await killRecordedJob(remote)).refused).toMatch(/ran on elsewhere/);
      expect(victim.alive()).toBe(true);
    } finally {
      victim.stop();
    }
  });
});

describe('watchdog', () => {
  it('a rank that stops reporting progress ends the job with an error naming the rank and its host', async () => {
    const began = Date.now();
    const error = await runMpiJob({ np: 2, entry: selfTest, args: ['sleep'], stallTimeoutMs: 1_500, killGraceMs: 1_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MpiStallError);
    expect((error as MpiStallError).message).toMatch(new RegExp(`no progress from rank 0 \\(${hostname()}\\), rank 1 \\(${hostname()}\\) for 1\\.5 s`));
    expect((error as MpiStallError).hosts).toEqual([hostname()]);
    expect(Date.now() - began).toBeLessThan(15_000);
  });

  it('ranks that do not start in time end the job, naming the ranks', async () => {
    const error = await runMpiJob({ np: 2, entry: selfTest, args: ['sleep'], readyTimeoutMs: 100, killGraceMs: 1_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MpiStallError);
    expect((error as Error).message).toMatch(/rank 0 \(host unknown\), rank 1 \(host unknown\) did not start within 0\.1 s/);
  });
});

describe('preflight', () => {
  let silent: Server | null = null;
  afterAll(() => silent?.close());

  it('hostfiles: hosts and slots are read, other fields are refused', () => {
    expect(parseHostfile('# cluster\nnode1 slots=4\nnode2 max_slots=8  # spare\n\n', 'h')).toEqual([{ host: 'node1', slots: 4 }, { host: 'node2' }]);
    expect(() => parseHostfile('node1 cpus=4\n', 'hosts')).toThrow("hosts:1: 'cpus=4' is not slots=N or max_slots=N");
  });

  it('refuses more ranks than the hostfile has slots, or a memory need beyond this machine', async () => {
    const hostfile = join(scratch, 'two-slots');
    writeFileSync(hostfile, 'localhost slots=2\n');
    await expect(preflight({ np: 3, hostfile, boxSize: 64 })).rejects.toThrow(`3 MPI ranks but the hostfile ${hostfile} has 2 slots`);
    const box = Math.ceil(Math.cbrt(totalmem() / 160));
    expect(rankMemoryBytes(box)).toBeGreaterThan(totalmem());
    await expect(preflight({ np: 1, boxSize: box })).rejects.toMatchObject({ kind: 'memory' });
    await expect(preflight({ np: 1000, boxSize: 64 })).rejects.toMatchObject({ kind: 'ranks' });
    await expect(preflight({ np: 2, hostfile, boxSize: 64 })).resolves.toBeUndefined();
  });

  it('names a host that accepts TCP but never answers ssh, within the timeout', async () => {
    silent = createServer(() => undefined); // accepts, never speaks
    await new Promise<void>((r) => silent!.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const hostfile = join(scratch, 'silent-host');
    writeFileSync(hostfile, 'localhost slots=1\nsilent-node slots=1\n');
    const began = Date.now();
    const error = await preflight({
      np: 2, hostfile, boxSize: 32, sshTimeoutSeconds: 2, mca: { plm_rsh_args: `-o HostName=127.0.0.1 -p ${port} -o StrictHostKeyChecking=no` },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightError);
    expect((error as PreflightError).kind).toBe('hosts');
    expect((error as Error).message).toMatch(/do not answer ssh without a password: silent-node \(/);
    expect(Date.now() - began).toBeLessThan(10_000);
  });
});

