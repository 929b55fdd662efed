/**
 * Campaign reliability against the real dev server, in-process workers and mpirun -np 2 (issue "Reliability
 * and security"): stored results changed behind the store's back, campaigns sharing a workdir, workflow ids of
 * completed campaigns, a constant particle, and a cluster host that never answers.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { campaignRuns, resumeCampaign, startCampaign } from '../app/campaignClient.ts';
import { campaignTimeline } from '../app/campaignHistory.ts';
import { runCli } from '../cli/run.ts';
import { Volume } from '../core/volume.ts';
import { ArtifactStore } from '../io/artifacts.ts';
import { writeMrc } from '../io/mrc.ts';
import type { CampaignConfig } from '../model/campaign.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import type { CampaignResult } from '../workflows/campaign.ts';
import { TEST_HEARTBEAT, startWorkers, storeTally, testQueues, tinyConfig, waitForStatus } from './helpers/campaign.ts';
import { temporalAddress } from './temporal-env.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const queues = testQueues('reliability');
let env: TestWorkflowEnvironment;
let client: Client;
let workers: { stop: () => Promise<void> };
let root: string;
/** The clean one-iteration run every other test compares with. */
let clean: { config: CampaignConfig; workflowId: string; result: CampaignResult };

const run = async (config: CampaignConfig, workflowId?: string) => {
  const handle = await startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT, workflowId });
  return { workflowId: handle.workflowId, result: await handle.result() };
};

async function failure(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let cause: unknown = (err as WorkflowFailedError).cause;
  while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as Error).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

/** Changes bytes of a file in place, keeping its size and restoring its mtime to the nanosecond: only the content says so. */
async function corruptKeepingMtime(path: string, at: number, replacement: string): Promise<void> {
  const stamp = `${path}.stamp`;
  execFileSync('touch', ['-r', path, stamp]);
  const before = await stat(path, { bigint: true });
  const bytes = await readFile(path);
  bytes.write(replacement, at, 'latin1');
  await writeFile(path, bytes);
  execFileSync('touch', ['-r', stamp, path]);
  await rm(stamp);
  const after = await stat(path, { bigint: true });
  expect([after.size, after.mtimeNs]).toEqual([before.size, before.mtimeNs]);
}

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  client = env.client;
  workers = await startWorkers(env.nativeConnection, queues, await bundleCampaignWorkflows());
  root = await mkdtemp(join(tmpdir(), 'subtomo-reliability-'));
  const config = tinyConfig(join(root, 'clean'), { maxIterations: 1 });
  clean = { config, ...(await run(config)) };
});

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('stored results that changed', () => {
  test('a half map overwritten in place (size and mtime kept) in this live worker is recomputed by the next campaign, named in the reuse log, with identical results', async () => {
    const odd = clean.result.artifacts.averages!.odd.path;
    // This worker process hashed the file when it stored it: only the content can tell.
    await corruptKeepingMtime(odd, 2000, 'XXXX');
    const again = await run(clean.config);
    // Only the half averages: recomputed byte for byte, so every later step's key is unchanged and reused.
    expect(again.result.steps.computed).toBe(1);
    const events = await new ArtifactStore(clean.config.workdir).events();
    const invalid = events.filter((e) => e.event === 'invalid');
    expect(invalid).toHaveLength(1);
    expect(invalid[0].reason).toContain(odd);
    expect(again.result.artifacts.averages!.odd.sha256).toBe(clean.result.artifacts.averages!.odd.sha256);
    expect(again.result.iterations.map((i) => i.resolution0143)).toEqual(clean.result.iterations.map((i) => i.resolution0143));
  });

  test('an input changed while a campaign runs fails the step that reads it, naming the file; resume recomputes it and ends as a clean run', async () => {
    const config = tinyConfig(join(root, 'mid-run'), { maxIterations: 1 });
    // No mpi worker at first: the campaign waits at its refine step, after the particle set was written and read.
    const midQueues = testQueues('mid-run');
    const bundle = await bundleCampaignWorkflows();
    const cpu = await startWorkers(env.nativeConnection, midQueues, bundle, ['cpu']);
    const handle = await startCampaign(client, config, { queues: midQueues, heartbeatTimeout: TEST_HEARTBEAT });
    const status = await waitForStatus(client, handle.workflowId, (s) => s.iteration === 1 && s.step === 'refine');
    const halves = status.artifacts.halves!.path;
    const text = await readFile(halves, 'utf8');
    const at = text.indexOf('"sha256": "') + '"sha256": "'.length;
    await corruptKeepingMtime(halves, at, text[at] === 'a' ? 'b' : 'a');
    const mpi = await startWorkers(env.nativeConnection, midQueues, bundle, ['mpi']);
    const f = await failure(handle.result());
    expect(f).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect(f.message).toContain(`artifact ${halves} changed since it was recorded`);
    expect(f.message).toContain('will be recomputed when the campaign is resumed');

    const { handle: resumed } = await resumeCampaign(client, handle.workflowId);
    const result = await resumed.result();
    expect(result.iterations.map((i) => i.resolution0143)).toEqual(clean.result.iterations.map((i) => i.resolution0143));
    await Promise.all([cpu.stop(), mpi.stop()]);
    const tally = await storeTally(config.workdir);
    expect(tally.split).toEqual({ compute: 2, reuse: 0 }); // the corrupted particle set, once more
  });
});

test('two campaigns with the same steps on one workdir at once: no job killed, each step computed once', async () => {
  const config = tinyConfig(join(root, 'shared'), { maxIterations: 1 });
  const [a, b] = await Promise.all([run(config), run(config)]);
  expect(a.result.iterations.map((i) => i.resolution0143)).toEqual(clean.result.iterations.map((i) => i.resolution0143));
  expect(b.result.iterations).toEqual(a.result.iterations.map((i) => ({ ...i, reusedSteps: expect.any(Number), computedSteps: expect.any(Number) })));
  const tally = await storeTally(config.workdir);
  for (const [label, t] of Object.entries(tally)) expect(t.compute, label).toBe(label === 'fsc' ? 2 : 1);
  expect(a.result.steps.computed + b.result.steps.computed).toBe(a.result.steps.computed + a.result.steps.reused);
});

describe('workflow ids', () => {
  test('starting a completed campaign\'s id again is refused unless asked to rerun it', async () => {
    await expect(startCampaign(client, clean.config, { queues, workflowId: clean.workflowId }))
      .rejects.toThrow(`campaign ${clean.workflowId} already completed; give --rerun to run it again`);
    const rerun = await startCampaign(client, clean.config, { queues, workflowId: clean.workflowId, rerun: true });
    const result = await rerun.result();
    const computed = campaignTimeline(await campaignRuns(client, clean.workflowId)).steps.filter((s) => !(s.result as { reused?: boolean })?.reused);
    expect(computed.map((s) => s.step)).toEqual([]);
    expect(result.steps.computed).toBe(0);
  });
});

test('a constant particle stops the campaign at load, naming the file; `campaign watch` prints why and exits 1', async () => {
  const load = campaignTimeline(await campaignRuns(client, clean.workflowId)).steps.find((s) => s.step === 'load');
  const setFile = (load?.result as { particles: { path: string } }).particles.path;
  const star = (JSON.parse(await readFile(setFile, 'utf8')) as { source: string }).source;
  const data = join(root, 'star-with-blank');
  await cp(dirname(star), data, { recursive: true });
  await writeMrc(join(data, 'particle_0003.mrc'), new Volume(32, 12));

  const config = tinyConfig(join(root, 'blank'), { data: { star: join(data, 'particles.star') } });
  const handle = await startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT });
  const f = await failure(handle.result());
  expect(f.message).toMatch(/particle 3 of .*particles\.star: .*particle_0003\.mrc is constant \(every voxel is 0\)/);
  expect(campaignTimeline(await campaignRuns(client, handle.workflowId)).steps.map((s) => [s.step, s.outcome, s.attempt]))
    .toEqual([['load', 'failed', 1]]);

  const printed: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  });
  const errors: string[] = [];
  try {
    const code = await runCli(['campaign', 'watch', handle.workflowId, '--address', temporalAddress()], { out: () => undefined, err: (t) => errors.push(t) });
    expect(code).toBe(1);
  } finally {
    spy.mockRestore();
  }
  expect(printed.join(''), printed.join('')).toMatch(/failed: particle 3 of .*particle_0003\.mrc is constant/);
  expect(errors.join('')).toContain(`campaign ${handle.workflowId} did not complete`);
});

describe('a cluster host that accepts TCP but never answers ssh', () => {
  let silent: Server;
  beforeAll(async () => {
    silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  });
  afterAll(() => silent.close());

  test('fails the refine step, naming the host, on every attempt instead of hanging', async () => {
    const hostfile = join(root, 'hosts');
    await writeFile(hostfile, 'localhost slots=2\nsilent-node slots=2\n');
    const port = (silent.address() as { port: number }).port;
    const config = tinyConfig(join(root, 'cluster'), {
      maxIterations: 1,
      alignment: {
        bandwidth: 8, candidates: 2, maxShift: 3, mpiRanks: 2, hostfile,
        mpi: { readyTimeout: 2, mca: { plm_rsh_args: `-o HostName=127.0.0.1 -p ${port} -o StrictHostKeyChecking=no` } },
      },
    });
    const began = Date.now();
    const handle = await startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT });
    const f = await failure(handle.result());
    expect(f.message).toMatch(/do not answer ssh without a password: silent-node/);
    const refine = campaignTimeline(await campaignRuns(client, handle.workflowId)).steps.filter((s) => s.step === 'refine');
    expect(refine.map((s) => s.attempt)).toEqual([5]); // retried: the host may come back
    expect(Date.now() - began).toBeLessThan(90_000);
  });
});
