/**
 * `npm run paper` as a pipeline (bench/paper-pipeline.yaml): the file validates and plans the campaigns and
 * the benchmark the reproduction always ran (same configs, same accuracy command), and a tiny variant of it —
 * two campaigns of one iteration on the tiny data set, a two-particle benchmark — runs end to end on the shared
 * dev server into docs/results.md and its figures, its campaigns child workflows of the one pipeline.
 */
import { readFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startPipeline } from '../app/pipelineClient.ts';
import { PAPER_ACTIVITIES, PAPER_PIPELINE, accuracyArgs, paperPipeline } from '../bench/paper-pipeline.ts';
import { REPO } from '../bench/portablePaths.ts';
import type { CampaignConfig } from '../model/campaign.ts';
import { planPipeline } from '../model/pipeline.ts';
import type { CampaignParams } from '../model/pipelineNodes.ts';
import { createSubtomoWorkers } from '../workers/subtomo.ts';
import { TINY_ALIGNMENT, TINY_DATA, testQueues } from './helpers/campaign.ts';
import { states } from './helpers/pipeline.ts';
import { temporalAddress } from './temporal-env.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const queues = testQueues('paper');
let env: TestWorkflowEnvironment;
let workers: { shutdown(): void };
let running: Promise<void>;
let root: string;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  const w = await createSubtomoWorkers({ connection: env.nativeConnection, queues, activities: PAPER_ACTIVITIES });
  running = w.run();
  workers = w;
  root = await mkdtemp(join(tmpdir(), 'subtomo-paper-'));
});

afterAll(async () => {
  workers?.shutdown();
  await running;
  await env?.teardown();
  if (root) await rm(root, { recursive: true, force: true });
});

const rawPaper = async () => parseYaml(await readFile(PAPER_PIPELINE, 'utf8')) as { nodes: Record<string, { params: Record<string, unknown>; matrix?: unknown }> };

test('bench/paper-pipeline.yaml plans the nine campaigns and the benchmark of the reproduction', async () => {
  const spec = await paperPipeline(await rawPaper(), dirname(PAPER_PIPELINE), 'npm run paper');
  expect(spec.workdir).toBe(join(REPO, '.subtomo/paper'));
  const plan = planPipeline(spec);
  const campaigns = plan.nodes.filter((n) => n.type === 'campaign');
  expect(campaigns.map((n) => n.campaignName)).toEqual(['sag', 'lm', 'chen'].flatMap((m) => ['tilt60', 'tilt40', 'tilt40-registered'].map((c) => `paper-${m}-${c}`)));
  const config = (name: string) => (campaigns.find((n) => n.campaignName === name)!.params as CampaignParams).config as Omit<CampaignConfig, 'name' | 'workdir'>;
  // As bench/paper.ts configured them before it became a pipeline (so their cached steps are found again).
  expect(config('paper-lm-tilt40-registered')).toEqual({
    data: {
      kind: 'simulate', particles: 50, size: 64, voxel: 6, snr: 0.003, tiltMin: -40, tiltMax: 40, tiltStep: 1, seed: 1, resolution: 20,
      maxShift: 4, defocus: 6, pdb: join(dirname(REPO), 'shared/data/1OEL.pdb'),
    },
    maxIterations: 12, patience: 3,
    alignment: { method: 'lm', candidates: 10, bandwidth: 32, maxShift: 8, mpiRanks: 2 },
    mask: { radius: 28, edge: 3 }, initialLowpass: 60, initialPoses: 'random', seed: 1, registerHalves: true,
  });
  expect(config('paper-sag-tilt60').registerHalves).toBeUndefined();
  expect(plan.nodes.find((n) => n.name === 'campaigns')!.sweep!.parallel).toBe(1);
  expect(plan.nodes.find((n) => n.name === 'accuracy')!.deps).toEqual(['campaigns']);
  expect(plan.nodes.map((n) => n.name).slice(-2)).toEqual(['accuracy', 'report']);
  // The benchmark's command, as docs/results/accuracy/accuracy.json records it.
  const accuracy = plan.nodes.find((n) => n.name === 'accuracy')!.params as Record<string, unknown>;
  const recorded = JSON.parse(await readFile(join(REPO, 'docs/results/accuracy/accuracy.json'), 'utf8')) as { command: string };
  expect(['npx', 'tsx', 'bench/accuracy.ts', ...accuracyArgs(accuracy, dirname(PAPER_PIPELINE)).written].join(' ')).toBe(recorded.command);
});

test('a tiny variant of it runs end to end: campaigns as children of one pipeline, then docs/results.md and its figures', async () => {
  const raw = await rawPaper();
  const out = join(root, 'docs');
  const campaigns = raw.nodes.campaigns;
  campaigns.params = {
    ...campaigns.params, data: { ...TINY_DATA, defocus: 6 }, maxIterations: 1, alignment: TINY_ALIGNMENT, mask: { radius: 12, edge: 3 },
  };
  campaigns.matrix = { 'alignment.method': ['sag', 'lm'], condition: [{ name: 'tilt60', 'data.tilt': 60 }] };
  raw.nodes.accuracy.params = {
    particles: 2, conditions: '0.01:60', size: 32, voxel: 12, candidates: 2, 'align-box': 'auto', seed: 1, out: join(out, 'results/accuracy'),
  };
  raw.nodes.report.params = { out };
  const spec = await paperPipeline({ ...raw, workdir: join(root, 'work') }, dirname(PAPER_PIPELINE), 'npm run paper -- --pipeline tiny.yaml');
  const handle = await startPipeline(env.client, spec, { queues, heartbeatTimeout: '30 seconds' });
  const result = await handle.result();
  expect(states(result)).toEqual({
    'campaigns[method=sag,condition=tilt60]': 'done', 'campaigns[method=lm,condition=tilt60]': 'done', campaigns: 'done', accuracy: 'done', report: 'done',
  });
  const children: string[] = [];
  for await (const w of env.client.workflow.list({ query: `ParentWorkflowId = '${handle.workflowId}'` })) children.push(`${w.type} ${w.workflowId}`);
  expect(children.sort()).toEqual(['lm', 'sag'].map((m) => `campaign ${handle.workflowId}/campaigns[method=${m},condition=tilt60]`));

  const results = await readFile(join(out, 'results.md'), 'utf8');
  expect(results).toMatch(/^# Reproducing Lü et al\. 2019/);
  expect(results).toContain('Generated by `npm run paper -- --pipeline tiny.yaml`');
  for (const m of ['sag', 'lm']) expect(results).toContain(`\`${handle.workflowId}/campaigns[method=${m},condition=tilt60]\``);
  for (const figure of ['resolution-tilt60.svg', 'fsc-tilt60.svg', 'pass-time-tilt60.svg', 'slices-tilt60-sag.png', 'accuracy/accuracy.json']) {
    expect((await stat(join(out, 'results', figure))).size, figure).toBeGreaterThan(0);
  }
  const saved = JSON.parse(await readFile(join(out, 'results/campaigns.json'), 'utf8')) as { plan: { methods: string[] }; records: { method: string }[] };
  expect(saved.plan.methods).toEqual(['sag', 'lm']);
  expect(saved.records.map((r) => r.method)).toEqual(['sag', 'lm']);
});
