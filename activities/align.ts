/**
 * Alignment activities, the paper's Algorithm 3 (drivers/align.ts) as two cached steps: FRM rotation
 * candidates of every particle against its half-set's reference (in this process), then the refinement of
 * every candidate on MPI ranks, the lowest dissimilarity winning.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { alignBoxFor } from '../core/align.ts';
import { referenceShell } from '../core/reference.ts';
import type { Half } from '../core/halfmaps.ts';
import type { Pose } from '../core/rotate.ts';
import { type AlignTarget, type RefinementSettings, alignJob, findCandidates, meanRefinedCcc, runAlignment } from '../drivers/align.ts';
import type { ArtifactRef } from '../io/artifacts.ts';
import type { MpiRanks } from '../model/jobs.ts';
import type { AlignParticle, Candidate, ParticleAlignment, SagSettings } from '../model/jobs.ts';
import type { AlignMethod } from '../model/methods.ts';
import { checkedRef, invalidInput, readJsonArtifact, readVolumeArtifact, reportProgress, runCampaignStep, type Reuse } from './common.ts';
import { runMpiStep } from './mpiStep.ts';
import { HALVES, posesByName, readParticleSet, type Particle, type PoseEntry } from './particles.ts';
import type { HalfRefs, MaskParams } from './references.ts';

export interface CandidatesFile {
  particles: { name: string; half: Half; candidates: Candidate[] }[];
}

export interface FrmInput {
  workdir: string;
  halves: ArtifactRef;
  references: HalfRefs;
  bandwidth: number;
  candidates: number;
  /** Point group of the structure (symmetry mates are one candidate). */
  symmetry?: string;
  /** Local search around each particle's previous pose instead of a global one. */
  local?: {
    /** Radians. */
    angularRange: number;
    /** The previous poses: PoseEntry[] JSON (the start's poses, or the last refine step's alignment). */
    priors: ArtifactRef;
  };
}

/** The alignment target of each particle: its own half-set's reference (and its prior, for a local search). */
function targetsOf(particles: readonly Particle[], references: HalfRefs, priors?: Map<string, Pose>): AlignTarget[] {
  return particles.map((p) => ({
    name: p.name, path: p.path, tilt: p.tilt, ...(p.ctf && { ctf: p.ctf }), ...(p.ctfImage && { ctfImage: p.ctfImage }),
    reference: references[p.half].path, ...(priors && { prior: priors.get(p.name)! }),
  }));
}

/** FRM candidates of every particle against its own half-set's reference; writes candidates JSON. */
export async function frmCandidates(input: FrmInput): Promise<{ candidates: ArtifactRef } & Reuse> {
  const { particles } = await readParticleSet(input.halves);
  const { local } = input;
  const params = {
    bandwidth: input.bandwidth, topN: input.candidates, symmetry: input.symmetry ?? null, angularRange: local?.angularRange ?? null,
  };
  const inputs = { halves: input.halves, even: input.references.even, odd: input.references.odd, ...(local && { priors: local.priors }) };
  const priors = local && posesByName(await readJsonArtifact<PoseEntry[]>(local.priors, 'previous poses'), particles, local.priors.path);
  const step = await runCampaignStep(input.workdir, 'frm', params, inputs, async (dir) => {
    const refByPath = new Map(HALVES.map((half) => [input.references[half].path, { ref: input.references[half], half }]));
    const byName = new Map(particles.map((p) => [p.name, p]));
    const settings = { ...input, ...(local && { angularRange: local.angularRange }) };
    const found = await findCandidates(targetsOf(particles, input.references, priors), settings, {
      reference: async (path) => {
        const { ref, half } = refByPath.get(path)!;
        return readVolumeArtifact(ref, `${half} half reference`);
      },
      particle: async (t) => readVolumeArtifact(byName.get(t.name)!.ref, `particle ${t.name}`),
    }, (done, name) => reportProgress({ step: 'frm', done, total: particles.length, detail: name }));
    const out: CandidatesFile = {
      particles: found.map((f, i) => ({ name: f.name, half: particles[i].half, candidates: f.candidates })),
    };
    await writeFile(join(dir, 'candidates.json'), `${JSON.stringify(out)}\n`);
    return { candidates: 'candidates.json' };
  });
  return { candidates: step.outputs.candidates, reused: step.reused };
}

export interface RefineInput {
  workdir: string;
  halves: ArtifactRef;
  references: HalfRefs;
  candidates: ArtifactRef;
  method: AlignMethod;
  maxShift: number;
  mask: MaskParams;
  sag?: SagSettings;
  /** Seeds SAG's slice order (the workflow derives it from the campaign seed and the iteration). */
  seed: number;
  /** Resolution (Å) the references were low-passed at: the refinement runs binned to the box that holds it. */
  referenceResolution: number;
  mpi: MpiRanks;
}

export interface RefineResult extends Reuse {
  /** ParticleAlignment[] JSON in particle order. */
  alignment: ArtifactRef;
  /** The winning poses as RELION STAR. */
  star: ArtifactRef;
  meanCcc: number;
}

/**
 * Refinement of every particle's FRM candidates against its half's reference, the lowest dissimilarity
 * winning: an MPI job (progress counts particle × candidate pairs).
 */
export async function refine(input: RefineInput): Promise<RefineResult> {
  const { set, particles } = await readParticleSet(input.halves);
  // The references carry nothing beyond their low-pass edge, so aligning at a Fourier-cropped box loses nothing.
  const lowpassShell = referenceShell(set.boxSize, set.voxelSize, input.referenceResolution);
  const alignBox = alignBoxFor(set.boxSize, lowpassShell);
  const candidates = await readJsonArtifact<CandidatesFile>(input.candidates, 'FRM candidates');
  const byName = new Map(candidates.particles.map((c) => [c.name, c.candidates]));
  for (const half of HALVES) await checkedRef(input.references[half], `${half} half reference`);
  for (const p of particles) await checkedRef(p.ref, `particle ${p.name}`);
  const entries: AlignParticle[] = targetsOf(particles, input.references).map((t) => {
    const found = byName.get(t.name);
    if (!found || found.length === 0) throw invalidInput(`${input.candidates.path} has no FRM candidates for particle ${t.name}`);
    return { ...t, candidates: found };
  });
  const settings: RefinementSettings = {
    method: input.method, maxShift: input.maxShift, mask: input.mask, alignBox, seed: input.seed, ...(input.sag && { sag: input.sag }),
  };
  const step = await runMpiStep({
    workdir: input.workdir,
    step: 'refine',
    params: settings,
    inputs: { halves: input.halves, candidates: input.candidates, odd: input.references.odd, even: input.references.even },
    mpi: input.mpi,
    boxSize: set.boxSize,
    total: entries.reduce((sum, p) => sum + p.candidates.length, 0),
    run: async (dir, exec) => {
      const job = alignJob(entries, settings, { results: join(dir, 'alignment.json'), star: join(dir, 'poses.star') });
      await runAlignment(job, { ...exec, jobFile: join(dir, 'align-job.json') });
      return { alignment: 'alignment.json', star: 'poses.star' };
    },
  });
  const results = await readJsonArtifact<ParticleAlignment[]>(step.outputs.alignment, 'alignment');
  const missing = particles.find((p) => !results.some((r) => r.name === p.name));
  if (missing) throw new Error(`${step.outputs.alignment.path} has no result for particle ${missing.name}`);
  if (results.every((r) => r.failed)) {
    throw new Error(`no particle could be refined from any of its candidates: ${results[0]?.candidateFailures[0]?.reason ?? 'no result'}`);
  }
  const meanCcc = meanRefinedCcc(results);
  return { alignment: step.outputs.alignment, star: step.outputs.star, meanCcc, reused: step.reused };
}
