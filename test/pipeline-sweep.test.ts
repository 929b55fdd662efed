/**
 * A 2×2 matrix sweep on the shared dev server: the swept node expands into four child workflows (at most
 * `parallel` at once) and one fan-in table comparing them; running the pipeline again adopts the completed
 * children instead of running them again.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { SweepTableFile } from '../activities/sweepTable.ts';
import { pipelineRuns, startPipeline } from '../app/pipelineClient.ts';
import { pipelineTimeline } from '../app/pipelineHistory.ts';
import type { PipelineSpec } from '../model/pipeline.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { TINY_DATA, startWorkers, testQueues } from './helpers/campaign.ts';
import { TINY_ALIGN, node, states } from './helpers/pipeline.ts';
import { temporalAddress } from './temporal-env.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const queues = testQueues('sweep');
let env: TestWorkflowEnvironment;
let client: Client;
let workers: { stop: () => Promise<void> };
let bundle: WorkflowBundleWithSourceMap;
let root: string;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  client = env.client;
  bundle = await bundleCampaignWorkflows();
  workers = await startWorkers(env.nativeConnection, queues, bundle);
  root = await mkdtemp(join(tmpdir(), 'subtomo-sweep-'));
});

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
  if (root) await rm(root, { recursive: true, force: true });
});

const MEMBERS = ['align[method=sag,candidates=1]', 'align[method=sag,candidates=2]', 'align[method=lm,candidates=1]', 'align[method=lm,candidates=2]'];

test('a 2×2 matrix sweep runs four child workflows, at most two at once, and one fan-in table; a rerun adopts them', async () => {
  const spec: PipelineSpec = {
    name: 'sweep',
    workdir: join(root, 'work'),
    nodes: {
      data: { type: 'simulate', params: { ...TINY_DATA } },
      align: {
        type: 'align', inputs: { particles: 'data.particles', reference: 'data.reference' }, params: TINY_ALIGN,
        matrix: { method: ['sag', 'lm'], candidates: [1, 2] }, parallel: 2,
      },
    },
  };
  const handle = await startPipeline(client, spec, { queues, heartbeatTimeout: '10 seconds' });
  const result = await handle.result();
  expect(states(result)).toEqual({ data: 'done', ...Object.fromEntries(MEMBERS.map((m) => [m, 'done'])), align: 'done' });

  // Four child workflows, one per member, under the pipeline's id.
  const children: string[] = [];
  for await (const w of client.workflow.list({ query: `ParentWorkflowId = '${handle.workflowId}'` })) children.push(w.workflowId);
  expect(children.sort()).toEqual(MEMBERS.map((m) => `${handle.workflowId}/${m}`).sort());
  const timeline = pipelineTimeline(await pipelineRuns(client, handle.workflowId));
  const spans = timeline.nodes.filter((r) => r.child).map((r) => [r.startMs, r.endMs!] as const);
  expect(spans).toHaveLength(4);
  const overlapping = (t: number) => spans.filter(([a, b]) => a <= t && t < b).length;
  expect(Math.max(...spans.map(([a]) => overlapping(a)))).toBeLessThanOrEqual(2);

  // One table: a row per member with its matrix values and mean CCC.
  const table = node(result, 'align').outputs!.table;
  expect(table.type).toBe('table');
  if (table.type !== 'table') return;
  const file = JSON.parse(await readFile(table.json.path, 'utf8')) as SweepTableFile;
  expect(file.axes).toEqual(['method', 'candidates']);
  expect(file.rows.map((r) => [r.values.method, r.values.candidates])).toEqual([['sag', 1], ['sag', 2], ['lm', 1], ['lm', 2]]);
  for (const r of file.rows) expect(r.results['mean CCC']).toBeGreaterThan(0);
  const markdown = await readFile(table.markdown.path, 'utf8');
  expect(markdown.split('\n').filter((l) => l.startsWith('| sag') || l.startsWith('| lm'))).toHaveLength(4);
  expect(await readFile(result.report!, 'utf8')).toContain('Sweep align');

  // Running it again under its id: the completed children are adopted, nothing is recomputed.
  const rerun = await startPipeline(client, spec, { queues, workflowId: handle.workflowId, rerun: true });
  const again = await rerun.result();
  expect(states(again)).toEqual({ data: 'reused', ...Object.fromEntries(MEMBERS.map((m) => [m, 'reused'])), align: 'reused' });
  expect(again.nodes.filter((n) => n.adopted).map((n) => n.name)).toEqual(MEMBERS);
  expect(again.steps.computed).toBe(0);

  // Both runs (children started, children adopted) replay without non-determinism errors.
  const histories = await Promise.all([handle.firstExecutionRunId, rerun.firstExecutionRunId].map(async (runId) => ({
    workflowId: handle.workflowId, history: await client.workflow.getHandle(handle.workflowId, runId).fetchHistory(),
  })));
  let replayed = 0;
  for await (const r of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
    expect(r.error).toBeUndefined();
    replayed++;
  }
  expect(replayed).toBe(2);
});
