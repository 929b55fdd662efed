/**
 * The pipeline workflow end to end on the shared dev server, with in-process cpu and mpi workers and real
 * mpirun -np 2: a 5-node DAG with two parallel branches, every step cached (a second pipeline sharing the
 * workdir reuses them all), broken pipelines refused before any activity naming the node, a node that fails
 * at run time skipping only what needs it, and resume computing only what failed.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadPipelineSpec, pipelineRuns, resumePipeline, startPipeline } from '../app/pipelineClient.ts';
import { pipelineTimeline } from '../app/pipelineHistory.ts';
import { dagText } from '../app/pipelineWatch.ts';
import { listRuns } from '../app/searchAttributes.ts';
import { runCli } from '../cli/run.ts';
import { Volume } from '../core/volume.ts';
import { writeMrc } from '../io/mrc.ts';
import type { PipelineSpec } from '../model/pipeline.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { pipelineStatusQuery } from '../workflows/pipeline.ts';
import { SEARCH_ATTRIBUTE_KEYS } from '../workflows/searchAttributes.ts';
import { startWorkers, storeTally, testQueues } from './helpers/campaign.ts';
import { TINY_ALIGN, fiveNodeSpec, node, states } from './helpers/pipeline.ts';
import { temporalAddress } from './temporal-env.ts';

// ERROR: expected InvalidInput failures would otherwise print WARN stack traces.
Runtime.install({ logger: new DefaultLogger('ERROR') });

const queues = testQueues('pipeline');
let env: TestWorkflowEnvironment;
let client: Client;
let bundle: WorkflowBundleWithSourceMap;
let workers: { stop: () => Promise<void> };
let root: string;
const completed: string[] = [];

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  client = env.client;
  bundle = await bundleCampaignWorkflows();
  workers = await startWorkers(env.nativeConnection, queues, bundle);
  root = await mkdtemp(join(tmpdir(), 'subtomo-pipeline-'));
});

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
  if (root) await rm(root, { recursive: true, force: true });
});

const options = { queues, heartbeatTimeout: '10 seconds' };

/** The ApplicationFailure at the root of a failed workflow. */
async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let cause: unknown = (err as WorkflowFailedError).cause;
  while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as Error).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

test('a 5-node DAG with two parallel branches completes; a second pipeline on the workdir reuses every step it shares', async () => {
  const workdir = join(root, 'five');
  const handle = await startPipeline(client, fiveNodeSpec(workdir), options);
  const result = await handle.result();
  expect(result.state).toBe('completed');
  expect(states(result)).toEqual({ data: 'done', alignSag: 'done', average: 'done', fsc: 'done', alignLm: 'done' });
  // simulate + split, reference + FRM + refine, average, fsc; the lm branch refines only (its reference and
  // FRM candidates are the sag branch's, from the store).
  expect(result.steps).toEqual({ reused: 2, computed: 2 + 3 + 1 + 1 + 1 });
  const fsc = node(result, 'fsc').outputs!.fsc;
  expect(fsc.type).toBe('fsc');
  if (fsc.type === 'fsc') {
    // 12 particles of 32³ at 12 Å: Nyquist 24 Å
    expect(fsc.resolution0143).toBeGreaterThanOrEqual(24);
    expect(fsc.resolution0143).toBeLessThan(384);
  }
  expect(node(result, 'alignLm').headline!['mean CCC']).toBeGreaterThan(0);
  // The branches overlapped: the lm alignment started before the sag branch's average finished.
  const timeline = pipelineTimeline(await pipelineRuns(client, handle.workflowId));
  const row = (n: string) => timeline.nodes.find((x) => x.node === n)!;
  expect(row('alignLm').startMs).toBeLessThan(row('average').endMs!);
  expect(timeline.nodes.every((r) => r.outcome === 'completed')).toBe(true);
  const report = await readFile(result.report!, 'utf8');
  expect(report).toContain('dag.svg');
  expect(await readFile(join(result.report!, '..', 'dag.svg'), 'utf8')).toMatch(/<svg[\s\S]*alignLm[\s\S]*<\/svg>/);
  expect(dagText(result)).toMatch(/done\s+fsc\s+fsc\s+← average\s+FSC 0\.143/);
  completed.push(handle.workflowId);

  // Indexed like a campaign: two methods (so none), simulated data, its best resolution, how it ended.
  const K = SEARCH_ATTRIBUTE_KEYS;
  const indexed = (await handle.describe()).typedSearchAttributes;
  expect([indexed.get(K.name), indexed.get(K.method), indexed.get(K.dataSource), indexed.get(K.state)]).toEqual(['five', undefined, 'simulated', 'completed']);
  expect(fsc.type === 'fsc' && indexed.get(K.bestResolution)).toBe(fsc.type === 'fsc' && fsc.resolution0143);
  const query = `TaskQueue = '${queues.cpu}' AND SubtomoName = 'five' AND SubtomoState = 'completed'`;
  const deadline = Date.now() + 15_000;
  let listed: string[] = [];
  while (listed.length === 0 && Date.now() < deadline) listed = await listRuns(client, 'pipeline', query);
  expect(listed.map((l) => l.split(/\s+/)[0])).toEqual([handle.workflowId]);

  // The same DAG plus a postprocess node, and the simulation's reference brought in as a file of one's own
  // for a third alignment: only the new steps compute, the alignment by content is the sag branch's.
  const truth = node(result, 'data').outputs!.reference;
  const more: PipelineSpec = { ...fiveNodeSpec(workdir, { name: 'five-more' }) };
  more.nodes.post = { type: 'postprocess', inputs: { halfMaps: 'average.halfMaps' } };
  more.nodes.start = { type: 'map', params: { path: truth.type === 'map' ? truth.map.path : '' } };
  more.nodes.alignOwn = { type: 'align', inputs: { particles: 'data.particles', reference: 'start' }, params: { ...TINY_ALIGN, method: 'sag' } };
  const again = await (await startPipeline(client, more, options)).result();
  expect(states(again)).toEqual({
    data: 'reused', alignSag: 'reused', average: 'reused', fsc: 'reused', alignLm: 'reused', post: 'done', start: 'done', alignOwn: 'reused',
  });
  expect(again.steps).toEqual({ reused: 13, computed: 2 });
  const post = node(again, 'post').outputs!.postprocess;
  expect(post.type === 'postprocess' && post.resolution).toBeGreaterThanOrEqual(24);
  const tally = await storeTally(workdir);
  expect(tally.refine).toEqual({ compute: 2, reuse: 3 });
  expect(tally.postprocess).toEqual({ compute: 1, reuse: 0 });
});

describe('a broken pipeline fails before any activity, naming the node', () => {
  const cases: [string, (s: PipelineSpec) => void, RegExp][] = [
    ['a cycle', (s) => {
      // Well typed: each alignment refines around the other's poses.
      s.nodes.alignSag.inputs = { ...s.nodes.alignSag.inputs, priors: 'alignLm' };
      s.nodes.alignLm.inputs = { ...s.nodes.alignLm.inputs, priors: 'alignSag.alignment' };
    }, /pipeline node 'alignSag', field 'inputs': depends on itself: alignSag → alignLm → alignSag/],
    ['an output of the wrong type', (s) => {
      s.nodes.average.inputs = { particles: 'data', alignment: 'data.reference' };
    }, /pipeline node 'average', field 'inputs\.alignment': 'data\.reference' is a map .*; this input takes an alignment/],
    ['an unknown node type', (s) => {
      s.nodes.fsc.type = 'fcs';
    }, /pipeline node 'fsc', field 'type': unknown node type 'fcs' .*did you mean 'fsc'\?/],
    ['a missing input', (s) => {
      s.nodes.average.inputs = { particles: 'data' };
    }, /pipeline node 'average', field 'inputs\.alignment': is required/],
  ];
  test.each(cases)('%s', async (_what, breakIt, message) => {
    const spec = fiveNodeSpec(join(root, 'never'));
    breakIt(spec);
    const handle = await startPipeline(client, spec, options).catch((err: Error) => err);
    // The client plans the pipeline for its search attributes, so it refuses too; then the workflow itself.
    expect(String(handle)).toMatch(message);
    const workflowId = `broken-${Date.now()}-${Math.random()}`;
    const f = await failureOf(client.workflow.execute('pipeline', { taskQueue: queues.cpu, workflowId, args: [{ spec, queues }] }));
    expect(f).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect(f.message).toMatch(message);
    const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes)).toEqual([]);
  });

  test('the file loader refuses it, naming the file and the node', async () => {
    const file = join(root, 'cyclic.yaml');
    await writeFile(file, [
      'name: cyclic', 'workdir: out', 'nodes:',
      '  data: { type: simulate }',
      '  a: { type: align, inputs: { particles: data, reference: data, priors: b } }',
      '  b: { type: align, inputs: { particles: data, reference: data, priors: a } }', '',
    ].join('\n'));
    await expect(loadPipelineSpec(file)).rejects.toThrow(/cyclic\.yaml: pipeline node 'a', field 'inputs': depends on itself: a → b → a/);
    await writeFile(file, 'name: ok\nworkdir: out\nnodes:\n  x: { type: fsc, inputs: { halfMaps: y } }\n  y: { type: average, inputs: { particles: x, alignment: x } }\n');
    await expect(loadPipelineSpec(file)).rejects.toThrow(/pipeline node 'y', field 'inputs\.particles': 'x' has no output of type particles/);
    // The command says so and starts nothing (exit code 1); a misspelled flag is a usage error (2).
    let err = '';
    const io = { out: () => {}, err: (t: string) => (err += t) };
    expect(await runCli(['pipeline', 'run', file, '--address', temporalAddress()], io)).toBe(1);
    expect(err).toMatch(/subtomo pipeline: pipeline .*cyclic\.yaml: pipeline node 'y'/);
    expect(await runCli(['pipeline', 'run', file, '--wacth'], io)).toBe(2);
    expect(err).toContain('unknown flag --wacth; did you mean --watch?');
  });
});

test('a node failing at run time skips only what needs it; resume computes only the failed node', async () => {
  // The first test's workdir: the DAG's nodes come from its store.
  const workdir = join(root, 'five');
  const mask = join(root, 'mask.mrc');
  // Not a mask: values far outside [0, 1] (a mask must be within it).
  await writeMrc(mask, new Volume(32, 12, Float32Array.from({ length: 32 ** 3 }, (_, i) => (i % 5) * 3)));
  const spec = fiveNodeSpec(workdir, { name: 'fails' });
  spec.nodes.post = { type: 'postprocess', inputs: { halfMaps: 'average' }, params: { mask } };
  spec.nodes.postFsc = { type: 'fsc', inputs: { halfMaps: 'average' }, after: ['post'] };
  const handle = await startPipeline(client, spec, options);
  const f = await failureOf(handle.result());
  expect(f.message).toMatch(/node 'post' failed: params\.mask: mask .*mask\.mrc has the value .* \(skipped: postFsc\)/);
  const status = await handle.query(pipelineStatusQuery);
  expect(states(status)).toEqual({ data: 'reused', alignSag: 'reused', average: 'reused', fsc: 'reused', alignLm: 'reused', post: 'failed', postFsc: 'skipped' });

  // A proper mask in its place: resume reuses every completed node and computes the failed one and what needs it.
  await writeMrc(join(root, 'good-mask.mrc'), new Volume(32, 12, new Float32Array(32 ** 3).fill(1)));
  await copyFile(join(root, 'good-mask.mrc'), mask);
  const { handle: resumed } = await resumePipeline(client, handle.workflowId);
  const result = await resumed.result();
  expect(states(result)).toEqual({ data: 'reused', alignSag: 'reused', average: 'reused', fsc: 'reused', alignLm: 'reused', post: 'done', postFsc: 'reused' });
  const timeline = pipelineTimeline(await pipelineRuns(client, handle.workflowId));
  expect(timeline.runs.map((r) => r.outcome)).toEqual([expect.stringMatching(/^failed: .*node 'post'/), expect.stringMatching(/^completed \(resumed/)]);
  completed.push(handle.workflowId);
});

test('histories of completed pipelines replay without non-determinism errors', async () => {
  const histories = await Promise.all(completed.map(async (workflowId) => ({ workflowId, history: await client.workflow.getHandle(workflowId).fetchHistory() })));
  let replayed = 0;
  for await (const r of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
    expect(r.error, r.workflowId).toBeUndefined();
    replayed++;
  }
  expect(replayed).toBe(completed.length);
});
