/**
 * Campaigns that start from what a scientist already has, on the shared dev server with the real rank
 * programs: a particle list with poses (refined locally within alignment.angularRange), a reference map
 * instead of the reference-free start, and the structure's point group imposed on each half map.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { CandidatesFile } from '../activities/align.ts';
import { campaignRuns, startCampaign } from '../app/campaignClient.ts';
import { campaignTimeline } from '../app/campaignHistory.ts';
import { resultSummary } from '../app/campaignWatch.ts';
import { groelPhantom } from '../core/phantom.ts';
import { Rng } from '../core/random.ts';
import {
  type Pose, eulerToMatrix, matrixToEuler, multiply, radians, randomRotation, rotationAngle, rotationZ, transpose,
} from '../core/rotate.ts';
import { densityModel } from '../core/simulate.ts';
import { rotationErrorUnderSymmetry, symmetrise } from '../core/symmetry.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { writeSimulatedDataset } from '../drivers/simulate.ts';
import { readMrc } from '../io/mrc.ts';
import { readParticleList, writeParticleList } from '../io/particles.ts';
import type { AverageJob, ParticleAlignment } from '../model/jobs.ts';
import { runAverageJob } from '../mpi/averageWork.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { TEST_HEARTBEAT, TINY_ALIGNMENT, startWorkers, testQueues, tinyConfig } from './helpers/campaign.ts';
import { temporalAddress } from './temporal-env.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const queues = testQueues('starts');
let env: TestWorkflowEnvironment;
let client: Client;
let workers: { stop: () => Promise<void> };
let root: string;
const truth = new Map<string, Pose>();
const start = new Map<string, Pose>();
/** How far the list's poses are from the truth. */
const PERTURBATION = radians(12);

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  client = env.client;
  workers = await startWorkers(env.nativeConnection, queues, await bundleCampaignWorkflows());
  root = await mkdtemp(join(tmpdir(), 'subtomo-starts-'));
  // 16 particles of the D7 phantom, 32³ at 12 Å; their list's poses are the true ones turned by 12° about a random axis.
  const data = join(root, 'data');
  await mkdir(data);
  const config = {
    n: 32, voxelSize: 12, resolution: 30, tilt: symmetricTilt(60), tiltStep: radians(3), snr: 0.1, maxShift: 2, seed: 9,
    imaging: { ctf: null, mtf: false },
  };
  await writeSimulatedDataset(data, { config, count: 16, components: [{ label: 'phantom', source: 'phantom', model: densityModel(groelPhantom()), fraction: 1 }], weighting: 'atomic-number' });
  const list = await readParticleList(join(data, 'particles.star'));
  const rng = new Rng(3);
  const particles = list.particles.map((p) => {
    truth.set(p.name, p.pose!);
    // Turned by exactly PERTURBATION about a random axis: R·(Q·Rz·Qᵀ).
    const Q = randomRotation(rng);
    const R = multiply(eulerToMatrix(p.pose!), multiply(multiply(Q, rotationZ(PERTURBATION)), transpose(Q)));
    const pose = { ...p.pose!, ...matrixToEuler(R) };
    start.set(p.name, pose);
    return { ...p, pose };
  });
  await writeParticleList({ ...list, particles }, join(data, 'start.star'), 'relion4');
});

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
  if (root) await rm(root, { recursive: true, force: true });
});

const errorOf = (pose: Pose, name: string) => rotationErrorUnderSymmetry(eulerToMatrix(pose), eulerToMatrix(truth.get(name)!), 'D7');

test('a campaign from a list with poses and a reference map refines locally, under D7, from that start', async () => {
  for (const [name, pose] of start) expect(errorOf(pose, name)).toBeCloseTo(PERTURBATION, 6);
  const workdir = join(root, 'local');
  const config = tinyConfig(workdir, {
    data: { star: join(root, 'data', 'start.star') },
    initialPoses: 'star',
    reference: join(root, 'data', 'reference.mrc'),
    symmetry: 'D7',
    maxIterations: 1,
    alignment: { ...TINY_ALIGNMENT, candidates: 3, angularRange: 20 },
  });
  const handle = await startCampaign(client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT });
  const result = await handle.result();

  // A reference start leaves no half averages to measure: the history starts at iteration 1.
  expect(result.iterations.map((i) => i.iteration)).toEqual([1]);
  const timeline = campaignTimeline(await campaignRuns(client, handle.workflowId));
  expect(timeline.steps.filter((s) => s.iteration === 0).map((s) => s.step)).toEqual(['load', 'split', 'initial-references']);

  // Every particle's candidates start with its list pose and stay within the range of it.
  const frm = timeline.steps.find((s) => s.step === 'frm')!.result as { candidates: { path: string } };
  const candidates = JSON.parse(await readFile(frm.candidates.path, 'utf8')) as CandidatesFile;
  for (const p of candidates.particles) {
    const prior = eulerToMatrix(start.get(p.name)!);
    expect(rotationAngle(eulerToMatrix(p.candidates[0]), prior)).toBeLessThan(1e-9);
    for (const c of p.candidates) expect(rotationErrorUnderSymmetry(eulerToMatrix(c), prior, 'D7')).toBeLessThanOrEqual(radians(20) + 1e-9);
  }

  // The refinement moved the poses towards the truth.
  const alignment = JSON.parse(await readFile(result.artifacts.alignment!.path, 'utf8')) as ParticleAlignment[];
  const errors = alignment.map((a) => errorOf(a.pose, a.name)).sort((a, b) => a - b);
  const median = errors[errors.length >> 1];
  // Measured: median 5.1°, all within 12.5° (a local search cannot wander off).
  expect(median).toBeLessThan(radians(6));
  expect(errors[errors.length - 1]).toBeLessThan(radians(14));

  // D7 was imposed on each half map on its own: each is the symmetrised C1 average of its particles.
  const { odd } = result.artifacts.averages!;
  const job = JSON.parse(await readFile(join(dirname(odd.path), 'average-job.json'), 'utf8')) as AverageJob;
  expect(job.symmetry).toBe('D7');
  const c1 = join(root, 'c1');
  await mkdir(c1);
  const { symmetry: _d7, ...unsymmetrised } = job;
  await runAverageJob({ ...unsymmetrised, out: { odd: join(c1, 'odd.mrc'), even: join(c1, 'even.mrc'), combined: join(c1, 'combined.mrc') } });
  const expected = symmetrise(await readMrc(join(c1, 'odd.mrc')), 'D7');
  const actual = await readMrc(odd.path);
  let worst = 0;
  for (let i = 0; i < actual.data.length; i++) worst = Math.max(worst, Math.abs(actual.data[i] - expected.data[i]));
  expect(worst).toBeLessThan(1e-5 * Math.max(...expected.data.map(Math.abs)));

  // Both halves started from the same map and agree in orientation; the summary says where the maps are.
  expect(result.iterations[0].halvesAngle).toBeLessThan(radians(10));
  const summary = resultSummary(result);
  expect(summary).toContain(`combined map: ${result.artifacts.averages!.combined.path}`);
  expect(summary).toContain(`half maps: ${result.artifacts.averages!.odd.path} ${result.artifacts.averages!.even.path}`);
  expect(summary).toContain(`FSC curve: ${result.iterations[0].fsc.path}`);
  expect(summary).toContain(`report: ${result.artifacts.reportPath}`);
});
