/**
 * Campaign workflow end to end on the shared dev server, with in-process cpu and mpi workers and the real
 * rank programs under mpirun -np 2: a complete campaign (with continue-as-new and the stop signal) and its
 * history and replay, resume of a cancelled campaign, and fast non-retryable failures on bad input.
 */
import { cp, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { HalfAverages, RegisterHalvesResult } from '../activities/references.ts';
import { campaignRuns, loadCampaignConfig, resumeCampaign, startCampaign } from '../app/campaignClient.ts';
import { campaignTimeline } from '../app/campaignHistory.ts';
import { softSphereMask } from '../core/filters.ts';
import { fscCurve, goldStandardResolution } from '../core/fsc.ts';
import { inversePose, transformVolume } from '../core/rotate.ts';
import { readMrc } from '../io/mrc.ts';
import { iterationErrors, simulationTruth } from '../bench/paper-analysis.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { SETUP_STEPS, ITERATION_STEPS, stopSignal } from '../workflows/campaign.ts';
import {
  TEST_HEARTBEAT, TINY_ALIGNMENT, TINY_DATA, checkStoreIntegrity, computedOnce, startWorkers, storeSteps, storeTally, testQueues,
  tinyConfig, waitForStatus,
} from './helpers/campaign.ts';
import { temporalAddress } from './temporal-env.ts';

// ERROR: expected InvalidInput failures would otherwise print WARN stack traces.
Runtime.install({ logger: new DefaultLogger('ERROR') });

const queues = testQueues('campaign');
/** Rotation errors (°) of the pose-recovery test: measured median 0.85°, largest 1.9° of 24. */
const POSE_MEDIAN_BOUND = 1.5;
const POSE_MAX_BOUND = 3;
let env: TestWorkflowEnvironment;
let client: Client;
let bundle: WorkflowBundleWithSourceMap;
let workers: { stop: () => Promise<void> };
let root: string;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  client = env.client;
  bundle = await bundleCampaignWorkflows();
  workers = await startWorkers(env.nativeConnection, queues, bundle);
  root = await mkdtemp(join(tmpdir(), 'subtomo-campaign-'));
});

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
  if (root) await rm(root, { recursive: true, force: true });
});

const completedRunIds: { workflowId: string; runIds: string[] }[] = [];

test('a campaign runs every step, continues as new each iteration, stops on signal after iteration 2; its history tells it', async () => {
  const workdir = join(root, 'full');
  const config = tinyConfig(workdir, { maxIterations: 3 });
  const handle = await startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT, continueAsNewEvery: 1 });
  await waitForStatus(client, handle.workflowId, (s) => s.iteration === 2);
  await handle.signal(stopSignal);
  const result = await handle.result();

  expect(result.stoppedBecause).toBe('stop-signal');
  expect(result.iterations.map((i) => i.iteration)).toEqual([0, 1, 2]);
  expect(result.iterations[0].computedSteps).toBe(SETUP_STEPS.length);
  for (const it of result.iterations.slice(1)) {
    // 12 particles of 32³ at 12 Å: Nyquist 24 Å, first shell 384 Å
    expect(it.resolution0143).toBeGreaterThanOrEqual(24);
    expect(it.resolution0143).toBeLessThan(384);
    expect(it.resolution05).toBeGreaterThanOrEqual(it.resolution0143);
    expect(it.meanCcc).toBeGreaterThan(0);
    expect(it.computedSteps).toBe(ITERATION_STEPS.length);
  }
  // From random poses (83 Å here) each aligned iteration is at least 1.5× finer (measured 38 and 41 Å).
  const start = result.iterations[0].resolution0143;
  for (const it of result.iterations.slice(1)) expect(it.resolution0143).toBeLessThan(start / 1.5);
  expect(result.steps).toEqual({ reused: 0, computed: SETUP_STEPS.length + 2 * ITERATION_STEPS.length });
  expect(result.bestResolution).toBe(Math.min(...result.iterations.slice(1).map((i) => i.resolution0143)));
  expect((await stat(result.artifacts.reportPath!)).isFile()).toBe(true);

  const runs = await campaignRuns(client, handle.workflowId);
  expect(runs).toHaveLength(2); // continued as new after iteration 1
  const timeline = campaignTimeline(runs);
  expect(timeline.runs.map((r) => r.outcome)).toEqual(['continued as new', 'completed']);
  const stepsOf = (iteration: number) => timeline.steps.filter((s) => s.iteration === iteration).map((s) => s.step);
  expect(stepsOf(0)).toEqual(SETUP_STEPS);
  expect(stepsOf(1)).toEqual(ITERATION_STEPS);
  expect(stepsOf(2)).toEqual(ITERATION_STEPS);
  expect(timeline.steps.every((s) => s.outcome === 'completed' && s.attempt === 1)).toBe(true);
  const rows = timeline.iterations;
  expect(rows.map((r) => [r.run, r.iteration, r.resolution0143])).toEqual(
    result.iterations.map((i) => [Math.max(1, i.iteration), i.iteration, i.resolution0143]));
  expect(rows[2].notes).toContain("signal 'stop'");

  expect(await storeTally(workdir)).toEqual(computedOnce(2));
  expect(await checkStoreIntegrity(workdir)).toBe(storeSteps(2));
  completedRunIds.push({ workflowId: handle.workflowId, runIds: runs.map((r) => r.runId) });
});

test('from random poses a campaign recovers the simulated poses (up to the global frame of each half)', async () => {
  // The tiny data with FRM fine enough to find them (bandwidth 16, 4 candidates) and 24 particles.
  const config = tinyConfig(join(root, 'poses'), {
    name: 'poses', data: { ...TINY_DATA, particles: 24 }, maxIterations: 3, alignment: { ...TINY_ALIGNMENT, bandwidth: 16, candidates: 4 },
  });
  const result = await (await startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT })).result();
  const truth = await simulationTruth(result.artifacts.halves!);
  const last = result.iterations[result.iterations.length - 1].iteration;
  const errors = [...(await iterationErrors(truth, last, result.artifacts.alignment!)).errorsDeg.values()].sort((a, b) => a - b);
  console.log(`rotation errors after iteration ${last} (°, D7, each half's frame fitted): ${errors.map((e) => e.toFixed(1)).join(' ')}`);
  expect(errors[Math.floor(errors.length / 2)]).toBeLessThan(POSE_MEDIAN_BOUND);
  expect(errors[errors.length - 1]).toBeLessThan(POSE_MAX_BOUND);
});

test('resume of a cancelled campaign reuses every completed step and computes only the rest', async () => {
  const workdir = join(root, 'resume');
  // 40 particles × 10 candidates: a refine of several seconds, so the cancel (delivered with the next heartbeat)
  // lands while it runs, also on a fast, idle machine.
  const config = tinyConfig(workdir, {
    maxIterations: 1, seed: 2, alignment: { ...TINY_ALIGNMENT, candidates: 10 }, data: { ...TINY_DATA, particles: 40 },
  });
  const handle = await startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT });
  await waitForStatus(client, handle.workflowId, (s) => s.iteration === 1 && s.step === 'refine');
  await handle.cancel();
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const before = await storeTally(workdir);
  const doneBefore = Object.keys(before).filter((label) => before[label].compute > 0);
  expect(doneBefore).toEqual(expect.arrayContaining(['simulate', 'load', 'split', 'initial-references', 'frm']));
  expect(doneBefore).not.toContain('refine');

  const { handle: resumed, resumedFrom } = await resumeCampaign(client, handle.workflowId);
  expect(resumed.workflowId).toBe(handle.workflowId);
  const result = await resumed.result();
  expect(result.iterations.map((i) => i.iteration)).toEqual([0, 1]);
  // setup (4 activities) and FRM came from the store; refine, average, register, fsc, low-pass and report were computed
  expect(result.steps).toEqual({ reused: 5, computed: 6 });
  // Nothing computed twice; whatever the cancelled run computed, the resumed run took from the store.
  const after = await storeTally(workdir);
  const once = computedOnce(1);
  for (const label of Object.keys(once)) {
    expect(after[label], label).toEqual({ compute: once[label].compute, reuse: before[label]?.compute ?? 0 });
  }

  const runs = await campaignRuns(client, handle.workflowId);
  expect(runs.map((r) => r.runId)).toEqual([resumedFrom, resumed.firstExecutionRunId]);
  const timeline = campaignTimeline(runs);
  expect(timeline.runs[0].outcome).toBe('cancelled');
  expect(timeline.iterations.find((r) => r.run === 1 && r.iteration === 1)?.notes).toContain('refine cancelled');
  expect(timeline.iterations.find((r) => r.run === 2 && r.iteration === 0)).toMatchObject({ reused: 4, computed: 0 });
  expect(await checkStoreIntegrity(workdir)).toBe(storeSteps(1));
  completedRunIds.push({ workflowId: handle.workflowId, runIds: [resumed.firstExecutionRunId] });
});

test('with registerHalves the even half average is registered onto the odd one before the FSC and the next references', async () => {
  const workdir = join(root, 'register');
  const config = tinyConfig(workdir, { maxIterations: 1, seed: 3, registerHalves: true });
  const handle = await startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT });
  const result = await handle.result();
  const runs = await campaignRuns(client, handle.workflowId);
  const steps = campaignTimeline(runs).steps.filter((s) => s.iteration === 1);
  expect(steps.map((s) => s.step)).toEqual(['frm', 'refine', 'average', 'register', 'fsc', 'lowpass', 'report']);
  const resultOf = <T>(name: string) => steps.find((s) => s.step === name)!.result as T;
  const { averages } = resultOf<{ averages: HalfAverages }>('average');
  const registered = resultOf<RegisterHalvesResult>('register');

  // The registered map is the unregistered even average moved by the inverse of the pose the step reports.
  const odd = await readMrc(averages.odd.path);
  const even = await readMrc(averages.even.path);
  const moved = transformVolume(even, inversePose(registered.pose));
  const evenRegistered = await readMrc(registered.even.path);
  let worst = 0;
  for (let i = 0; i < moved.data.length; i++) worst = Math.max(worst, Math.abs(moved.data[i] - evenRegistered.data[i]));
  expect(worst).toBeLessThan(1e-4 * Math.max(...moved.data.map(Math.abs)));
  expect(registered.ccc).toBeGreaterThan(0);

  // The FSC, the next even reference and the combined map all use the registered even map.
  const fscCurveOf = fscCurve(odd, evenRegistered, softSphereMask(odd.n, config.mask.radius!, config.mask.edge));
  expect(result.iterations[1].resolution0143).toBeCloseTo(goldStandardResolution(fscCurveOf, odd.voxelSize, odd.n), 6);
  expect(result.artifacts.averages!.even.sha256).toBe(registered.even.sha256);
  expect(result.artifacts.averages!.combined.sha256).toBe(registered.combined.sha256);
  const combined = await readMrc(registered.combined.path);
  expect(combined.data[1000]).toBeCloseTo((odd.data[1000] + evenRegistered.data[1000]) / 2, 5);
  completedRunIds.push({ workflowId: handle.workflowId, runIds: runs.map((r) => r.runId) });
});

describe('bad input fails fast, non-retryably, naming the problem', () => {
  const failure = async (promise: Promise<unknown>): Promise<ApplicationFailure> => {
    const err = await promise.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    let cause: unknown = (err as WorkflowFailedError).cause;
    while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as Error).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    return cause as ApplicationFailure;
  };

  test('an invalid config is refused by the CLI loader and by the workflow', async () => {
    const file = join(root, 'bad.yaml');
    await writeFile(file, 'workdir: out\ndata: { kind: simulate }\nmaxIterations: 0\n');
    await expect(loadCampaignConfig(file)).rejects.toThrow(/bad\.yaml: config field 'maxIterations': must be a positive integer, got 0/);
    await writeFile(file, 'workdir: out\ndata: { star: missing.star }\n');
    await expect(loadCampaignConfig(file)).rejects.toThrow(/config field 'data\.star': .*missing\.star does not exist/);
    await writeFile(file, 'workdir: out\ndata: { size: 32, maxShift: 9 }\n');
    await expect(loadCampaignConfig(file)).rejects.toThrow(/config field 'data\.maxShift'/);

    const config = { ...tinyConfig(join(root, 'never')), alignment: { ...tinyConfig('x').alignment, bandwidth: 3 } };
    const started = Date.now();
    const f = await failure(startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT }).then((h) => h.result()));
    expect(f).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect(f.message).toMatch(/config field 'alignment\.bandwidth': must be an integer in \[4, 64\], got 3/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test('a corrupt particle MRC in a STAR data set stops the campaign at load, naming the file', async () => {
    // The data set simulated by the first campaign (STAR + MRCs), copied with one particle truncated.
    const load = campaignTimeline(await campaignRuns(client, completedRunIds[0].workflowId)).steps.find((s) => s.step === 'load');
    const setFile = (load?.result as { particles: { path: string } }).particles.path;
    const star = (JSON.parse(await readFile(setFile, 'utf8')) as { source: string }).source;
    const data = join(root, 'star-data');
    await cp(dirname(star), data, { recursive: true });
    await truncate(join(data, 'particle_0007.mrc'), 5000);

    const config = tinyConfig(join(root, 'corrupt'), { data: { star: join(data, 'particles.star') } });
    const handle = await startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT });
    const f = await failure(handle.result());
    expect(f).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect(f.message).toMatch(/particle 7 of .*particles\.star: .*particle_0007\.mrc/);
    const timeline = campaignTimeline(await campaignRuns(client, handle.workflowId));
    expect(timeline.steps.map((s) => [s.step, s.outcome, s.attempt])).toEqual([['load', 'failed', 1]]);
  });
});

test('histories of completed campaigns replay without non-determinism errors', async () => {
  expect(completedRunIds.length).toBeGreaterThan(0);
  const histories = completedRunIds.flatMap(({ workflowId, runIds }) =>
    runIds.map((runId) => ({ workflowId, runId })));
  const fetched = await Promise.all(histories.map(async ({ workflowId, runId }) => ({
    workflowId,
    history: await client.workflow.getHandle(workflowId, runId).fetchHistory(),
  })));
  let replayed = 0;
  for await (const r of Worker.runReplayHistories({ workflowBundle: bundle }, fetched)) {
    expect(r.error, `${r.workflowId}`).toBeUndefined();
    replayed++;
  }
  expect(replayed).toBe(fetched.length);
});
