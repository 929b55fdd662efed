/**
 * Campaign activities on half-set maps: the reference-free start, the half averages (an MPI job of
 * mpi/averageRank.ts), the gold-standard FSC, and each half's next reference. The two half-sets never see each
 * other's data: every map derived from one half is computed from that half's particles alone (design "FSC and
 * resolution"); the combined average is for display only.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Context } from '@temporalio/activity';
import { softSphereMask } from '../core/filters.ts';
import { fscCurve, goldStandardResolution, resolutionAtFscHalf, type FscCurve } from '../core/fsc.ts';
import type { Half } from '../core/halfmaps.ts';
import { Rng } from '../core/random.ts';
import { REFERENCE_EDGE_SHELLS, referenceFrom, referenceShell } from '../core/reference.ts';
import { registerMaps } from '../core/register.ts';
import { type Pose, eulerToMatrix, identity, poseFromMatrix, randomRotation } from '../core/rotate.ts';
import { rotationErrorUnderSymmetry, symmetrise } from '../core/symmetry.ts';
import { runAverage } from '../drivers/average.ts';
import { type ArtifactRef, refOf } from '../io/artifacts.ts';
import { writeMrc } from '../io/mrc.ts';
import { fitToSampling } from '../io/volumes.ts';
import type { InitialPoses } from '../model/campaign.ts';
import type { MpiRanks } from '../model/jobs.ts';
import type { AverageJob } from '../model/jobs.ts';
import { runAverageJob } from '../mpi/averageWork.ts';
import {
  checkedRef,
  invalidInput,
  readJsonArtifact,
  readVolumeArtifact,
  reportProgress,
  runCampaignStep,
  type Progress,
  type Reuse,
} from './common.ts';
import { runMpiStep } from './mpiStep.ts';
import { HALVES, posesByName, readParticleSet, type Particle, type PoseEntry } from './particles.ts';

export type HalfRefs = Record<Half, ArtifactRef>;

export interface HalfAverages extends HalfRefs {
  /** Both half-sets pooled (for display only: references stay per half). */
  combined: ArtifactRef;
}

export interface MaskParams {
  radius: number;
  edge: number;
}


/** The AverageJob of `particles` with `poses`, writing its three maps into `dir`, each half symmetrised on its own. */
function averageJob(particles: readonly Particle[], poses: Map<string, Pose>, dir: string, symmetry?: string): AverageJob {
  return {
    particles: particles.map((p) => ({
      name: p.name, path: p.path, tilt: p.tilt, ...(p.ctf && { ctf: p.ctf }), ...(p.ctfImage && { ctfImage: p.ctfImage }), pose: poses.get(p.name)!, half: p.half,
    })),
    out: { odd: join(dir, 'odd.mrc'), even: join(dir, 'even.mrc'), combined: join(dir, 'combined.mrc') },
    ...(symmetry && { symmetry }),
  };
}

export interface InitialReferencesInput {
  workdir: string;
  halves: ArtifactRef;
  initialLowpass: number;
  initialPoses: InitialPoses;
  seed: number;
  mask: MaskParams;
  /** A user's map to start from (absolute path) instead of averaging the particles. */
  reference?: string;
  symmetry?: string;
}

export interface InitialReferencesResult extends Reuse {
  /** One map, the first reference of both halves. */
  references: HalfRefs;
  /**
   * The half averages with the initial poses, before the low-pass (the campaign's starting FSC); absent when
   * the campaign starts from a user's map.
   */
  averages?: HalfAverages;
  /** The starting poses (PoseEntry[] JSON). */
  poses: ArtifactRef;
}

/**
 * Seed of the initial-pose streams. The simulator draws particle k's true pose from Rng.derive(dataSeed, k);
 * deriving ours from the campaign seed directly would, with equal seeds (both default to 1), hand the
 * "reference-free" start the ground truth. A hash of a purpose label and the seed keeps the streams apart.
 */
export function initialPoseSeed(seed: number): number {
  return createHash('sha256').update(`subtomo initial poses ${seed}`).digest().readUInt32LE(0);
}

/**
 * Reference-free start: all particles averaged (in this process, with the code of the MPI average) with seeded
 * random poses — particle k from Rng.derive(initialPoseSeed(seed), k) — or identity poses, low-passed to
 * `initialLowpass` Å and masked: the common first reference of both half-sets. As in RELION's gold-standard
 * refinement, both halves start from one heavily low-passed map: from independent random starts each half
 * settles in its own arbitrary orientation, and the half maps (and their FSC) stop being comparable. Only
 * information below `initialLowpass` is shared; from iteration 1 on each half's reference comes from its own
 * particles alone. The half averages of the start are kept: their FSC is the campaign's iteration 0.
 */
export async function initialReferences(input: InitialReferencesInput): Promise<InitialReferencesResult> {
  const { set, particles } = await readParticleSet(input.halves);
  const params = {
    initialLowpass: input.initialLowpass, initialPoses: input.initialPoses, seed: input.seed, mask: input.mask, symmetry: input.symmetry ?? null,
  };
  const map = input.reference
    ? await refOf(input.reference).catch((err: Error) => {
        throw invalidInput(`config field 'reference': ${err.message}`, err);
      })
    : undefined;
  const inputs = { halves: input.halves, ...(map && { reference: map }) };
  const step = await runCampaignStep(input.workdir, 'initial-references', params, inputs, async (dir): Promise<Record<string, string>> => {
    const entries: PoseEntry[] = particles.map((p, k) => ({ name: p.name, pose: initialPose(input, p, k) }));
    await writeFile(join(dir, 'poses.json'), `${JSON.stringify(entries, null, 1)}\n`);
    if (map) {
      const user = await readVolumeArtifact(map, `reference ${map.path}`);
      const { volume } = fitToSampling(user, { n: set.boxSize, voxelSize: set.voxelSize });
      const start = input.symmetry ? symmetrise(volume, input.symmetry) : volume;
      await writeMrc(join(dir, 'reference.mrc'), referenceFrom(start, input.initialLowpass, input.mask), {
        labels: [`initial reference of both halves: ${basename(map.path)}, low-pass ${input.initialLowpass} A`.slice(0, 80)],
      });
      return { reference: 'reference.mrc', poses: 'poses.json' };
    }
    for (const p of particles) await checkedRef(p.ref, `particle ${p.name}`);
    const ctx = Context.current();
    const maps = await runAverageJob(averageJob(particles, posesByName(entries, particles, 'initial poses'), dir, input.symmetry), (p) => {
      ctx.heartbeat({ step: 'initial-references', done: p.done, total: p.total, detail: p.particle } satisfies Progress);
      ctx.cancellationSignal.throwIfAborted();
    });
    await writeMrc(join(dir, 'reference.mrc'), referenceFrom(maps.combined, input.initialLowpass, input.mask), {
      labels: [`initial reference of both halves, ${input.initialPoses} poses, low-pass ${input.initialLowpass} A`],
    });
    return { reference: 'reference.mrc', poses: 'poses.json', odd: 'odd.mrc', even: 'even.mrc', combined: 'combined.mrc' };
  });
  const { reference, poses, odd, even, combined } = step.outputs;
  return {
    references: { odd: reference, even: reference },
    ...(odd && { averages: { odd, even, combined } }),
    poses,
    reused: step.reused,
  };
}

/** Particle k's starting pose: seeded random, identity, or its list's (initialPoses: star). */
function initialPose(input: InitialReferencesInput, p: Particle, k: number): Pose {
  if (input.initialPoses === 'random') return poseFromMatrix(randomRotation(Rng.derive(initialPoseSeed(input.seed), k)), [0, 0, 0]);
  if (input.initialPoses === 'identity') return { phi: 0, theta: 0, psi: 0, tx: 0, ty: 0, tz: 0 };
  if (!p.pose) throw invalidInput(`initialPoses: star, but particle ${p.name} of the list has no pose (rlnAngleRot, …)`);
  return p.pose;
}

export interface AverageHalvesInput {
  workdir: string;
  halves: ArtifactRef;
  /** Poses per particle: the refine step's ParticleAlignment[] JSON (or any PoseEntry[]). */
  alignment: ArtifactRef;
  mpi: MpiRanks;
  symmetry?: string;
}

export interface AverageHalvesResult extends Reuse {
  averages: HalfAverages;
}

/** Wedge-weighted odd, even and combined averages with the aligned poses, as an MPI job of mpi/averageRank.ts. */
export async function averageHalves(input: AverageHalvesInput): Promise<AverageHalvesResult> {
  const { set, particles: all } = await readParticleSet(input.halves);
  const entries = await readJsonArtifact<PoseEntry[]>(input.alignment, 'alignment');
  const poses = posesByName(entries, all, input.alignment.path);
  // a particle none of whose candidates refined has a placeholder pose: it stays out of the averages
  const failed = new Set(entries.filter((e) => e.failed).map((e) => e.name));
  const particles = all.filter((p) => !failed.has(p.name));
  for (const p of particles) await checkedRef(p.ref, `particle ${p.name}`);
  const step = await runMpiStep({
    workdir: input.workdir,
    step: 'average-halves',
    params: { symmetry: input.symmetry ?? null },
    inputs: { halves: input.halves, alignment: input.alignment },
    mpi: input.mpi,
    boxSize: set.boxSize,
    total: particles.length,
    run: async (dir, exec) => {
      await runAverage(averageJob(particles, poses, dir, input.symmetry), { ...exec, jobFile: join(dir, 'average-job.json') });
      return { odd: 'odd.mrc', even: 'even.mrc', combined: 'combined.mrc' };
    },
  });
  const { odd, even, combined } = step.outputs;
  return { averages: { odd, even, combined }, reused: step.reused };
}

export interface FscFile extends FscCurve {
  /** Resolution (Å) at FSC 0.143 and 0.5, each crossing linearly interpolated between shells. */
  resolution0143: number;
  resolution05: number;
  boxSize: number;
  voxelSize: number;
  mask: MaskParams;
}

export interface FscResult extends Reuse {
  /** FscFile JSON. */
  curve: ArtifactRef;
  resolution0143: number;
  resolution05: number;
}

/** Gold-standard FSC of the two half-set averages inside the soft alignment mask. */
export async function fsc(input: { workdir: string; odd: ArtifactRef; even: ArtifactRef; mask: MaskParams }): Promise<FscResult> {
  const step = await runCampaignStep(input.workdir, 'fsc', { mask: input.mask }, { odd: input.odd, even: input.even }, async (dir) => {
    const odd = await readVolumeArtifact(input.odd, 'odd half-set average');
    const even = await readVolumeArtifact(input.even, 'even half-set average');
    const curve = fscCurve(odd, even, softSphereMask(odd.n, input.mask.radius, input.mask.edge));
    const file: FscFile = {
      ...curve,
      resolution0143: goldStandardResolution(curve, odd.voxelSize, odd.n),
      resolution05: resolutionAtFscHalf(curve, odd.voxelSize, odd.n),
      boxSize: odd.n,
      voxelSize: odd.voxelSize,
      mask: input.mask,
    };
    await writeFile(join(dir, 'fsc.json'), `${JSON.stringify(file)}\n`);
    return { curve: 'fsc.json' };
  });
  const file = await readJsonArtifact<FscFile>(step.outputs.curve, 'FSC curve');
  return { curve: step.outputs.curve, resolution0143: file.resolution0143, resolution05: file.resolution05, reused: step.reused };
}

export interface RegisterHalvesInput {
  workdir: string;
  odd: ArtifactRef;
  even: ArtifactRef;
  /** Resolution (Å) of this iteration's references: the shells the registration compares. */
  resolution: number;
  mask: MaskParams;
  maxShift: number;
  seed: number;
  /** Point group of the maps: a rotation onto a symmetry mate is no disagreement. */
  symmetry?: string;
}

export interface RegisterHalvesResult extends Reuse {
  /** The even half average in the odd average's frame. */
  even: ArtifactRef;
  /** Mean of the odd and the registered even average (for display, like the unregistered combined map). */
  combined: ArtifactRef;
  /** even ≈ Λ_pose odd. */
  pose: Pose;
  /** Rotation angle of `pose` (radians) to its nearest symmetry mate of the identity. */
  angle: number;
  ccc: number;
}

/** The even half average registered onto the odd one (core/register.ts: FRM + SAG between the two maps). */
export async function registerHalves(input: RegisterHalvesInput): Promise<RegisterHalvesResult> {
  const params = { resolution: input.resolution, mask: input.mask, maxShift: input.maxShift, seed: input.seed };
  const step = await runCampaignStep(input.workdir, 'register-halves', params, { odd: input.odd, even: input.even }, async (dir) => {
    const odd = await readVolumeArtifact(input.odd, 'odd half-set average');
    const even = await readVolumeArtifact(input.even, 'even half-set average');
    await reportProgress({ step: 'register-halves', done: 0, total: 1 });
    const r = registerMaps(odd, even, {
      mask: softSphereMask(odd.n, input.mask.radius, input.mask.edge),
      lowpassShell: referenceShell(odd.n, odd.voxelSize, input.resolution),
      maxShift: input.maxShift,
      seed: input.seed,
    });
    const combined = r.registered.clone();
    for (let i = 0; i < combined.data.length; i++) combined.data[i] = (combined.data[i] + odd.data[i]) / 2;
    await writeMrc(join(dir, 'even.mrc'), r.registered, { labels: ['even half average registered onto the odd one'] });
    await writeMrc(join(dir, 'combined.mrc'), combined, { labels: ['mean of the odd and the registered even half average'] });
    await writeFile(join(dir, 'registration.json'), `${JSON.stringify({ pose: r.pose, ccc: r.ccc })}\n`);
    await reportProgress({ step: 'register-halves', done: 1, total: 1 });
    return { even: 'even.mrc', combined: 'combined.mrc', registration: 'registration.json' };
  });
  const { pose, ccc } = await readJsonArtifact<{ pose: Pose; ccc: number }>(step.outputs.registration, 'half-map registration');
  const angle = rotationErrorUnderSymmetry(eulerToMatrix(pose), identity(), input.symmetry ?? 'C1');
  return { even: step.outputs.even, combined: step.outputs.combined, pose, angle, ccc, reused: step.reused };
}

export interface LowpassInput {
  workdir: string;
  /** The two half-set averages. */
  odd: ArtifactRef;
  even: ArtifactRef;
  /** Gold-standard resolution (Å) to low-pass at. */
  resolution: number;
  mask: MaskParams;
}

/** Each half's next reference from its OWN half average, low-passed at the FSC resolution and masked. */
export async function lowpassReference(input: LowpassInput): Promise<{ references: HalfRefs } & Reuse> {
  const params = { resolution: input.resolution, edgeShells: REFERENCE_EDGE_SHELLS, mask: input.mask };
  const step = await runCampaignStep(input.workdir, 'lowpass-reference', params, { odd: input.odd, even: input.even }, async (dir) => {
    for (const [k, half] of HALVES.entries()) {
      const average = await readVolumeArtifact(input[half], `${half} half-set average`);
      await writeMrc(join(dir, `reference_${half}.mrc`), referenceFrom(average, input.resolution, input.mask), {
        labels: [`${half} half reference, low-pass ${input.resolution.toFixed(1)} A`],
      });
      await reportProgress({ step: 'lowpass-reference', done: k + 1, total: HALVES.length });
    }
    return { odd: 'reference_odd.mrc', even: 'reference_even.mrc' };
  });
  return { references: { odd: step.outputs.odd, even: step.outputs.even }, reused: step.reused };
}
