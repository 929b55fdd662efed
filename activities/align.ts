/**
 * Alignment activities: FRM rotation candidates per particle (in this process), then the SAG refinement of
 * every candidate by the MPI rank program mpi/alignRank.ts, which keeps the lowest dissimilarity.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alignBoxFor } from '../core/align.ts';
import { shellOfResolution } from '../core/filters.ts';
import { frmCandidates as rotationCandidates } from '../core/frm.ts';
import { degrees } from '../core/rotate.ts';
import type { Volume } from '../core/volume.ts';
import type { ArtifactRef } from '../io/artifacts.ts';
import { writeJobFile } from '../mpi/jobFiles.ts';
import type { AlignJob, AlignResult, ParticleEntry } from '../mpi/jobs.ts';
import type { AlignMethod } from '../workflows/config.ts';
import { checkedRef, invalidInput, readJsonArtifact, readVolume, reportProgress, runCampaignStep, type Reuse } from './common.ts';
import { runMpiStep } from './mpiStep.ts';
import { HALVES, readParticleSet } from './particles.ts';
import type { Half } from '../core/halfmaps.ts';
import { LOWPASS_EDGE_SHELLS, type HalfRefs, type MaskParams } from './references.ts';

export interface CandidatesFile {
  particles: { name: string; half: Half; candidates: ParticleEntry['candidates'] }[];
}

export interface FrmInput {
  workdir: string;
  halves: ArtifactRef;
  references: HalfRefs;
  bandwidth: number;
  candidates: number;
}

/** FRM candidates of every particle against its own half-set's reference; writes candidates JSON (degrees). */
export async function frmCandidates(input: FrmInput): Promise<{ candidates: ArtifactRef } & Reuse> {
  const { particles } = await readParticleSet(input.halves);
  const params = { bandwidth: input.bandwidth, topN: input.candidates };
  const inputs = { halves: input.halves, even: input.references.even, odd: input.references.odd };
  const step = await runCampaignStep(input.workdir, 'frm', params, inputs, async (dir) => {
    const refs = {} as Record<Half, Volume>;
    for (const half of HALVES) refs[half] = await readVolume(input.references[half], `${half} half reference`);
    const out: CandidatesFile = { particles: [] };
    for (let i = 0; i < particles.length; i++) {
      const p = particles[i];
      const volume = await readVolume(p.ref, `particle ${p.name}`);
      const found = rotationCandidates(refs[p.half!], volume, { bandwidth: input.bandwidth, topN: input.candidates, wedgeParticle: p.tilt });
      out.particles.push({
        name: p.name,
        half: p.half!,
        candidates: found.map((c) => ({ phi: degrees(c.euler.phi), theta: degrees(c.euler.theta), psi: degrees(c.euler.psi), score: c.score })),
      });
      await reportProgress({ step: 'frm', done: i + 1, total: particles.length, detail: p.name });
    }
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
  /** Seeds SAG's slice order (the workflow derives it from the campaign seed and the iteration). */
  seed: number;
  /** Resolution (Å) the references were low-passed at: the refinement runs binned to the box that holds it. */
  referenceResolution: number;
  mpiRanks: number;
  hostfile?: string;
}

export interface RefineResult extends Reuse {
  /** AlignResult[] JSON in particle order. */
  alignment: ArtifactRef;
  /** The winning poses as RELION STAR. */
  star: ArtifactRef;
  meanCcc: number;
}

const ALIGN_RANK = fileURLToPath(new URL('../mpi/alignRank.ts', import.meta.url));

/**
 * SAG refinement of every particle's FRM candidates against its half's reference, the lowest dissimilarity
 * winning: an MPI job of mpi/alignRank.ts (progress counts particle × candidate pairs).
 */
export async function refine(input: RefineInput): Promise<RefineResult> {
  const { set, particles } = await readParticleSet(input.halves);
  // The references carry nothing beyond their low-pass edge, so aligning at a Fourier-cropped box loses nothing.
  const lowpassShell = shellOfResolution(set.boxSize, set.voxelSize, input.referenceResolution) + LOWPASS_EDGE_SHELLS / 2;
  const alignBox = alignBoxFor(set.boxSize, lowpassShell);
  const candidates = await readJsonArtifact<CandidatesFile>(input.candidates, 'FRM candidates');
  const byName = new Map(candidates.particles.map((c) => [c.name, c.candidates]));
  for (const half of HALVES) await checkedRef(input.references[half], `${half} half reference`);
  for (const p of particles) await checkedRef(p.ref, `particle ${p.name}`);
  const job = (dir: string): AlignJob => ({
    method: input.method,
    particles: particles.map((p) => {
      const found = byName.get(p.name);
      if (!found || found.length === 0) throw invalidInput(`${input.candidates.path} has no FRM candidates for particle ${p.name}`);
      return { name: p.name, path: p.path, tiltMin: p.tiltMinDeg, tiltMax: p.tiltMaxDeg, reference: input.references[p.half].path, candidates: found };
    }),
    maxShift: input.maxShift,
    mask: input.mask,
    alignBox,
    seed: input.seed,
    out: join(dir, 'alignment.json'),
    outStar: join(dir, 'poses.star'),
  });
  const step = await runMpiStep({
    workdir: input.workdir,
    step: 'refine',
    params: { method: input.method, maxShift: input.maxShift, mask: input.mask, seed: input.seed, alignBox },
    inputs: { halves: input.halves, candidates: input.candidates, odd: input.references.odd, even: input.references.even },
    entry: ALIGN_RANK,
    np: input.mpiRanks,
    hostfile: input.hostfile,
    total: particles.reduce((sum, p) => sum + (byName.get(p.name)?.length ?? 0), 0),
    writeJob: async (dir) => {
      const jobFile = join(dir, 'align-job.json');
      await writeJobFile(jobFile, job(dir));
      return { jobFile, outputs: { alignment: 'alignment.json', star: 'poses.star' } };
    },
  });
  const results = await readJsonArtifact<AlignResult[]>(step.outputs.alignment, 'alignment');
  const missing = particles.find((p) => !results.some((r) => r.name === p.name));
  if (missing) throw new Error(`${step.outputs.alignment.path} has no result for particle ${missing.name}`);
  const meanCcc = results.reduce((s, r) => s + r.ccc, 0) / results.length;
  return { alignment: step.outputs.alignment, star: step.outputs.star, meanCcc, reused: step.reused };
}
