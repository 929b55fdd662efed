/**
 * A classifying campaign (config `classification:`) on a tiny two-structure mixture through the shared dev
 * server and real mpirun -np 2: it reports class sizes, resolutions and the adjusted Rand index per iteration,
 * and a campaign cancelled in the middle of a classification iteration and resumed ends with the same
 * assignments as one that ran without interruption.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { AssignmentFile } from '../activities/classify.ts';
import { resumeCampaign, startCampaign } from '../app/campaignClient.ts';
import { resultSummary } from '../app/campaignWatch.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { TEST_HEARTBEAT, TINY_ALIGNMENT, startWorkers, testQueues, tinyConfig, waitForStatus } from './helpers/campaign.ts';
import { simulateMixture } from './helpers/mixture.ts';
import { temporalAddress } from './temporal-env.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const queues = testQueues('classify');
let env: TestWorkflowEnvironment;
let client: Client;
let workers: { stop: () => Promise<void> };
let root: string;
let star: string;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  client = env.client;
  workers = await startWorkers(env.nativeConnection, queues, await bundleCampaignWorkflows());
  root = await mkdtemp(join(tmpdir(), 'subtomo-campaign-classify-'));
  await simulateMixture(root, 12);
  star = join(root, 'particles.star');
});

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
  if (root) await rm(root, { recursive: true, force: true });
});

const config = (workdir: string) => tinyConfig(workdir, {
  name: 'mixture',
  data: { star },
  initialPoses: 'star',
  maxIterations: 1,
  alignment: { ...TINY_ALIGNMENT, candidates: 1, angularRange: 20 },
  classification: { classes: 2, iterations: 2, minClassSize: 2 },
});

async function finalAssignment(path: string): Promise<number[]> {
  return (JSON.parse(await readFile(path, 'utf8')) as AssignmentFile).assignment;
}

test('a classifying campaign reports its classes, and resumed after a cancel it ends as an uninterrupted one', async () => {
  const plain = await startCampaign(client, config(join(root, 'plain')), { queues, heartbeatTimeout: TEST_HEARTBEAT });
  const result = await plain.result();
  const classification = result.classification!;
  expect(classification.iterations.map((h) => h.classIteration)).toEqual([0, 1, 2]);
  // The averaging iteration is 1; the starting classes are iteration 2, the classification iterations 3 and 4.
  expect(classification.iterations.map((h) => h.iteration)).toEqual([2, 3, 4]);
  for (const h of classification.iterations.slice(1)) expect(h.sizes.reduce((a, b) => a + b, 0)).toBe(12);
  // Noise-free particles of two structures: separated exactly by the end (measured: from iteration 1 on).
  expect(classification.iterations[2].ari).toBe(1);
  expect(classification.iterations[2].sizes).toEqual([6, 6]);
  expect(resultSummary(result)).toMatch(/classification finished \((iterations|settled)\): \d classes/);

  const cancelled = await startCampaign(client, config(join(root, 'resumed')), { queues, heartbeatTimeout: TEST_HEARTBEAT });
  await waitForStatus(client, cancelled.workflowId, (s) => s.step === 'class-refine' && (s.classification?.history.length ?? 0) >= 2, 180_000);
  await cancelled.cancel();
  await cancelled.result().catch(() => undefined);
  const { handle } = await resumeCampaign(client, cancelled.workflowId);
  const resumed = await handle.result();
  expect(resumed.steps.reused).toBeGreaterThan(0);
  const plainAssignment = await finalAssignment(classification.assignment.path);
  expect(await finalAssignment(resumed.classification!.assignment.path)).toEqual(plainAssignment);
  expect(resumed.classification!.iterations.map((h) => h.sizes)).toEqual(classification.iterations.map((h) => h.sizes));
}, 600_000);
