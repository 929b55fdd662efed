/**
 * Alignment of one particle against a reference: the paper's Algorithm 3 without MPI.
 *
 *   for each rotation candidate R_j (from FRM): T_j = FTM(R_j); refine (R_j, T_j) locally
 *   (SAG Algorithm 2 / Algorithm 1, Xu's LM or Chen's iterative search); keep the lowest dissimilarity.
 *
 * The work unit is one (particle × candidate) job, `refineCandidate`, and the winner is chosen by
 * `pickBest`, so an MPI rank program can run any subset of the jobs and rank 0 can reduce the results
 * with the same function. Jobs are deterministic: SAG's slice order is seeded by
 * Rng.derive(seed, candidateIndex), independent of which rank runs the job or in which order.
 * Results are plain numbers (JSON-safe).
 */
import { ConstrainedObjective, type RefinementResult } from './alignobjective.ts';
import { type ChenOptions, refineChen } from './chen.ts';
import { TranslationMatcher } from './ftm.ts';
import { type LmOptions, refineLm } from './lm.ts';
import { Rng } from './random.ts';
import { type Mat3, type Pose, poseFromMatrix } from './rotate.ts';
import { type SagOptions, refineSag } from './sag.ts';
import type { Volume } from './volume.ts';
import type { TiltRange } from './wedge.ts';

export type RefineMethod = 'sag' | 'sag1' | 'lm' | 'chen';
export const REFINE_METHODS: readonly RefineMethod[] = ['sag', 'sag1', 'lm', 'chen'];

export interface RefineSettings {
  /** 'sag' = SAG Algorithm 2 (mini-batches), 'sag1' = SAG Algorithm 1, 'lm' = Xu's LM, 'chen' = Chen's search. */
  method: RefineMethod;
  /** Largest shift searched by FTM, voxels. */
  maxShift: number;
  /** Real-space mask (n³); omitted = whole box. */
  mask?: Float32Array;
  /** Particle tilt range; omitted = fully observed. */
  wedgeParticle?: TiltRange;
  /** Reference tilt range; omitted = fully observed (the usual case). */
  wedgeRef?: TiltRange;
  /** SAG options ('sag' forces algorithm 2, 'sag1' algorithm 1; the seed comes from `seed`). */
  sag?: SagOptions;
  lm?: LmOptions;
  chen?: ChenOptions;
  /** Seed of the job's random streams (SAG slice order); default 0. */
  seed?: number;
}

/** One (particle × candidate) refinement. */
export interface RefineJob extends RefineSettings {
  reference: Volume;
  particle: Volume;
  /** Candidate rotation (row-major 3×3), e.g. from core/frm.ts. */
  candidate: { R: ArrayLike<number> };
  /** Position of the candidate in the particle's candidate list (seeds the job, breaks ties). */
  candidateIndex: number;
}

export interface CandidateResult extends RefinementResult {
  candidateIndex: number;
  method: RefineMethod;
  /** Where the refinement started: the candidate rotation with its FTM shift and score. */
  start: { R: number[]; t: [number, number, number]; pose: Pose; ftmScore: number };
  /** Wall time of FTM + refinement. */
  seconds: number;
}

/**
 * What the jobs of one particle share (the particle spectrum for FTM, the objective's voxel lists and
 * buffers); build it once per particle and pass it to every `refineCandidate` of that particle.
 */
export class ParticleContext {
  readonly objective: ConstrainedObjective;
  readonly matcher: TranslationMatcher;

  constructor(reference: Volume, particle: Volume, settings: Pick<RefineSettings, 'mask' | 'wedgeParticle' | 'wedgeRef'>) {
    if (reference.n !== particle.n) {
      throw new RangeError(`reference is ${reference.n}³ voxels but the particle is ${particle.n}³; they must match`);
    }
    this.objective = new ConstrainedObjective(reference, particle, settings);
    this.matcher = new TranslationMatcher(particle, settings.wedgeParticle);
  }
}

export function refineCandidate(job: RefineJob, context?: ParticleContext): CandidateResult {
  const began = performance.now();
  if (!REFINE_METHODS.includes(job.method)) {
    throw new RangeError(`unknown refinement method '${job.method}' (expected one of ${REFINE_METHODS.join(', ')})`);
  }
  if (job.candidate.R.length !== 9) {
    throw new RangeError(`candidate ${job.candidateIndex}: a rotation needs 9 matrix entries, got ${job.candidate.R.length}`);
  }
  const ctx = context ?? new ParticleContext(job.reference, job.particle, job);
  const R: Mat3 = Float64Array.from(job.candidate.R);
  const match = ctx.matcher.match(job.reference, R, { maxShift: job.maxShift, wedgeRef: job.wedgeRef });
  const start = { R, t: match.t };
  let result: RefinementResult;
  switch (job.method) {
    case 'sag':
    case 'sag1': {
      const seed = Rng.derive(job.seed ?? 0, job.candidateIndex).nextU32();
      result = refineSag(ctx.objective, start, { ...job.sag, algorithm: job.method === 'sag' ? 2 : 1, seed });
      break;
    }
    case 'lm':
      result = refineLm(ctx.objective, start, job.lm);
      break;
    case 'chen':
      result = refineChen(
        ctx.objective,
        { reference: job.reference, matcher: ctx.matcher, maxShift: job.maxShift, wedgeRef: job.wedgeRef },
        start,
        job.chen,
      );
      break;
  }
  return {
    ...result,
    candidateIndex: job.candidateIndex,
    method: job.method,
    start: { R: Array.from(R), t: match.t, pose: poseFromMatrix(R, match.t), ftmScore: match.score },
    seconds: (performance.now() - began) / 1000,
  };
}

/** The result with the lowest dissimilarity (ties: lowest candidate index), as Algorithm 3's last step. */
export function pickBest<T extends Pick<CandidateResult, 'dissimilarity' | 'candidateIndex'>>(results: readonly T[]): T {
  if (results.length === 0) throw new Error('no refinement results to choose from (empty candidate list?)');
  let best = results[0];
  for (const r of results) {
    if (r.dissimilarity < best.dissimilarity || (r.dissimilarity === best.dissimilarity && r.candidateIndex < best.candidateIndex)) {
      best = r;
    }
  }
  return best;
}

export interface AlignOptions extends RefineSettings {
  /** Rotation candidates (row-major 3×3), e.g. the top N of core/frm.ts. */
  candidates: { R: ArrayLike<number> }[];
}

export interface AlignResult {
  best: CandidateResult;
  perCandidate: CandidateResult[];
}

/** Algorithm 3 for one particle, all candidates in this process. */
export function alignParticle(reference: Volume, particle: Volume, options: AlignOptions): AlignResult {
  if (options.candidates.length === 0) throw new Error('alignParticle: the candidate list is empty (FRM returned nothing?)');
  const context = new ParticleContext(reference, particle, options);
  const perCandidate = options.candidates.map((candidate, candidateIndex) =>
    refineCandidate({ ...options, reference, particle, candidate, candidateIndex }, context),
  );
  return { best: pickBest(perCandidate), perCandidate };
}
