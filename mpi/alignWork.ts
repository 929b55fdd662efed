/**
 * An AlignJob's work (paper Algorithm 3), shared by the in-process path (`runAlignJob`) and the MPI ranks
 * (alignRank.ts), so both compute every (particle × candidate) pair with the same code:
 *
 * - The work unit is a pair, refined by core/align.ts `refineCandidate`; per particle the lowest
 *   dissimilarity wins (`pickBest`).
 * - A pair's result depends only on the job and the pair: SAG's slice order is seeded by (job seed,
 *   particle, candidate), and every refinement starts with the objective's `start`, which rebuilds all the
 *   rotation-dependent state, so the pairs of one particle share one ParticleContext (its binned particle,
 *   FTM spectrum and objective buffers; the reference spectrum is shared by all particles) in any order.
 *   So any split over ranks gives bit-identical results (test/mpi-align.test.ts).
 * - A pair whose refinement fails numerically (e.g. the reference has no signal inside the mask at that
 *   pose) is a result too, `failure` naming why; the particle keeps its best valid candidate and is flagged
 *   `failed` when none refined. Bad input (unreadable or mismatched volumes, a bad mask or box) still
 *   fails the job, naming the file or setting.
 * - Pairs are numbered particle-major and dealt to ranks in a boustrophedon order (`rankOfPair`): the cost
 *   of a pair varies (CV ≈ 0.4 in SAG iterations) and correlates with its particle, so contiguous blocks
 *   balance worse (measured on 20 × 10 pairs at 32³: 7–9 % over the mean for blocks, 2–3 % dealt).
 *   A rank's pairs stay particle-major, so it reads each of its particles once, and a reference once per path.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AlignmentReference, type CandidateResult, ParticleContext, pickBest, refineCandidate, validateRefineJob } from '../core/align.ts';
import { softSphereMask } from '../core/filters.ts';
import { Rng } from '../core/random.ts';
import { type Pose, eulerToMatrix } from '../core/rotate.ts';
import type { Volume } from '../core/volume.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { readMrcHeader } from '../io/mrc.ts';
import { alignedParticleStar } from '../io/particlestar.ts';
import { writeStar } from '../io/star.ts';
import { assertSameSampling, readVolume } from '../io/volumes.ts';
import type { AlignJob, ParticleAlignment } from '../model/jobs.ts';
import { alignmentView } from './particleTransfer.ts';

/** Particle i × candidate j of the job. */
export interface Pair {
  particle: number;
  candidate: number;
}

/** The refined pose of one pair (plain numbers: it travels through MPI as JSON). */
export interface PairRefined extends Pair {
  pose: Pose;
  ccc: number;
  dissimilarity: number;
  iterations: number;
  /** The refinement stopped at its iteration cap (SAG: maxEpochs), not on its convergence test. */
  capped: boolean;
  /** Wall time of FTM + refinement. */
  seconds: number;
}

/** A pair whose refinement failed numerically, and why. */
export interface PairFailed extends Pair {
  failure: string;
  seconds: number;
}

export type PairResult = PairRefined | PairFailed;

export function isFailed(r: PairResult): r is PairFailed {
  return 'failure' in r;
}

export interface PairProgress {
  phase: 'refine';
  /** Pairs finished by this process (or rank) so far, of `total`. */
  done: number;
  total: number;
  particle: string;
  candidate: number;
  /** null when the pair's refinement failed. */
  dissimilarity: number | null;
}

/** One rank's share of the work, for the load-balance report. */
export interface RankTiming {
  rank: number;
  pairs: number;
  particlesRead: number;
  /** Wall time of reading volumes and refining this rank's pairs. */
  seconds: number;
  /** CPU time of the same work (user + system): what the rank got on a shared machine. */
  cpuSeconds: number;
  /** Sum of the pairs' FTM + refinement times. */
  refineSeconds: number;
}

/** All pairs, particle-major (the order results are gathered in). */
export function alignPairs(job: AlignJob): Pair[] {
  return job.particles.flatMap((p, particle) => p.candidates.map((_, candidate) => ({ particle, candidate })));
}

/**
 * Rank that refines pair k of `size` ranks: 0, 1, …, P−1, P−1, …, 1, 0, 0, 1, … Plain round-robin would give
 * a rank the same candidate positions of every particle (e.g. always the FRM-best, which start closest and
 * converge fastest) whenever P divides the candidate count; the back-and-forth deal alternates them and
 * keeps every rank's count within one of the others.
 */
export function rankOfPair(k: number, size: number): number {
  const m = k % (2 * size);
  return m < size ? m : 2 * size - 1 - m;
}

/** The pairs rank `rank` of `size` refines, in job order. */
export function pairsOfRank(pairs: readonly Pair[], rank: number, size: number): Pair[] {
  return pairs.filter((_, k) => rankOfPair(k, size) === rank);
}

/** Seed of particle i's jobs; core/align.ts derives the candidate's stream from it. */
export function particleSeed(jobSeed: number, particle: number): number {
  return Rng.derive(jobSeed, particle).nextU32();
}

async function readNamed(what: string, path: string): Promise<Volume> {
  try {
    return await readVolume(path);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
}

/**
 * Volumes a process needs for its pairs: references read (and binned to the job's alignment box) once per
 * path, particles one at a time with their ParticleContext (a process's pairs come particle-major, so each
 * particle is read and prepared once). Counts reads for the load-balance report.
 */
export class AlignVolumes {
  private readonly references = new Map<string, AlignmentReference>();
  private current: { index: number; volume: Volume } | null = null;
  private context: { index: number; context: ParticleContext } | null = null;
  particlesRead = 0;

  constructor(private readonly job: AlignJob) {}

  async reference(path: string): Promise<AlignmentReference> {
    let ref = this.references.get(path);
    if (!ref) {
      const v = await readNamed(`reference ${path}`, path);
      try {
        ref = new AlignmentReference(v, this.job.alignBox ?? v.n);
      } catch (err) {
        throw new Error(`reference ${path}: ${(err as Error).message}`);
      }
      this.references.set(path, ref);
    }
    return ref;
  }

  async particle(index: number): Promise<Volume> {
    if (this.current?.index !== index) {
      const p = this.job.particles[index];
      const volume = await readNamed(`particle ${p.name}`, p.path);
      this.current = { index, volume: await alignmentView(p.name, p, volume) };
      this.particlesRead++;
    }
    return this.current.volume;
  }

  /** The context of particle `index` (built on first use, then shared by its pairs; see the module doc). */
  contextOf(index: number, build: () => ParticleContext): ParticleContext {
    if (this.context?.index !== index) this.context = { index, context: build() };
    return this.context.context;
  }
}

const masks = new Map<string, Float32Array>();

function alignmentMask(n: number, job: AlignJob): Float32Array {
  const key = `${n}:${job.mask.radius}:${job.mask.edge}`;
  let m = masks.get(key);
  if (!m) {
    m = softSphereMask(n, job.mask.radius, job.mask.edge);
    masks.set(key, m);
  }
  return m;
}

/**
 * Refines one pair (FTM of the candidate rotation, then the job's local method). Bad input throws, naming
 * the particle and candidate; a numerical failure of the refinement is returned as a PairFailed.
 */
export async function refinePair(job: AlignJob, pair: Pair, volumes: AlignVolumes): Promise<PairResult> {
  const began = performance.now();
  const entry = job.particles[pair.particle];
  const prepared = await volumes.reference(entry.reference);
  const reference = prepared.original;
  const particle = await volumes.particle(pair.particle);
  const where = `particle ${entry.name} (${entry.path}), candidate ${pair.candidate + 1}`;
  assertSameSampling(
    { n: particle.n, voxelSize: particle.voxelSize, label: `particle ${entry.name} (${entry.path})` },
    { n: reference.n, voxelSize: reference.voxelSize, label: `the reference ${entry.reference}` },
  );
  const settings = {
    method: job.method,
    maxShift: job.maxShift,
    mask: alignmentMask(reference.n, job),
    wedgeParticle: entry.tilt,
    alignBox: prepared.box,
    sag: job.sag,
    seed: particleSeed(job.seed, pair.particle),
  };
  const refineJob = { ...settings, reference, particle, candidate: { R: eulerToMatrix(entry.candidates[pair.candidate]) }, candidateIndex: pair.candidate };
  let context: ParticleContext;
  try {
    validateRefineJob(refineJob);
    context = volumes.contextOf(pair.particle, () => new ParticleContext(prepared, particle, settings));
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
  let result: CandidateResult;
  try {
    result = refineCandidate(refineJob, context);
  } catch (err) {
    return { ...pair, failure: (err as Error).message, seconds: (performance.now() - began) / 1000 };
  }
  return {
    ...pair,
    pose: result.pose,
    ccc: result.ccc,
    dissimilarity: result.dissimilarity,
    iterations: result.iterations,
    capped: result.capped,
    seconds: result.seconds,
  };
}

/** Refines `pairs` in order; `onPair` after each. */
export async function refinePairs(
  job: AlignJob,
  pairs: readonly Pair[],
  volumes: AlignVolumes,
  onPair?: (progress: PairProgress) => void,
): Promise<PairResult[]> {
  const out: PairResult[] = [];
  for (const pair of pairs) {
    const r = await refinePair(job, pair, volumes);
    out.push(r);
    onPair?.({
      phase: 'refine',
      done: out.length,
      total: pairs.length,
      particle: job.particles[pair.particle].name,
      candidate: pair.candidate,
      dissimilarity: isFailed(r) ? null : r.dissimilarity,
    });
  }
  return out;
}

/**
 * Algorithm 3's last step: per particle, the candidate that reached the lowest dissimilarity among those
 * that refined; a particle none of whose candidates refined is flagged `failed` with a placeholder pose
 * (its first candidate's rotation, no shift, CCC 0).
 */
export function collectResults(job: AlignJob, results: readonly PairResult[]): ParticleAlignment[] {
  const byParticle = job.particles.map((p) => new Array<PairResult | undefined>(p.candidates.length));
  for (const r of results) byParticle[r.particle][r.candidate] = r;
  return job.particles.map((p, i) => {
    const mine = byParticle[i];
    const missing = mine.findIndex((r) => r === undefined);
    if (missing >= 0) throw new Error(`no result for particle ${p.name}, candidate ${missing + 1}: a rank lost work`);
    const all = mine as PairResult[];
    const refined = all.filter((r): r is PairRefined => !isFailed(r));
    const candidateFailures = all.filter(isFailed).map((r) => ({ candidate: r.candidate, reason: r.failure }));
    const common = {
      name: p.name,
      perCandidate: all.map((r) => (isFailed(r) ? null : r.dissimilarity)),
      candidateFailures,
      capped: refined.filter((r) => r.capped).length,
    };
    if (refined.length === 0) {
      const first = p.candidates[0];
      const placeholder: Pose = { phi: first.phi, theta: first.theta, psi: first.psi, tx: 0, ty: 0, tz: 0 };
      return { ...common, pose: placeholder, ccc: 0, dissimilarity: 2, iterations: 0, candidateIndex: 0, failed: true };
    }
    const best = pickBest(refined.map((r) => ({ ...r, candidateIndex: r.candidate })));
    return {
      ...common,
      pose: best.pose,
      ccc: best.ccc,
      dissimilarity: best.dissimilarity,
      iterations: best.iterations,
      candidateIndex: best.candidate,
      failed: false,
    };
  });
}

/** Writes job.out (ParticleAlignment[] JSON, particle order) and, if asked, job.outStar; both atomically. */
export async function writeAlignOutputs(job: AlignJob, results: readonly ParticleAlignment[]): Promise<void> {
  await mkdir(dirname(job.out), { recursive: true });
  await writeFileAtomic(job.out, `${JSON.stringify(results, null, 1)}\n`);
  if (!job.outStar) return;
  const header = await readMrcHeader(job.particles[0].reference);
  const rows = results.map((r, i) => {
    const p = job.particles[i];
    return {
      path: p.path,
      tilt: p.tilt,
      pose: r.pose,
      ccc: r.ccc,
      dissimilarity: r.dissimilarity,
      iterations: r.iterations,
      // 0 in the STAR's 1-based candidate column: no candidate could be refined (io/relion.ts ALIGNMENT_COLUMNS)
      candidateIndex: r.failed ? -1 : r.candidateIndex,
    };
  });
  await writeStar(job.outStar, alignedParticleStar(job.outStar, rows, header.nx, header.voxelSize));
}

/** The whole job in this process (the P = 1 path of `subtomo align`); writes the outputs. */
export async function runAlignJob(job: AlignJob, onPair?: (progress: PairProgress) => void): Promise<ParticleAlignment[]> {
  const results = collectResults(job, await refinePairs(job, alignPairs(job), new AlignVolumes(job), onPair));
  await writeAlignOutputs(job, results);
  return results;
}
