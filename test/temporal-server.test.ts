import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as activities from '../activities/smoke.ts';
import { freePort, isServing, serverStatus, startServer, type RunningServer, type ServerOptions } from '../infra/temporal.ts';
import { ArtifactStore } from '../io/artifacts.ts';
import { releaseSmokeSignal, smokePipeline, smokeStageQuery } from '../workflows/smoke.ts';

// This file manages its own server (it must stop it); the shared one from globalSetup is not touched.
Runtime.install({ logger: new DefaultLogger('ERROR') });

let dir: string;
let opts: ServerOptions;
let server: RunningServer | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'subtomo-server-'));
  opts = { port: await freePort(), ui: false, stateDir: join(dir, 'state'), dbFile: join(dir, 'db', 'campaign.sqlite') };
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('startServer is idempotent and explains a missing binary or a taken port', async () => {
  server = await startServer(opts);
  expect(server.reused).toBe(false);
  expect(await isServing(server.address)).toBe(true);
  const again = await startServer(opts);
  expect(again).toMatchObject({ reused: true, pid: server.pid, address: server.address });
  expect((await serverStatus(opts.stateDir)).serving).toBe(true);

  await expect(startServer({ ...opts, bin: join(dir, 'no-such-temporal') })).rejects.toThrow(/run infra\/install\.sh/);
  await expect(startServer({ ...opts, stateDir: join(dir, 'other-state') })).rejects.toThrow(
    new RegExp(`gRPC port ${opts.port} on 127\\.0\\.0\\.1 is already in use`),
  );

  const connection = await Connection.connect({ address: server.address });
  const ns = await connection.workflowService.describeNamespace({ namespace: 'default' });
  expect(Number(ns.config?.workflowExecutionRetentionTtl?.seconds)).toBe(720 * 3600);
  await connection.close();
});

test('the server is stopped and restarted mid-campaign (same SQLite file): history survives, the campaign continues', async () => {
  server ??= await startServer(opts);
  const campaignDir = join(dir, 'campaign');
  const taskQueue = `cpu-restart-${randomUUID()}`;
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const worker = await Worker.create({
    connection: await NativeConnection.connect({ address: server.address }),
    taskQueue,
    workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)),
    activities,
  });
  const running = worker.run();
  try {
    const finishedId = `finished-${randomUUID()}`;
    const finished = await client.workflow.execute(smokePipeline, {
      taskQueue, workflowId: finishedId, args: [{ campaignDir, text: 'before restart' }],
    });
    const held = await client.workflow.start(smokePipeline, {
      taskQueue, workflowId: `held-${randomUUID()}`, args: [{ campaignDir, text: 'across restart', holdAfterFirstStep: true }],
    });
    while ((await held.query(smokeStageQuery)) !== 'holding') await new Promise((r) => setTimeout(r, 50));

    const oldPid = server.pid;
    await server.stop();
    expect(await isServing(server.address)).toBe(false);
    server = await startServer(opts);
    expect(server.reused).toBe(false);
    expect(server.pid).not.toBe(oldPid);

    const history = await client.workflow.getHandle(finishedId).fetchHistory();
    const events = history.events ?? [];
    expect(events.at(-1)?.workflowExecutionCompletedEventAttributes).toBeTruthy();
    expect(events.filter((e) => e.activityTaskCompletedEventAttributes)).toHaveLength(2);
    expect(await client.workflow.getHandle(finishedId).result()).toEqual(finished);

    await held.signal(releaseSmokeSignal);
    const result = await held.result();
    expect(result.reusedSteps).toBe(0);
    expect(await readFile(result.reversed.path, 'utf8')).toBe('tratser ssorca');
    // The held step before the restart was not redone after it: one compute per step, no reuse.
    expect((await new ArtifactStore(campaignDir).events()).map((e) => `${e.event}:${e.label}`)).toEqual([
      'compute:smoke.write', 'compute:smoke.reverse', 'compute:smoke.write', 'compute:smoke.reverse',
    ]);
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
  }
});
