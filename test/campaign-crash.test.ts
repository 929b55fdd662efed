/**
 * kill -9 of the mpi worker in the middle of the MPI refinement: the orphaned mpirun ranks are killed by the
 * retried attempt on a restarted worker, the campaign completes, and every step of every iteration was
 * computed exactly once with no torn or duplicate artifacts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { campaignRuns, startCampaign } from '../app/campaignClient.ts';
import { campaignTimeline } from '../app/campaignHistory.ts';
import { sessionMembers } from '../mpi/processes.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { ITERATION_STEPS, SETUP_STEPS } from '../workflows/campaign.ts';
import { checkStoreIntegrity, computedOnce, startWorkers, storeSteps, storeTally, testQueues, tinyConfig, waitForStatus } from './helpers/campaign.ts';
import { temporalAddress } from './temporal-env.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const queues = testQueues('crash');
const workerMain = fileURLToPath(new URL('../workers/main.ts', import.meta.url));
let env: TestWorkflowEnvironment;
let cpuWorkers: { stop: () => Promise<void> };
let root: string;
const children: ChildProcess[] = [];

/** The mpi worker as a child process (so it can be SIGKILLed); resolves once it polls its queue. */
function startMpiWorker(): Promise<ChildProcess> {
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
}

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  cpuWorkers = await startWorkers(env.nativeConnection, queues, await bundleCampaignWorkflows(), ['cpu']);
  root = await mkdtemp(join(tmpdir(), 'subtomo-crash-'));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cpuWorkers?.stop();
  await env?.teardown();
  if (root) await rm(root, { recursive: true, force: true });
});

/** MPI process records of the campaign's attempts (activities/mpiStep.ts): [path, recorded mpirun pid]. */
async function pidfiles(workdir: string): Promise<[string, number][]> {
  const found: [string, number][] = [];
  const root = join(workdir, 'processes');
  for (const workflow of await readdir(root).catch(() => [] as string[])) {
    for (const name of await readdir(join(root, workflow)).catch(() => [] as string[])) {
      if (!name.endsWith('.json')) continue;
      const text = await readFile(join(root, workflow, name), 'utf8').catch(() => null);
      if (text) found.push([join(root, workflow, name), (JSON.parse(text) as { pid: number }).pid]);
    }
  }
  return found;
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('kill -9 of the worker during refine: ranks killed, the step retried once, every iteration computed exactly once', async () => {
  let mpiWorker = await startMpiWorker();
  const workdir = join(root, 'campaign');
  // The orphaned ranks must still be refining when the crash has been detected (3 s heartbeat timeout) and the
  // retried attempt starts: more FRM candidates than elsewhere (72 pairs), and a 40 Å first reference so that
  // iteration 1 refines unbinned at 32³ (a 60 Å reference would let it run binned at 16³, in about a second).
  const config = tinyConfig(workdir, {
    maxIterations: 2,
    initialLowpass: 40,
    alignment: { bandwidth: 8, candidates: 6, maxShift: 3, mpiRanks: 2 },
  });
  const handle = await startCampaign(env.client, config, { queues, heartbeatTimeout: '3 seconds' });
  await waitForStatus(env.client, handle.workflowId, (s) => s.iteration === 1 && s.step === 'refine');
  const [[pidfile, orphanSession]] = await until('mpirun of the refine step', () => pidfiles(workdir).then((f) => f.length > 0 && f));
  // mpirun and both ranks are up; give the ranks a moment to start refining pairs.
  await until('the ranks', async () => sessionMembers(orphanSession).length >= 3);
  await new Promise((r) => setTimeout(r, 1000));

  mpiWorker.kill('SIGKILL');
  await new Promise((r) => mpiWorker.once('exit', r));
  const workerDied = Date.now();
  // mpirun and its ranks outlive the worker; note when they were last seen running.
  let orphansLastAlive = 0;
  const watcher = setInterval(() => {
    if (sessionMembers(orphanSession).length > 0) orphansLastAlive = Date.now();
  }, 25);
  mpiWorker = await startMpiWorker();
  const retrySession = await until('the retried MPI job', async () => {
    // The retry records its job in a record of its own (attempt 2), never in the dead attempt's.
    const files = await pidfiles(workdir);
    const mine = files.find(([f, pid]) => f !== pidfile && f.endsWith('1.refine.attempt-2.json') && pid !== orphanSession);
    return mine?.[1];
  });
  const retryStarted = Date.now();
  clearInterval(watcher);
  // The orphans outlived the worker (checked from the watcher: a slow worker start-up under load may let the
  // new worker take the retry, and kill them, before it reports ready) …
  expect(orphansLastAlive).toBeGreaterThan(workerDied);
  // … and the retried attempt killed them just before it launched its own job (they had seconds of work left).
  expect(sessionMembers(orphanSession)).toEqual([]);
  expect(retryStarted - orphansLastAlive).toBeLessThan(2_000);
  expect(retrySession).not.toBe(orphanSession);

  const result = await handle.result();
  expect(result.iterations.map((i) => i.iteration)).toEqual([0, 1, 2]);
  expect(result.steps).toEqual({ reused: 0, computed: SETUP_STEPS.length + 2 * ITERATION_STEPS.length });
  expect(await storeTally(workdir)).toEqual(computedOnce(2));
  expect(await checkStoreIntegrity(workdir)).toBe(storeSteps(2));
  expect(await pidfiles(workdir)).toEqual([]);

  const steps = campaignTimeline(await campaignRuns(env.client, handle.workflowId)).steps;
  const retried = steps.filter((s) => s.attempt > 1);
  expect(retried.map((s) => [s.iteration, s.step, s.attempt])).toEqual([[1, 'refine', 2]]);
  expect(retried[0].retriedAfter).toMatch(/heartbeat/i);
});
