/**
 * Finding runs by what they are: the dev server registers subtomo's search attributes when it starts (and
 * adds missing ones to a server it reuses), campaigns upsert them as they go (through continue-as-new), and a
 * list query by resolution and method — `subtomo campaign list --query` — returns exactly the matching
 * campaigns.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Connection, type Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startCampaign } from '../app/campaignClient.ts';
import { listQuery, listRuns } from '../app/searchAttributes.ts';
import { freePort, startServer, temporalBinary } from '../infra/temporal.ts';
import { SUBTOMO_SEARCH_ATTRIBUTES } from '../model/searchAttributes.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { SEARCH_ATTRIBUTE_KEYS } from '../workflows/searchAttributes.ts';
import { TINY_ALIGNMENT, startWorkers, testQueues, tinyConfig } from './helpers/campaign.ts';
import { temporalAddress } from './temporal-env.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const queues = testQueues('search');
const cliMain = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
let env: TestWorkflowEnvironment;
let client: Client;
let workers: { stop: () => Promise<void> };
let root: string;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  client = env.client;
  workers = await startWorkers(env.nativeConnection, queues, await bundleCampaignWorkflows());
  root = await mkdtemp(join(tmpdir(), 'subtomo-search-'));
});

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
  if (root) await rm(root, { recursive: true, force: true });
});

const NAMES = Object.values(SUBTOMO_SEARCH_ATTRIBUTES).map((a) => a.name);

async function customAttributes(connection: Pick<Connection, 'operatorService'>): Promise<Record<string, unknown>> {
  return (await connection.operatorService.listSearchAttributes({ namespace: 'default' })).customAttributes ?? {};
}

test('the dev server registers the search attributes when it starts, and a reused server gets missing ones back', async () => {
  expect(Object.keys(await customAttributes(client.connection))).toEqual(expect.arrayContaining(NAMES));

  const dir = await mkdtemp(join(root, 'server-'));
  const opts = { port: await freePort(), ui: false, stateDir: dir, dbFile: join(dir, 'temporal.sqlite') };
  const server = await startServer(opts);
  try {
    await promisify(execFile)(temporalBinary(), ['operator', 'search-attribute', 'remove', '--name', 'SubtomoIteration', '--yes', '--address', server.address]);
    const connection = await Connection.connect({ address: server.address });
    expect(Object.keys(await customAttributes(connection))).not.toContain('SubtomoIteration');
    expect(await startServer(opts)).toMatchObject({ reused: true, pid: server.pid });
    expect(Object.keys(await customAttributes(connection))).toEqual(expect.arrayContaining(NAMES));
    await connection.close();
  } finally {
    await server.stop({ graceMs: 0 });
  }
});

/** The workflow ids of the campaigns a list query finds (what `subtomo campaign list --query` prints first on each line). */
async function listed(query: string): Promise<string[]> {
  return (await listRuns(client, 'campaign', query)).map((l) => l.split(/\s+/)[0]).sort();
}

test('a list query by resolution and method returns exactly the matching campaigns', async () => {
  // One data set (its setup steps shared through the workdir), three alignments; the second continues as new.
  const workdir = join(root, 'campaigns');
  const runs = [
    { method: 'sag', candidates: 2, more: {} },
    { method: 'sag', candidates: 3, more: { maxIterations: 2 } },
    { method: 'lm', candidates: 2, more: {} },
  ];
  // Started together: the one worker of each queue interleaves their steps, and identical setup steps are computed once.
  const results = await Promise.all(runs.map(async (r, k) => {
    const config = tinyConfig(workdir, { name: `indexed-${k}`, maxIterations: 1, alignment: { ...TINY_ALIGNMENT, method: r.method, candidates: r.candidates }, ...r.more });
    const handle = await startCampaign(client, config, { queues, heartbeatTimeout: '10 seconds', continueAsNewEvery: 1 });
    return { id: handle.workflowId, method: r.method, best: (await handle.result()).bestResolution };
  }));
  const d = await client.workflow.getHandle(results[1].id).describe();
  // Indexed from the start and still after continue-as-new: the last iteration, the best resolution, why it stopped.
  expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.iteration)).toBe(2);
  expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.bestResolution)).toBe(results[1].best);
  expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.state)).toBe('max-iterations');
  expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.dataSource)).toBe('simulated');
  expect(d.memo?.subtomo).toMatchObject({ kind: 'campaign', name: 'indexed-1', bestResolution: results[1].best, state: 'max-iterations' });

  // A threshold that keeps the better sag campaign (both when they tie) and the lm one if it is better still.
  const sag = results.filter((r) => r.method === 'sag').map((r) => r.best).sort((a, b) => a - b);
  const threshold = sag[0] === sag[1] ? sag[0] + 0.5 : (sag[0] + sag[1]) / 2;
  const query = `TaskQueue = '${queues.cpu}' AND SubtomoBestResolution < ${threshold} AND SubtomoMethod = 'sag'`;
  const expected = results.filter((r) => r.method === 'sag' && r.best < threshold).map((r) => r.id).sort();
  expect(expected.length).toBeGreaterThan(0);
  // Visibility is updated asynchronously: a moment after the last campaign closes it lists every one.
  const deadline = Date.now() + 15_000;
  while ((await listed(`TaskQueue = '${queues.cpu}' AND SubtomoState = 'max-iterations'`)).length < runs.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(await listed(query)).toEqual(expected);
  expect(await listed(`TaskQueue = '${queues.cpu}' AND SubtomoMethod = 'lm'`)).toEqual([results[2].id]);
  expect(listQuery('campaign', query)).toBe(`WorkflowType = 'campaign' AND ExecutionStatus != 'ContinuedAsNew' AND (${query})`);

  // The command prints the same lines; a filter the server cannot parse is an error naming the flag.
  const cli = (query: string) => promisify(execFile)(process.execPath, ['--import', 'tsx', cliMain, 'campaign', 'list', '--query', query, '--address', temporalAddress()]);
  const { stdout } = await cli(query);
  expect(stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0]).sort()).toEqual(expected);
  expect(stdout).toMatch(/sag, simulated, iteration \d, best [\d.]+ Å, max-iterations/);
  const bad = await cli('SubtomoBest < 3').catch((e: { code: number; stderr: string }) => e);
  expect(bad).toMatchObject({ code: 1, stderr: expect.stringMatching(/--query "SubtomoBest < 3" is not a valid list filter/) });
});
