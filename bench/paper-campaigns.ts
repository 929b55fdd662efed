/**
 * The reference-free campaigns of the paper reproduction (bench/paper.ts): one Temporal campaign per
 * (tilt range, method) on the same simulated particles, run by an embedded dev server and workers.
 *
 * A campaign's workflow id is derived from its config, so running the experiment again finds the completed
 * workflow on the server and reads its result and history instead of recomputing (the wall times stay those
 * of the run that computed it); on a fresh server the shared artifact store still reuses the simulation, the
 * split and the reference-free start across methods.
 */
import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { campaignRuns, startCampaign } from '../app/campaignClient.ts';
import { campaignTimeline, type StepEntry } from '../app/campaignHistory.ts';
import { watchCampaign } from '../app/campaignWatch.ts';
import type { ArtifactRef } from '../io/artifacts.ts';
import { validateConfig, type CampaignConfig } from '../model/campaign.ts';
import type { AlignMethod } from '../model/methods.ts';
import type { CampaignResult } from '../workflows/campaign.ts';

/** One simulated data set (CTF underfocus in µm, symmetric tilt range in degrees) and how its halves are treated. */
export interface DataCondition {
  defocus: number;
  tiltDeg: number;
  /** The campaign option registerHalves (docs/campaigns.md). */
  registerHalves: boolean;
}

export interface CampaignPlan {
  particles: number;
  snr: number;
  /** The paper simulated 6 µm underfocus, whose first CTF zero (34 Å) bounds every method's FSC. */
  conditions: DataCondition[];
  methods: AlignMethod[];
  maxIterations: number;
  patience: number;
  candidates: number;
  bandwidth: number;
  /** Atomic model; absent → the built-in phantom. */
  pdb?: string;
  seed: number;
  workdir: string;
}

/** Wall times (s) of one iteration's steps, from the workflow history. */
export interface IterationTiming {
  iteration: number;
  frmSeconds: number;
  refineSeconds: number;
  /** FRM + refinement: one alignment pass over all particles. */
  passSeconds: number;
  iterationSeconds: number;
  /**
   * FRM or refinement came from the artifact store (another method's campaign computed the same step, e.g.
   * the FRM candidates against the shared start): this iteration's pass time is not a computation time.
   */
  passReused: boolean;
  /** The refine step's alignment (AlignResult[] JSON) of this iteration. */
  alignment: ArtifactRef;
}

export interface CampaignRecord extends DataCondition {
  method: AlignMethod;
  workflowId: string;
  config: CampaignConfig;
  result: CampaignResult;
  timings: IterationTiming[];
  /** True when the completed workflow was found on the server (not run now). */
  found: boolean;
}

export function campaignConfig(plan: CampaignPlan, { defocus, tiltDeg, registerHalves }: DataCondition, method: AlignMethod): CampaignConfig {
  return validateConfig({
    name: `paper-${method}-tilt${tiltDeg}${defocus === 6 ? '' : `-defocus${defocus}`}${registerHalves ? '-registered' : ''}`,
    workdir: plan.workdir,
    data: {
      particles: plan.particles, size: 64, voxel: 6, snr: plan.snr, tilt: tiltDeg, tiltStep: 1, seed: plan.seed,
      resolution: 20, maxShift: 4, defocus, ...(plan.pdb ? { pdb: plan.pdb } : {}),
    },
    maxIterations: plan.maxIterations,
    patience: plan.patience,
    // FTM radius covers the largest simulated shift (4·√3 voxels) plus one.
    alignment: { method, bandwidth: plan.bandwidth, candidates: plan.candidates, maxShift: 8, mpiRanks: 2 },
    mask: { radius: 28, edge: 3 },
    initialLowpass: 60,
    initialPoses: 'random',
    seed: plan.seed,
    ...(registerHalves ? { registerHalves } : {}),
  });
}

function workflowIdOf(config: CampaignConfig): string {
  const hash = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 12);
  return `${config.name}-${hash}`;
}

const seconds = (s: StepEntry | undefined) => (s?.endMs === undefined ? NaN : (s.endMs - s.scheduledMs) / 1000);

/** Per aligned iteration: step wall times and the alignment artifact, from the completed attempt of each step. */
export function iterationTimings(steps: readonly StepEntry[]): IterationTiming[] {
  const done = steps.filter((s) => s.outcome === 'completed' && s.iteration > 0);
  const iterations = [...new Set(done.map((s) => s.iteration))].sort((a, b) => a - b);
  return iterations.flatMap((iteration) => {
    const of = (step: string) => done.find((s) => s.iteration === iteration && s.step === step);
    const frm = of('frm');
    const refine = of('refine');
    const report = of('report');
    if (!frm || !refine || !report) return [];
    return [{
      iteration,
      frmSeconds: seconds(frm),
      refineSeconds: seconds(refine),
      passSeconds: seconds(frm) + seconds(refine),
      iterationSeconds: (report.endMs! - frm.scheduledMs) / 1000,
      passReused: Boolean(frm.result?.reused || refine.result?.reused),
      alignment: (refine.result as { alignment: ArtifactRef }).alignment,
    }];
  });
}

/** Runs (or finds) the campaign of one tilt range and method and reads its history. */
export async function runPaperCampaign(client: Client, plan: CampaignPlan, condition: DataCondition, method: AlignMethod, log: (line: string) => void): Promise<CampaignRecord> {
  const config = campaignConfig(plan, condition, method);
  const { tiltDeg, defocus, registerHalves } = condition;
  const workflowId = workflowIdOf(config);
  const status = await client.workflow.getHandle(workflowId).describe().then((d) => d.status.name, () => null);
  const found = status === 'COMPLETED';
  if (!found) {
    if (status === 'RUNNING' || status === 'CONTINUED_AS_NEW') {
      log(`campaign ${workflowId} is already running: following it`);
    } else {
      log(`campaign ${workflowId}: ±${tiltDeg}°, ${defocus} µm, ${method}${registerHalves ? ', halves registered' : ''}, ${plan.particles} particles, ≤ ${plan.maxIterations} iterations`);
      await startCampaign(client, config, { workflowId });
    }
    if (!(await watchCampaign(client, workflowId))) throw new Error(`campaign ${workflowId} did not complete (see subtomo campaign history ${workflowId})`);
  } else {
    log(`campaign ${workflowId} completed earlier: reading its result and history`);
  }
  const result = await client.workflow.getHandle<() => Promise<CampaignResult>>(workflowId).result();
  const timings = iterationTimings(campaignTimeline(await campaignRuns(client, workflowId)).steps);
  return { tiltDeg, defocus, registerHalves, method, workflowId, config, result, timings, found };
}
