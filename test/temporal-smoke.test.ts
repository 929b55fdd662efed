import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as activities from '../activities/smoke.ts';
import { ArtifactStore } from '../io/artifacts.ts';
import { smokePipeline } from '../workflows/smoke.ts';
import { temporalAddress } from './temporal-env.ts';

// One Runtime per process (pool 'forks' gives each test file its own process).
// ERROR: the expected InvalidInput failure would otherwise print two WARN stack traces.
Runtime.install({ logger: new DefaultLogger('ERROR') });

// Production workers poll 'cpu'; test files share one server and run in parallel, so each gets its own
// 'cpu-…' queue — otherwise a task could land on another file's worker that registers other activities.
const taskQueue = `cpu-smoke-${randomUUID()}`;
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let campaignDir: string;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  const workflowBundle: WorkflowBundleWithSourceMap = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)),
    logger: new DefaultLogger('WARN'),
  });
  worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle, activities });
  running = worker.run();
  campaignDir = await mkdtemp(join(tmpdir(), 'subtomo-smoke-'));
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  if (campaignDir) await rm(campaignDir, { recursive: true, force: true });
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const run = (text: string) =>
  env.client.workflow.execute(smokePipeline, { taskQueue, workflowId: `smoke-${randomUUID()}`, args: [{ campaignDir, text }] });

test('smoke campaign writes content-addressed artifacts; a re-run reuses every step', async () => {
  const text = 'GroEL 14-mer';
  const first = await run(text);
  expect(first.reusedSteps).toBe(0);
  expect(first.text).toMatchObject({ sha256: sha256(text), bytes: text.length });
  expect(await readFile(first.reversed.path, 'utf8')).toBe('rem-41 LEorG');
  expect(first.reversed.sha256).toBe(sha256('rem-41 LEorG'));

  const again = await run(text);
  expect(again).toEqual({ ...first, reusedSteps: 2 });

  const other = await run('D7');
  expect(other.reusedSteps).toBe(0);
  expect(await readFile(other.reversed.path, 'utf8')).toBe('7D');

  const events = await new ArtifactStore(campaignDir).events();
  expect(events.map((e) => `${e.event}:${e.label}`)).toEqual([
    'compute:smoke.write', 'compute:smoke.reverse',
    'reuse:smoke.write', 'reuse:smoke.reverse',
    'compute:smoke.write', 'compute:smoke.reverse',
  ]);
});

test('invalid input fails the campaign at once, as a non-retryable InvalidInput failure', async () => {
  const err = await run('').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const activityFailure = (err as WorkflowFailedError).cause?.cause;
  expect(activityFailure).toBeInstanceOf(ApplicationFailure);
  expect(activityFailure).toMatchObject({ type: 'InvalidInput', nonRetryable: true, message: 'smoke text is empty' });
});
