/**
 * The Temporal dev server is stopped and restarted (same SQLite file) in the middle of a campaign's MPI
 * refinement: the campaign continues and completes, with every step computed exactly once. This file runs
 * its own server (it must stop it); the shared one from globalSetup is not touched.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { campaignRuns, startCampaign } from '../app/campaignClient.ts';
import { campaignTimeline } from '../app/campaignHistory.ts';
import { freePort, isServing, startServer, type RunningServer, type ServerOptions } from '../infra/temporal.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { ITERATION_STEPS, SETUP_STEPS } from '../workflows/campaign.ts';
import { checkStoreIntegrity, computedOnce, startWorkers, storeSteps, storeTally, testQueues, tinyConfig, waitForStatus } from './helpers/campaign.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

let dir: string;
let opts: ServerOptions;
let server: RunningServer | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'subtomo-campaign-server-'));
  opts = { port: await freePort(), ui: false, stateDir: join(dir, 'state'), dbFile: join(dir, 'db', 'campaign.sqlite') };
  server = await startServer(opts);
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a campaign survives a restart of the Temporal server during its refinement and completes', async () => {
  const address = server!.address;
  const queues = testQueues('server');
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const workers = await startWorkers(await NativeConnection.connect({ address }), queues, await bundleCampaignWorkflows());
  try {
    const workdir = join(dir, 'campaign');
    const handle = await startCampaign(client, tinyConfig(workdir), { queues });
    await waitForStatus(client, handle.workflowId, (s) => s.iteration === 1 && s.step === 'refine');

    const oldPid = server!.pid;
    await server!.stop();
    expect(await isServing(address)).toBe(false);
    server = await startServer(opts);
    expect(server.reused).toBe(false);
    expect(server.pid).not.toBe(oldPid);

    const result = await handle.result();
    expect(result.iterations.map((i) => i.iteration)).toEqual([0, 1, 2]);
    expect(result.steps).toEqual({ reused: 0, computed: SETUP_STEPS.length + 2 * ITERATION_STEPS.length });
    expect(await storeTally(workdir)).toEqual(computedOnce(2));
    expect(await checkStoreIntegrity(workdir)).toBe(storeSteps(2));

    // The history written before the restart is intact and every step ran once.
    const timeline = campaignTimeline(await campaignRuns(client, handle.workflowId));
    expect(timeline.steps.map((s) => `${s.iteration}.${s.step}`)).toEqual([
      ...SETUP_STEPS.map((s) => `0.${s}`), ...ITERATION_STEPS.map((s) => `1.${s}`), ...ITERATION_STEPS.map((s) => `2.${s}`),
    ]);
    expect(timeline.steps.every((s) => s.outcome === 'completed' && s.attempt === 1)).toBe(true);
  } finally {
    await workers.stop();
    await connection.close();
  }
});
