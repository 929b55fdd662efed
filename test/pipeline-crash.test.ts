/**
 * kill -9 of the mpi worker while one branch of a pipeline refines on MPI ranks: the other branch goes on, the
 * killed step is retried on a restarted worker (which first ends the orphaned ranks), the pipeline completes,
 * and only that node's step ran twice — every other step of every node was computed exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startPipeline } from '../app/pipelineClient.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { startWorkers, storeTally, testQueues } from './helpers/campaign.ts';
import { activityAttempts, fiveNodeSpec, node, states, waitForPipeline } from './helpers/pipeline.ts';
import { temporalAddress } from './temporal-env.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const queues = testQueues('pipeline-crash');
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
  root = await mkdtemp(join(tmpdir(), 'subtomo-pipeline-crash-'));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cpuWorkers?.stop();
  await env?.teardown();
  if (root) await rm(root, { recursive: true, force: true });
});

test('a worker killed during one branch: only that node\'s step runs again, everything else once', async () => {
  let mpiWorker = await startMpiWorker();
  const workdir = join(root, 'work');
  // The lm branch refines unbinned at 32³ (a 40 Å reference) with 3 candidates: seconds of work, long enough
  // to be killed in the middle of.
  const spec = fiveNodeSpec(workdir, { name: 'crash', alignLm: { lowpass: 40, candidates: 3 } });
  const handle = await startPipeline(env.client, spec, { queues, heartbeatTimeout: '3 seconds' });
  await waitForPipeline(env.client, handle.workflowId, (s) => node(s, 'alignLm').step === 'refine');
  // The refine job of the lm branch has started its ranks (its process record is written when mpirun starts).
  const records = join(workdir, 'processes', handle.workflowId.replace(/[^A-Za-z0-9._-]/g, '_'));
  const deadline = Date.now() + 60_000;
  while (!(await readdir(records).catch(() => [] as string[])).includes('alignLm.refine.attempt-1.json')) {
    if (Date.now() > deadline) throw new Error('the lm refinement never started');
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 500));
  mpiWorker.kill('SIGKILL');
  await new Promise((r) => mpiWorker.once('exit', r));
  mpiWorker = await startMpiWorker();

  const result = await handle.result();
  expect(states(result)).toEqual({ data: 'done', alignSag: 'done', average: 'done', fsc: 'done', alignLm: 'done' });
  // Only the killed step ran twice.
  const attempts = await activityAttempts(env.client, handle.workflowId);
  expect(Object.entries(attempts).filter(([, n]) => n > 1)).toEqual([['alignLm.refine', 2]]);
  // Every step was computed once and none was needed again: the nodes done before the crash were not redone.
  const tally = await storeTally(workdir);
  for (const [label, counts] of Object.entries(tally)) expect(counts.reuse, label).toBe(0);
  expect(tally.refine).toEqual({ compute: 2, reuse: 0 });
  expect(tally['initial-references']).toEqual({ compute: 2, reuse: 0 });
  expect(node(result, 'alignLm').steps).toEqual({ reused: 0, computed: 3 });
});
