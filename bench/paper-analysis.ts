/**
 * What the paper reproduction measures on a finished campaign, from its artifacts: every particle's rotation
 * error per iteration against the simulation's true poses (core/frame.ts takes out each half-set's global
 * frame, since a reference-free reference has no absolute orientation), and the maps Fig. 7 shows.
 */
import { dirname, join } from 'node:path';
import { readJsonArtifact, readVolumeArtifact } from '../activities/common.ts';
import { readParticleSet } from '../activities/particles.ts';
import { softSphereMask } from '../core/filters.ts';
import { fitGlobalFrame } from '../core/frame.ts';
import { fscCurve, goldStandardResolution } from '../core/fsc.ts';
import type { Half } from '../core/halfmaps.ts';
import { referenceShell } from '../core/reference.ts';
import { registerMaps } from '../core/register.ts';
import { type Mat3, degrees, eulerToMatrix, multiply, transformVolumeByMatrix, transpose } from '../core/rotate.ts';
import { rotationErrorUnderSymmetry } from '../core/symmetry.ts';
import type { Volume } from '../core/volume.ts';
import type { ArtifactRef } from '../io/artifacts.ts';
import { readMrc } from '../io/mrc.ts';
import { poseFromRelion, readStar, starBlock } from '../io/star.ts';
import { campaignMask } from '../model/campaign.ts';
import type { ParticleAlignment } from '../model/jobs.ts';
import type { CampaignRecord } from './paper-campaigns.ts';

/** D7: GroEL (1OEL's assembly and the phantom), as in the accuracy benchmark. */
export const SYMMETRY = 'D7';

export interface SimulationTruth {
  /** Particle name → true rotation and gold-standard half. */
  particles: Map<string, { rotation: Mat3; half: Half }>;
  /** Noise-free density the particles were simulated from (the simulate step's reference.mrc). */
  reference: Volume;
}

/** True poses from the STAR a campaign's simulate step wrote, with the campaign's half-sets (its `halves` artifact). */
export async function simulationTruth(halves: ArtifactRef): Promise<SimulationTruth> {
  const { set, particles } = await readParticleSet(halves);
  const table = starBlock(await readStar(set.source), 'particles', set.source);
  const names = table.columns.indexOf('rlnImageName');
  const halfOf = new Map(particles.map((p) => [p.name, p.half]));
  const truth = new Map<string, { rotation: Mat3; half: Half }>();
  table.rows.forEach((row, i) => {
    const name = String(row[names]);
    const half = halfOf.get(name);
    if (!half) throw new Error(`${set.source}: particle ${name} is not in the campaign's half-sets`);
    truth.set(name, { rotation: eulerToMatrix(poseFromRelion(table, i, set.voxelSize, set.source)), half });
  });
  return { particles: truth, reference: await readMrc(join(dirname(set.source), 'reference.mrc')) };
}

export interface IterationErrors {
  iteration: number;
  /** Particle name → rotation error (degrees) with its half's global frame taken out, under D7. */
  errorsDeg: Map<string, number>;
  /** Per half: the global frame G and how many particles agreed on it (within 15°). */
  frames: Record<Half, { frame: Mat3; inliers: number; count: number }>;
  /**
   * Angle between the odd and even frames (degrees, under D7): how far the two independent references have
   * turned apart. The FSC compares the half maps as they are, so this lowers it even when every particle
   * agrees with its own half's reference.
   */
  halvesDeg: number;
}

export async function iterationErrors(truth: SimulationTruth, iteration: number, alignment: ArtifactRef): Promise<IterationErrors> {
  const results = await readJsonArtifact<ParticleAlignment[]>(alignment, `alignment of iteration ${iteration}`);
  const errorsDeg = new Map<string, number>();
  const frames = {} as IterationErrors['frames'];
  for (const half of ['odd', 'even'] as const) {
    const mine = results.filter((r) => truth.particles.get(r.name)?.half === half);
    const estimates = mine.map((r) => eulerToMatrix(r.pose));
    const fit = fitGlobalFrame(estimates, mine.map((r) => truth.particles.get(r.name)!.rotation), SYMMETRY);
    mine.forEach((r, i) => errorsDeg.set(r.name, fit.errorsDeg[i]));
    frames[half] = { frame: fit.frame, inliers: fit.inliers, count: mine.length };
  }
  return { iteration, errorsDeg, frames, halvesDeg: degrees(rotationErrorUnderSymmetry(frames.odd.frame, frames.even.frame, SYMMETRY)) };
}

export interface CampaignAnalysis {
  record: CampaignRecord;
  errors: IterationErrors[];
  /** Aligned iteration with the best 0.143 resolution (the paper reports the best). */
  best: number;
  /** Combined average of the last iteration: the campaign's result. */
  finalAverage: Volume;
  /**
   * Gold-standard resolution (Å) of the last iteration's half maps after bringing the even map into the odd
   * map's frame: `byData` registers the maps to each other (core/register.ts, as a campaign could), `byTruth`
   * turns the even map by G_odd·G_evenᵀ of the frames fitted to the true poses (a diagnostic only). What the
   * FSC would be had the two independent references not turned apart.
   */
  registeredHalves: { byData: number; byTruth: number };
}

async function registeredHalves(record: CampaignRecord, frames: IterationErrors['frames']): Promise<CampaignAnalysis['registeredHalves']> {
  const { averages } = record.result.artifacts;
  if (!averages) throw new Error(`${record.workflowId}: the campaign recorded no half averages`);
  const odd = await readVolumeArtifact(averages.odd, 'odd half average');
  const even = await readVolumeArtifact(averages.even, 'even half average');
  const { radius, edge } = campaignMask(record.config, odd.n);
  const mask = softSphereMask(odd.n, radius, edge);
  const resolution = (map: Volume) => goldStandardResolution(fscCurve(odd, map, mask), odd.voxelSize, odd.n);
  // The shell a reference low-passed at the final resolution reaches, as the campaign's registerHalves step uses.
  const lowpassShell = referenceShell(odd.n, odd.voxelSize, record.result.finalResolution);
  const byData = registerMaps(odd, even, { mask, lowpassShell, maxShift: 4, seed: record.config.seed }).registered;
  const byTruth = transformVolumeByMatrix(even, multiply(frames.odd.frame, transpose(frames.even.frame)), [0, 0, 0]);
  return { byData: resolution(byData), byTruth: resolution(byTruth) };
}

export async function analyseCampaign(record: CampaignRecord, truth: SimulationTruth): Promise<CampaignAnalysis> {
  const errors: IterationErrors[] = [];
  for (const t of record.timings) errors.push(await iterationErrors(truth, t.iteration, t.alignment));
  const aligned = record.result.iterations.filter((it) => it.iteration > 0);
  const best = aligned.reduce((a, b) => (b.resolution0143 < a.resolution0143 ? b : a));
  const last = aligned[aligned.length - 1];
  return {
    record,
    errors,
    best: best.iteration,
    finalAverage: await readVolumeArtifact(last.combined, `average of iteration ${last.iteration}`),
    registeredHalves: await registeredHalves(record, errors[errors.length - 1].frames),
  };
}
