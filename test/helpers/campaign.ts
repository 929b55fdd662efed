/**
 * Shared set-up of the campaign integration tests: a tiny simulated data set (12 particles of 32³, so an
 * iteration takes seconds), per-file task queues on the shared dev server, and in-process workers.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { NativeConnection, Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ArtifactStore } from '../../io/artifacts.ts';
import { validateConfig, type CampaignConfig } from '../../model/campaign.ts';
import { createCampaignWorker } from '../../workers/campaign.ts';
import { statusQuery, type CampaignStatus, type campaign } from '../../workflows/campaign.ts';
import type { Queues } from '../../workflows/queues.ts';

/** Heartbeat timeout of test campaigns: a killed worker's activity is retried within seconds. */
export const TEST_HEARTBEAT = '5 seconds';

/** Data and alignment of the tiny test campaign, for tests that change one field of them. */
export const TINY_DATA = { particles: 12, size: 32, voxel: 12, resolution: 30, tiltStep: 3, snr: 0.1, maxShift: 2, seed: 5 };
export const TINY_ALIGNMENT = { bandwidth: 8, candidates: 2, maxShift: 3, mpiRanks: 2 };

export function tinyConfig(workdir: string, overrides: Record<string, unknown> = {}): CampaignConfig {
  return validateConfig({
    name: 'tiny',
    workdir,
    data: TINY_DATA,
    maxIterations: 2,
    patience: 3,
    alignment: TINY_ALIGNMENT,
    initialLowpass: 60,
    ...overrides,
  });
}

/** Queue names of one test file: production uses 'cpu' and 'mpi', test files share one server. */
export function testQueues(file: string): Queues {
  const id = randomUUID().slice(0, 8);
  return { cpu: `cpu-${file}-${id}`, mpi: `mpi-${file}-${id}` };
}

export async function startWorkers(
  connection: NativeConnection,
  queues: Queues,
  workflowBundle: WorkflowBundleWithSourceMap,
  roles: readonly ('cpu' | 'mpi')[] = ['cpu', 'mpi'],
): Promise<{ stop: () => Promise<void> }> {
  const workers: Worker[] = [];
  for (const role of roles) workers.push(await createCampaignWorker({ connection, role, queues, workflowBundle }));
  const running = workers.map((w) => w.run());
  return {
    stop: async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.all(running);
    },
  };
}

/** Polls the `status` query until `until` holds (the workflow must be running). */
export async function waitForStatus(
  client: Client,
  workflowId: string,
  until: (s: CampaignStatus) => boolean,
  timeoutMs = 60_000,
): Promise<CampaignStatus> {
  const handle = client.workflow.getHandle<typeof campaign>(workflowId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await handle.query(statusQuery).catch(() => null);
    if (s && until(s)) return s;
    if (Date.now() > deadline) throw new Error(`campaign ${workflowId}: status condition not met in ${timeoutMs} ms (last: ${JSON.stringify(s?.step)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Store step labels of a campaign's setup (simulate and load are two store steps of one activity). */
export const SETUP_STORE_STEPS = ['simulate', 'load', 'split', 'initial-references'];
/** Store step labels of one iteration; 'fsc' also runs once in the setup, for the random-pose start. */
export const ITERATION_STORE_STEPS = ['frm', 'refine', 'average-halves', 'register-halves', 'fsc', 'lowpass-reference', 'report'];

/** What the store log of a campaign that ran `iterations` iterations, computing each step once, must say. */
export function computedOnce(iterations: number): Record<string, { compute: number; reuse: number }> {
  const tally: Record<string, { compute: number; reuse: number }> = {};
  for (const label of SETUP_STORE_STEPS) tally[label] = { compute: 1, reuse: 0 };
  for (const label of ITERATION_STORE_STEPS) tally[label] = { compute: iterations + (label === 'fsc' ? 1 : 0), reuse: 0 };
  return tally;
}

/** How often each step label was computed and reused in the campaign's artifact store log. */
export async function storeTally(workdir: string): Promise<Record<string, { compute: number; reuse: number }>> {
  const tally: Record<string, { compute: number; reuse: number }> = {};
  for (const e of await new ArtifactStore(workdir).events()) {
    if (e.event === 'invalid') continue;
    const t = (tally[e.label ?? e.key] ??= { compute: 0, reuse: 0 });
    t[e.event]++;
  }
  return tally;
}

/** Step directories of a campaign that ran `iterations` iterations. */
export function storeSteps(iterations: number): number {
  return SETUP_STORE_STEPS.length + 1 + iterations * ITERATION_STORE_STEPS.length;
}

/**
 * Every step directory of the store is complete (done-marker present, every output with its recorded size
 * and hash) and no temp dir is left over; returns the number of step directories.
 */
export async function checkStoreIntegrity(workdir: string): Promise<number> {
  const store = new ArtifactStore(workdir);
  const work = join(workdir, 'work');
  let steps = 0;
  for (const prefix of await readdir(work)) {
    if (prefix === '.tmp') continue;
    for (const key of await readdir(join(work, prefix))) {
      const marker = JSON.parse(await readFile(join(work, prefix, key, '.done'), 'utf8')) as { key: string };
      if (marker.key !== key || !(await store.isComplete(key))) throw new Error(`step ${key} is torn`);
      steps++;
    }
  }
  const leftovers = await readdir(join(work, '.tmp')).catch(() => [] as string[]);
  if (leftovers.length > 0) throw new Error(`temp dirs left in the store: ${leftovers.join(', ')}`);
  return steps;
}
