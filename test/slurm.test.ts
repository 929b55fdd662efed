/**
 * The Slurm executor (docs/cluster.md) against a real single-node Slurm made on this machine by
 * test/helpers/slurm.sh — munged, MariaDB + slurmdbd (so sacct has records), slurmctld and slurmd, 2 CPUs:
 * an alignment through sbatch writes the bytes the local executor writes; a campaign cancel scancels the job;
 * a worker killed while its job is queued, and again while it runs, is replaced by one that re-attaches to the
 * same job (sacct counts one submission); a job that runs past its time limit fails its campaign with TIMEOUT,
 * not retried. Skipped, saying why, where the cluster cannot be started (not root, Slurm not installed).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MpiStepProgress } from '../activities/mpiStep.ts';
import { campaignRuns, decodePayload, startCampaign } from '../app/campaignClient.ts';
import { campaignTimeline } from '../app/campaignHistory.ts';
import { failureCause } from '../app/campaignWatch.ts';
import { groelPhantom } from '../core/phantom.ts';
import { radians } from '../core/rotate.ts';
import { densityModel } from '../core/simulate.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { type AlignTarget, alignJob, findCandidates, runAlignment } from '../drivers/align.ts';
import { writeSimulatedDataset } from '../drivers/simulate.ts';
import { readParticleStar } from '../io/particlestar.ts';
import { readVolume } from '../io/volumes.ts';
import type { SlurmJobRecord } from '../mpi/processRecords.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { TEST_HEARTBEAT, TINY_ALIGNMENT, computedOnce, startWorkers, storeTally, testQueues, tinyConfig } from './helpers/campaign.ts';
import { temporalAddress } from './temporal-env.ts';

// ERROR: expected failures (TIMEOUT, cancellation) would otherwise print WARN stack traces.
Runtime.install({ logger: new DefaultLogger('ERROR') });

const script = fileURLToPath(new URL('./helpers/slurm.sh', import.meta.url));
const workerMain = fileURLToPath(new URL('../workers/main.ts', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'subtomo-slurm-'));
// munged serves its socket only from directories every user can traverse (its clients may be anyone).
chmodSync(scratch, 0o755);
const clusterDir = join(scratch, 'cluster');

interface Cluster {
  partition: string;
  shortPartition: string;
}

/** Starts the test cluster and points this process (and the workers it starts) at it, or says why it cannot. */
function slurmCluster(): Cluster | string {
  if (process.getuid?.() !== 0) return 'a Slurm test cluster needs root (slurmd starts jobs as their owner)';
  const up = spawnSync(script, ['up', clusterDir], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin` } });
  if (up.status !== 0) return `cannot start Slurm here: ${up.stderr.trim().split('\n').slice(0, 3).join(' / ')}`;
  const v = Object.fromEntries(up.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  process.env.SLURM_CONF = v.SLURM_CONF;
  // The workers ask squeue every second instead of every 10 s: test jobs last seconds.
  process.env.SUBTOMO_SLURM_POLL_SECONDS = '1';
  return { partition: v.PARTITION, shortPartition: v.SHORT_PARTITION };
}

const cluster = slurmCluster();
const skip = typeof cluster === 'string' ? cluster : null;
if (skip) {
  console.warn(`[slurm.test] skipped: ${skip}`);
  rmSync(scratch, { recursive: true, force: true });
}

function slurm(command: string, ...args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8' }).trim();
}

/** sacct's record of a job: state (e.g. `CANCELLED by 0`) and exit code. */
function accounting(jobId: string): { state: string; exitCode: string } {
  const [state, exitCode] = slurm('sacct', '--noheader', '--parsable2', '--allocations', `--jobs=${jobId}`, '--format=State,ExitCode').split('|');
  return { state, exitCode };
}

/** Jobs submitted under `name` (sacct keeps every one, whatever became of it). */
function submissions(name: string): string[] {
  return slurm('sacct', '--noheader', '--parsable2', '--allocations', `--name=${name}`, '--starttime=2000-01-01', '--format=JobID')
    .split('\n').filter((l) => l !== '');
}

async function until<T>(what: string, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Slurm process records of a campaign's attempts (activities/mpiStep.ts): file name → record. */
function slurmRecords(workdir: string): Map<string, SlurmJobRecord> {
  const found = new Map<string, SlurmJobRecord>();
  const root = join(workdir, 'processes');
  for (const workflow of existsSync(root) ? readdirSync(root) : []) {
    for (const name of readdirSync(join(root, workflow))) {
      try {
        const record = JSON.parse(readFileSync(join(root, workflow, name), 'utf8')) as SlurmJobRecord;
        if (record.kind === 'slurm') found.set(name, record);
      } catch {
        // being written
      }
    }
  }
  return found;
}

/** Processes whose command line mentions `text` (a job's directory: its ranks name their job file there). */
function processesMentioning(text: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(text);
    } catch {
      return false;
    }
  }).map(Number);
}

/** A campaign's refine step as a job of several seconds on 2 ranks: unbinned 32³ (40 Å start), fixed SAG epochs. */
const SLOW_REFINE = { initialLowpass: 40 };
function slowAlignment(epochs: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...TINY_ALIGNMENT, sag: { maxEpochs: epochs, tolerance: 0 }, executor: 'slurm', ...extra };
}

describe.skipIf(skip !== null)(`slurm${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const c = cluster as Cluster;
  let env: TestWorkflowEnvironment;
  let client: Client;
  let bundle: WorkflowBundleWithSourceMap;

  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
    client = env.client;
    bundle = await bundleCampaignWorkflows();
  });
  afterAll(async () => {
    await env?.teardown();
    spawnSync(script, ['down', clusterDir]);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('an alignment through sbatch writes the poses of the local executor, bit for bit; run again after going away, it re-attaches', async () => {
    const data = join(scratch, 'data');
    execFileSync('mkdir', ['-p', data]);
    const config = {
      n: 24, voxelSize: 12, resolution: 30, tilt: symmetricTilt(60), tiltStep: radians(3), snr: 0.5, maxShift: 2, seed: 3,
      imaging: { ctf: null, mtf: false },
    };
    await writeSimulatedDataset(data, { config, count: 6, components: [{ label: 'phantom', source: 'phantom', model: densityModel(groelPhantom()), fraction: 1 }], weighting: 'atomic-number' });
    const star = await readParticleStar(join(data, 'particles.star'));
    const targets: AlignTarget[] = star.particles.map((p) => ({ name: p.imageName, path: p.path, tilt: p.tilt, reference: join(data, 'reference.mrc') }));
    const settings = { method: 'sag' as const, candidates: 3, bandwidth: 8, maxShift: 3, mask: { radius: 8, edge: 2 }, seed: 1 };
    const particles = await findCandidates(targets, settings, { reference: (p) => readVolume(p), particle: (t) => readVolume(t.path) });
    const job = (dir: string) => {
      execFileSync('mkdir', ['-p', dir]);
      return alignJob(particles, settings, { results: join(dir, 'aligned.json'), star: join(dir, 'aligned.star') });
    };
    const here = job(join(scratch, 'local'));
    await runAlignment(here, { mpi: { np: 2 }, boxSize: 24 });

    const viaSlurm = job(join(scratch, 'sbatch'));
    const mpi = { np: 2, executor: 'slurm' as const, slurm: { partition: c.partition, time: '5', mem: '1G' } };
    const statuses: string[] = [];
    // The first run goes away while its job runs, leaving the job (as a worker that shuts down does); the job is
    // suspended there, so that it is still there, unfinished, when the command runs again.
    const away = new AbortController();
    let jobId = '';
    const left = await runAlignment(viaSlurm, {
      mpi, boxSize: 24, signal: away.signal, leaveJobOnAbort: () => true,
      onProgress: (done, detail) => {
        statuses.push(detail);
        if (done > 0 && !away.signal.aborted) {
          jobId = /^slurm job (\d+)/.exec(detail)![1];
          slurm('scontrol', 'suspend', jobId);
          away.abort(new Error('going away'));
        }
      },
    }).catch((e: unknown) => e);
    expect(left).toMatchObject({ message: 'going away' });
    expect(slurm('squeue', '--noheader', `--jobs=${jobId}`, '--format=%T')).toBe('SUSPENDED');
    // The progress line said where the job was.
    expect(statuses.some((s) => /^slurm job \d+ RUNNING on \S+ \d+:\d\d:\d\d \(queued \d+:\d\d:\d\d\)/.test(s))).toBe(true);

    // Run again: the job of the same name (the same job file) is taken over and followed to its end.
    const logs: string[] = [];
    const outcome = await runAlignment(viaSlurm, {
      mpi, boxSize: 24,
      log: (message) => {
        logs.push(message);
        if (message.startsWith(`re-attached to slurm job ${jobId}`)) slurm('scontrol', 'resume', jobId);
      },
    });
    expect(logs[0]).toMatch(new RegExp(`^re-attached to slurm job ${jobId} \\(SUSPENDED\\) of subtomo\\.alignRank\\.[0-9a-f]{32}`));
    expect(readFileSync(viaSlurm.out, 'utf8')).toBe(readFileSync(here.out, 'utf8'));
    expect(readFileSync(viaSlurm.outStar!, 'utf8')).toBe(readFileSync(here.outStar!, 'utf8'));
    expect(outcome.ranks?.map((r) => r.pairs)).toEqual([9, 9]);
    const name = /of (subtomo\.alignRank\.[0-9a-f]{32})/.exec(logs[0])![1];
    expect(submissions(name)).toEqual([jobId]);
    expect(accounting(jobId)).toEqual({ state: 'COMPLETED', exitCode: '0:0' });
    // The command's job directory is gone once its job completed.
    expect(existsSync(join(scratch, 'sbatch', '.aligned.json.slurm'))).toBe(false);
  });

  it('cancelling a campaign scancels its running Slurm job and leaves no rank behind', async () => {
    const queues = testQueues('slurm-cancel');
    const workers = await startWorkers(env.nativeConnection, queues, bundle);
    try {
      const workdir = join(scratch, 'cancel');
      const config = tinyConfig(workdir, { ...SLOW_REFINE, maxIterations: 1, alignment: slowAlignment(2000) });
      const handle = await startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT });
      const [, record] = await until('the refine job', () => [...slurmRecords(workdir)].find(([name]) => name.startsWith('1.refine.')));
      await until('the job running', () => slurm('squeue', '--noheader', `--jobs=${record.jobId}`, '--format=%T') === 'RUNNING');
      await handle.cancel();
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      // The workflow waits for the activity's cancellation, which waits for scancel to have ended the job.
      expect(slurm('squeue', '--noheader', '--states=all', `--jobs=${record.jobId}`, '--format=%T')).toBe('CANCELLED');
      await until('the accounting record', () => /^CANCELLED by \d+$/.test(accounting(record.jobId).state), 15_000);
      expect(processesMentioning(join(workdir, 'slurm'))).toEqual([]);
      expect(slurmRecords(workdir).size).toBe(0);
      const timeline = campaignTimeline(await campaignRuns(client, handle.workflowId));
      expect(timeline.runs[0].outcome).toBe('cancelled');
    } finally {
      await workers.stop();
    }
  });

  it('a worker killed while its job is queued, and again while it runs, is followed by one that re-attaches: one submission', async () => {
    const queues = testQueues('slurm-reattach');
    const cpuWorkers = await startWorkers(env.nativeConnection, queues, bundle, ['cpu']);
    const children: ChildProcess[] = [];
    const startMpiWorker = (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ['--import', 'tsx', workerMain, '--queue', 'mpi', '--mpi-queue', queues.mpi, '--address', temporalAddress()], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      return new Promise((ready, fail) => {
        child.stdout!.on('data', (d: Buffer) => {
          if (d.toString().includes('worker ready')) ready(child);
        });
        child.once('exit', (code) => fail(new Error(`mpi worker exited with ${code}: ${stderr}`)));
      });
    };
    const kill = async (child: ChildProcess): Promise<void> => {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
    };
    // Another job holds both CPUs of the node: the campaign's refine job waits behind it (reason Resources).
    const blocker = slurm('sbatch', '--parsable', '--ntasks=2', '--job-name=blocker', `--output=${join(scratch, 'blocker.out')}`, '--wrap=sleep 600');
    try {
      let worker = await startMpiWorker();
      const workdir = join(scratch, 'reattach');
      const config = tinyConfig(workdir, { ...SLOW_REFINE, maxIterations: 1, alignment: slowAlignment(100) });
      const handle = await startCampaign(client, config, { queues, heartbeatTimeout: '3 seconds' });
      const refineRecord = (attempt: number) => slurmRecords(workdir).get(`1.refine.attempt-${attempt}.json`);
      const first = await until('the refine job', () => refineRecord(1));
      await until('the job waiting for resources', () => slurm('squeue', '--noheader', `--jobs=${first.jobId}`, '--format=%T %r') === 'PENDING Resources');
      // The heartbeat tells the queue wait.
      const heartbeat = await until('a heartbeat with the queue wait', async () => {
        const pending = (await handle.describe()).raw.pendingActivities?.find((a) => a.activityId === '1.refine');
        const details = decodePayload<MpiStepProgress>(pending?.heartbeatDetails?.payloads?.[0]);
        return details?.slurm?.reason === 'Resources' && details.slurm.queuedSeconds >= 1 && details;
      });
      expect(heartbeat.slurm).toMatchObject({ jobId: first.jobId, state: 'PENDING', reason: 'Resources', runSeconds: 0, adopted: false });
      expect(heartbeat.detail).toMatch(new RegExp(`^slurm job ${first.jobId} PENDING \\(Resources\\) queued 0:\\d\\d:\\d\\d$`));

      // Killed while queued: the next attempt re-attaches to the queued job.
      await kill(worker);
      worker = await startMpiWorker();
      const second = await until('the second attempt', () => refineRecord(2), 30_000);
      expect(second.jobId).toBe(first.jobId);
      await until('the record of the first attempt removed', () => !refineRecord(1), 10_000);
      slurm('scancel', blocker);

      // Killed while running: the third attempt re-attaches to the running job (or collects its outputs, had it
      // finished meanwhile): either way through the record, and without a second submission.
      const out = join(workdir, 'slurm');
      await until('rank progress', () => {
        for (const dir of existsSync(out) ? readdirSync(out) : []) {
          const log = join(out, dir, `slurm-${first.jobId}.out`);
          if (existsSync(log) && readFileSync(log, 'utf8').includes('PROGRESS')) return true;
        }
        return false;
      });
      await kill(worker);
      worker = await startMpiWorker();
      const result = await handle.result();
      expect(result.iterations.map((i) => i.iteration)).toEqual([0, 1]);

      expect(submissions(first.jobName)).toEqual([first.jobId]);
      expect(accounting(first.jobId)).toEqual({ state: 'COMPLETED', exitCode: '0:0' });
      // The MPI steps computed once (a cpu step may be retried too under a 3 s heartbeat timeout; it reuses its result).
      const tally = await storeTally(workdir);
      expect([tally.refine, tally['average-halves']]).toEqual([{ compute: 1, reuse: 0 }, { compute: 1, reuse: 0 }]);
      const computed = (t: Record<string, { compute: number }>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.compute]));
      expect(computed(tally)).toEqual(computed(computedOnce(1)));
      expect(slurmRecords(workdir).size).toBe(0);
      const steps = campaignTimeline(await campaignRuns(client, handle.workflowId)).steps;
      const refine = steps.find((s) => s.iteration === 1 && s.step === 'refine')!;
      expect(refine.attempt).toBe(3);
      expect(refine.retriedAfter).toMatch(/heartbeat/i);
    } finally {
      spawnSync('scancel', [blocker]);
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await cpuWorkers.stop();
    }
  });

  it('a job that runs past its time limit fails the campaign with TIMEOUT, without a retry, saying which setting to raise', async () => {
    const queues = testQueues('slurm-timeout');
    const workers = await startWorkers(env.nativeConnection, queues, bundle);
    try {
      const workdir = join(scratch, 'timeout');
      // One rank with far more SAG epochs than a minute allows: Slurm ends it at its 1-minute limit (checked every
      // 30 s by slurmctld, so after 60–90 s).
      const alignment = slowAlignment(20_000, { mpiRanks: 1, slurm: { partition: c.shortPartition, time: '1' } });
      const config = tinyConfig(workdir, { ...SLOW_REFINE, maxIterations: 1, alignment });
      const handle = await startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT });
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = await failureCause(client, handle.workflowId);
      expect(cause).toMatch(/^slurm job (\d+) \(subtomo\.refine\.[0-9a-f]{64}\) exceeded its time limit: TIMEOUT, ran 0:01:\d\d of its 00:01:00 limit/);
      expect(cause).toMatch(/raise the limit \(alignment\.slurm\.time or --slurm-time, now 1\)/);
      const jobId = /^slurm job (\d+)/.exec(cause)![1];
      expect(accounting(jobId).state).toBe('TIMEOUT');
      const steps = campaignTimeline(await campaignRuns(client, handle.workflowId)).steps;
      const refine = steps.find((s) => s.iteration === 1 && s.step === 'refine')!;
      expect(refine).toMatchObject({ outcome: 'failed', attempt: 1 });
      expect(refine.failure).toMatch(/TIMEOUT/);
    } finally {
      await workers.stop();
    }
  }, 240_000);
});
