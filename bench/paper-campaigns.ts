/**
 * The reference-free campaigns of the paper reproduction (bench/paper-pipeline.yaml): one campaign per
 * (data set, method) on the same simulated particles, children of the paper's pipeline workflow. Read back
 * from the server — result, config and, from the history, the wall time of every alignment pass — for the
 * report. A campaign adopted by a re-run pipeline keeps the history (and the wall times) of the run that
 * computed it.
 */
import type { Client } from '@temporalio/client';
import { campaignRuns } from '../app/campaignClient.ts';
import { campaignTimeline, type StepEntry } from '../app/campaignHistory.ts';
import type { ArtifactRef } from '../io/artifacts.ts';
import type { CampaignConfig } from '../model/campaign.ts';
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
  /** Read back from the server (always, now that the pipeline runs them; kept for campaigns.json's layout). */
  found: boolean;
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

/** The record of a completed campaign: its config and result, and the wall times of its passes from its history. */
export async function readCampaignRecord(client: Client, workflowId: string): Promise<CampaignRecord> {
  const runs = await campaignRuns(client, workflowId);
  const { config } = runs[0].input;
  const { data } = config;
  if (data.kind !== 'simulate' || typeof data.defocus !== 'number') {
    throw new Error(`campaign ${workflowId} does not simulate its data at one defocus, as the paper's campaigns do`);
  }
  const result = await client.workflow.getHandle<() => Promise<CampaignResult>>(workflowId).result();
  const timings = iterationTimings(campaignTimeline(runs).steps);
  return {
    tiltDeg: data.tiltMax, defocus: data.defocus, registerHalves: config.registerHalves === true, method: config.alignment.method,
    workflowId, config, result, timings, found: true,
  };
}
