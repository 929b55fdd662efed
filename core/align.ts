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
 *
 * Binning (what RELION / Dynamo users expect): a reference low-passed at shell s of an n³ box has no
 * signal beyond s, so the alignment can run at a Fourier-cropped box m (core/resample.ts) with m/2 > s
 * and lose nothing the reference could match; the particle's frequencies beyond m/2 are noise to it.
 * Set `alignBox`, or `lowpassShell` to derive it (`alignBoxFor`). Both volumes are cropped, the mask is
 * resampled, and the refinement objective interpolates the reference on a 2× finer grid (see
 * REFERENCE_OVERSAMPLING). Rotations are unchanged and shifts are converted back to original voxels (×n/m)
 * in every result; scores (CCC, dissimilarity, loss traces) are those of the binned data. The cost of one
 * refinement falls roughly as (m/n)³: for a 60 Å reference at 6 Å voxels, 64³ → 16³ makes a pass of 20
 * particles × 10 candidates over 50× cheaper than at 64³ and no less accurate (bench/pass.ts).
 */
import type { CandidateFailure } from '../model/jobs.ts';
import { ALIGN_METHODS, type AlignMethod } from '../model/methods.ts';
import { ConstrainedObjective, type RefinementResult } from './alignobjective.ts';
import { type ChenOptions, refineChen } from './chen.ts';
import { fft3 } from './fft.ts';
import { TranslationMatcher } from './ftm.ts';
import { type LmOptions, refineLm } from './lm.ts';
import { Rng } from './random.ts';
import { fourierCrop, fourierPad, resampleMask } from './resample.ts';
import { type Mat3, type Pose, poseFromMatrix } from './rotate.ts';
import { type SagOptions, refineSag } from './sag.ts';
import type { Volume } from './volume.ts';
import type { TiltRange } from './wedge.ts';

export interface RefineSettings {
  method: AlignMethod;
  /** Largest shift searched by FTM, voxels. */
  maxShift: number;
  /** Real-space mask (n³); omitted = whole box. */
  mask?: Float32Array;
  /** Particle tilt range; omitted = fully observed. */
  wedgeParticle?: TiltRange;
  /** Reference tilt range; omitted = fully observed (the usual case). */
  wedgeRef?: TiltRange;
  /**
   * SAG options ('sag' forces algorithm 2, 'sag1' algorithm 1; the seed comes from `seed`). `batchSize` counts
   * x-slices of the particle's box: binned to m < n voxels it becomes round(batchSize·m/n) (at least 1), so a
   * mini-batch covers the same fraction of the volume whatever the alignment box.
   */
  sag?: SagOptions;
  lm?: LmOptions;
  chen?: ChenOptions;
  /** Seed of the job's random streams (SAG slice order); default 0. */
  seed?: number;
  /**
   * Box (even voxels, ≤ n) to align at: reference and particle are Fourier cropped to it (see module doc).
   * Default: `alignBoxFor(n, lowpassShell)` when `lowpassShell` is given, else n (no binning).
   */
  alignBox?: number;
  /**
   * Highest Fourier shell (of the n³ box) where the reference carries signal, e.g. c + w/2 for a low-pass
   * at cut-off shell c with a raised-cosine edge of w shells; sets the alignment box (`alignBoxFor`).
   */
  lowpassShell?: number;
}

/**
 * The alignment box for a reference with no signal beyond `lowpassShell` (shells of the n³ box): the
 * smallest power of two, at least 16, whose Nyquist m/2 lies beyond it, at most n (then no binning). Only
 * powers of two: core/fft.ts transforms other sizes (Bluestein) slower than the next power of two.
 */
export function alignBoxFor(n: number, lowpassShell: number): number {
  if (!(lowpassShell > 0) || !Number.isFinite(lowpassShell)) {
    throw new RangeError(`low-pass shell must be a positive number of Fourier voxels, got ${lowpassShell}`);
  }
  let m = MIN_ALIGN_BOX;
  while (m / 2 <= lowpassShell && m < n) m *= 2;
  return Math.min(m, n);
}

/** Below 16³ a soft mask's edge and the SAG slice count get too coarse to be worth the saving. */
const MIN_ALIGN_BOX = 16;

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
  method: AlignMethod;
  /** Where the refinement started: the candidate rotation with its FTM shift and score. */
  start: { R: number[]; t: [number, number, number]; pose: Pose; ftmScore: number };
  /** Box the alignment ran at (n when not binned); shifts are in original voxels whatever it is. */
  alignBox: number;
  /** Wall time of FTM + refinement. */
  seconds: number;
  /** Wall time of the FTM translation search alone. */
  ftmSeconds: number;
}

/**
 * A reference prepared for one alignment box: Fourier cropped once and shared by the contexts of many
 * particles (the crop costs a full-size FFT).
 */
export class AlignmentReference {
  /** The reference at the alignment box (FTM, Chen's search). */
  readonly volume: Volume;
  /** What the refinement objective interpolates: `volume` Fourier padded 2× when binned (see `ParticleContext`). */
  readonly sampling: Volume;
  /** fft3 of `sampling`, which every particle's objective filters (one transform per reference, not per particle). */
  readonly samplingSpectrum: Float64Array;
  constructor(
    readonly original: Volume,
    readonly box: number,
  ) {
    this.volume = binned(original, alignBoxOf(original.n, { alignBox: box }));
    this.sampling = box === original.n ? original : fourierPad(this.volume, REFERENCE_OVERSAMPLING * box);
    this.samplingSpectrum = fft3(this.sampling.data, this.sampling.n);
  }
}

/**
 * Reference grid points per alignment voxel when binned. A binned box puts the reference's last shell near
 * Nyquist, where trilinear interpolation attenuates by half and depends on the sub-voxel position; on a
 * 2× grid of the same band-limited map it behaves as at a box twice as large. bench/pass.ts, 20 particles
 * at 16³: median rotation error 3.4° and 15/20 within 5° without it, 3.0° and 20/20 with it (64³: 3.4°, 17/20).
 */
const REFERENCE_OVERSAMPLING = 2;

type BoxSettings = Pick<RefineSettings, 'alignBox' | 'lowpassShell'>;

/** The alignment box the settings ask for at box size n, validated. */
export function alignBoxOf(n: number, settings: BoxSettings): number {
  const box = settings.alignBox ?? (settings.lowpassShell !== undefined ? alignBoxFor(n, settings.lowpassShell) : n);
  if (!Number.isInteger(box) || box < 2 || box % 2 !== 0 || box > n) {
    throw new RangeError(`alignment box must be an even number of voxels from 2 to the box size ${n}, got ${box}`);
  }
  return box;
}

function binned(v: Volume, box: number): Volume {
  return box === v.n ? v : fourierCrop(v, box);
}

/**
 * What the jobs of one particle share (the particle spectrum for FTM, the objective's voxel lists and
 * buffers, the binned volumes); build it once per particle and pass it to every `refineCandidate` of that
 * particle.
 */
export class ParticleContext {
  readonly objective: ConstrainedObjective;
  readonly matcher: TranslationMatcher;
  /** Box the alignment runs at, and original voxels per alignment voxel (n / box). */
  readonly box: number;
  readonly scale: number;
  /** Reference and particle at the alignment box (the inputs themselves without binning). */
  readonly reference: Volume;
  readonly particle: Volume;

  constructor(
    reference: Volume | AlignmentReference,
    particle: Volume,
    settings: Pick<RefineSettings, 'mask' | 'wedgeParticle' | 'wedgeRef'> & BoxSettings,
  ) {
    const original = reference instanceof AlignmentReference ? reference.original : reference;
    if (original.n !== particle.n) {
      throw new RangeError(`reference is ${original.n}³ voxels but the particle is ${particle.n}³; they must match`);
    }
    const n = particle.n;
    if (settings.mask && settings.mask.length !== n * n * n) {
      throw new RangeError(`alignment mask has ${settings.mask.length} values, a ${n}³ box needs ${n * n * n}`);
    }
    const prepared =
      reference instanceof AlignmentReference ? reference : new AlignmentReference(reference, alignBoxOf(n, settings));
    if (settings.alignBox !== undefined && settings.alignBox !== prepared.box) {
      throw new RangeError(`alignment box ${settings.alignBox} differs from the prepared reference's box ${prepared.box}`);
    }
    this.box = prepared.box;
    this.reference = prepared.volume;
    this.scale = n / this.box;
    this.particle = binned(particle, this.box);
    const mask = settings.mask && this.box !== n ? resampleMask(settings.mask, n, this.box) : settings.mask;
    this.objective = new ConstrainedObjective(prepared.sampling, this.particle, {
      mask,
      wedgeParticle: settings.wedgeParticle,
      wedgeRef: settings.wedgeRef,
      referenceSpectrum: prepared.samplingSpectrum,
    });
    this.matcher = new TranslationMatcher(this.particle, settings.wedgeParticle);
  }
}

/**
 * Throws a RangeError naming the bad input of a job (method, candidate rotation, shift radius): what no
 * refinement could fix. Numerical failures of a valid job come later, from the refinement itself.
 */
export function validateRefineJob(job: Pick<RefineJob, 'method' | 'candidate' | 'candidateIndex' | 'maxShift'>): void {
  if (!ALIGN_METHODS.includes(job.method)) {
    throw new RangeError(`unknown refinement method '${job.method}' (expected one of ${ALIGN_METHODS.join(', ')})`);
  }
  const R = job.candidate.R;
  if (R.length !== 9) {
    throw new RangeError(`candidate ${job.candidateIndex}: a rotation needs 9 matrix entries, got ${R.length}`);
  }
  for (let i = 0; i < 9; i++) {
    if (!Number.isFinite(R[i])) throw new RangeError(`candidate ${job.candidateIndex}: rotation entry ${i} is ${R[i]}, not a finite number`);
  }
  if (!Number.isFinite(job.maxShift) || job.maxShift < 0) {
    throw new RangeError(`maximum shift must be a finite number of voxels ≥ 0, got ${job.maxShift}`);
  }
}

export function refineCandidate(job: RefineJob, context?: ParticleContext): CandidateResult {
  const began = performance.now();
  validateRefineJob(job);
  const ctx = context ?? new ParticleContext(job.reference, job.particle, job);
  if (context && (job.alignBox !== undefined || job.lowpassShell !== undefined) && alignBoxOf(job.particle.n, job) !== ctx.box) {
    throw new RangeError(`candidate ${job.candidateIndex}: the job asks for alignment box ${alignBoxOf(job.particle.n, job)} but its particle context aligns at ${ctx.box}`);
  }
  const { scale, reference } = ctx;
  const maxShift = job.maxShift / scale;
  const R: Mat3 = Float64Array.from(job.candidate.R);
  const ftmBegan = performance.now();
  const match = ctx.matcher.match(reference, R, { maxShift, wedgeRef: job.wedgeRef });
  const ftmSeconds = (performance.now() - ftmBegan) / 1000;
  const start = { R, t: match.t };
  let result: RefinementResult;
  switch (job.method) {
    case 'sag':
    case 'sag1': {
      const seed = Rng.derive(job.seed ?? 0, job.candidateIndex).nextU32();
      const batchSize = job.sag?.batchSize === undefined ? undefined : Math.max(1, Math.round(job.sag.batchSize / scale));
      result = refineSag(ctx.objective, start, { ...job.sag, batchSize, algorithm: job.method === 'sag' ? 2 : 1, seed, maxShift });
      break;
    }
    case 'lm':
      result = refineLm(ctx.objective, start, job.lm);
      break;
    case 'chen':
      result = refineChen(ctx.objective, { reference, matcher: ctx.matcher, maxShift, wedgeRef: job.wedgeRef }, start, job.chen);
      break;
  }
  if (!Number.isFinite(result.ccc) || !result.R.every(Number.isFinite) || !result.t.every(Number.isFinite)) {
    throw new Error(`the ${job.method} refinement ended at a non-finite pose or score (CCC ${result.ccc})`);
  }
  const t = originalVoxels(result.t, scale);
  const startT = originalVoxels(match.t, scale);
  return {
    ...result,
    t,
    pose: poseFromMatrix(Float64Array.from(result.R), t),
    candidateIndex: job.candidateIndex,
    method: job.method,
    start: { R: Array.from(R), t: startT, pose: poseFromMatrix(R, startT), ftmScore: match.score },
    alignBox: ctx.box,
    seconds: (performance.now() - began) / 1000,
    ftmSeconds,
  };
}

function originalVoxels(t: ArrayLike<number>, scale: number): [number, number, number] {
  return [t[0] * scale, t[1] * scale, t[2] * scale];
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

export interface CandidateRefinements {
  /** The lowest dissimilarity among the candidates that refined; null when every candidate failed. */
  best: CandidateResult | null;
  /** The candidates that refined, in candidate order (each carries its `candidateIndex`). */
  perCandidate: CandidateResult[];
  /** The candidates whose refinement failed, and why (the particle keeps its best valid candidate). */
  failures: CandidateFailure[];
}

/**
 * Algorithm 3 for one particle, all candidates in this process. Bad input (method, candidate rotations,
 * mask, box) throws before any work; a candidate whose refinement fails numerically (e.g. its reference
 * has no signal inside the mask or the wedge overlap at that pose) is recorded in `failures` and the others
 * go on, so one candidate never ends a multi-particle run.
 */
export function alignParticle(reference: Volume | AlignmentReference, particle: Volume, options: AlignOptions): CandidateRefinements {
  if (options.candidates.length === 0) throw new Error('alignParticle: the candidate list is empty (FRM returned nothing?)');
  const original = reference instanceof AlignmentReference ? reference.original : reference;
  const jobs = options.candidates.map((candidate, candidateIndex) => ({ ...options, reference: original, particle, candidate, candidateIndex }));
  for (const job of jobs) validateRefineJob(job);
  const context = new ParticleContext(reference, particle, options);
  const perCandidate: CandidateResult[] = [];
  const failures: CandidateFailure[] = [];
  for (const job of jobs) {
    try {
      perCandidate.push(refineCandidate(job, context));
    } catch (err) {
      failures.push({ candidate: job.candidateIndex, reason: (err as Error).message });
    }
  }
  return { best: perCandidate.length > 0 ? pickBest(perCandidate) : null, perCandidate, failures };
}
