/**
 * The alignment and averaging jobs every layer shares: the drivers build them (drivers/), the MPI rank
 * programs read them from JSON job files (mpi/), the activities and the CLI pass them on. Only paths and
 * small numbers travel in a job; volumes stay in files that every rank reads itself (a shared filesystem
 * on several hosts).
 *
 * Angles are radians and shifts voxels, as everywhere inside subtomo (poses: core/rotate.ts); degrees
 * exist only in the files users read and write (STAR, Dynamo .tbl) and in printed text.
 */
import type { Half } from '../core/halfmaps.ts';
import type { Euler, Pose } from '../core/rotate.ts';
import type { SagOptions } from '../core/sag.ts';
import type { TiltRange } from '../core/wedge.ts';
import type { AlignMethod } from './methods.ts';
import type { ParticleCtf } from './particles.ts';

/** A soft-edged sphere about the box centre (core/filters.ts softSphereMask), voxels. */
export interface SphereMask {
  radius: number;
  edge: number;
}

/** The SAG parameters a user may set (paper Algorithms 1–2 and Eq. 13); core/sag.ts documents each. */
export type SagSettings = Pick<SagOptions, 'batchSize' | 'maxEpochs' | 'tolerance' | 'gradientTolerance' | 'lambda'>;

/** An FRM rotation candidate (particle ≈ Λ_R reference): ZYZ Euler angles of R and FRM's score. */
export interface Candidate extends Euler {
  score: number;
}

/**
 * A particle's CTF as jobs carry it: per-tilt parameters (`ctf`), or its CTF volume (`ctfImage`), or neither
 * (the binary wedge of its tilt range). Averaging weights by it, alignment matches the particle to it
 * (core/ctf.ts ctfMatched).
 */
export interface ParticleCtfRef {
  ctf?: ParticleCtf;
  ctfImage?: CtfImageRef;
}

/** One particle of an alignment job. */
export interface AlignParticle extends ParticleCtfRef {
  name: string;
  /** Volume file of the subtomogram. */
  path: string;
  /** Tilt range of its tilt series (its missing wedge). */
  tilt: TiltRange;
  /** Reference it is aligned to (odd and even half-sets have their own). */
  reference: string;
  /** FRM rotation candidates, best first; FTM finds each one's translation in the rank. */
  candidates: Candidate[];
}

/** Algorithm 3 over a list of particles: every (particle × candidate) pair refined, the lowest d winning. */
export interface AlignJob {
  method: AlignMethod;
  particles: AlignParticle[];
  /** FTM search radius, voxels. */
  maxShift: number;
  mask: SphereMask;
  /**
   * Box (even, ≤ n) the refinement runs at: both volumes Fourier-cropped (core/align.ts); shifts stay in
   * original voxels. Omitted = no binning.
   */
  alignBox?: number;
  /** SAG parameters ('sag', 'sag1'); omitted fields take core/sag.ts's defaults. */
  sag?: SagSettings;
  /** Seeds SAG's slice order; particle i × candidate j uses a stream derived from (seed, i, j). */
  seed: number;
  /** Where the results are written (JSON: ParticleAlignment[] in particle order). */
  out: string;
  /** Optional STAR with the winning poses (RELION conventions, io/particlestar.ts). */
  outStar?: string;
}

/** A candidate whose refinement failed (e.g. its reference had no signal inside the mask at that pose). */
export interface CandidateFailure {
  /** Index of the candidate in the particle's list. */
  candidate: number;
  reason: string;
}

/** The outcome of Algorithm 3 for one particle. */
export interface ParticleAlignment {
  name: string;
  /** particle ≈ Λ_pose reference. */
  pose: Pose;
  ccc: number;
  dissimilarity: number;
  iterations: number;
  /** Index of the winning candidate in the particle's list. */
  candidateIndex: number;
  /** Dissimilarity reached from every candidate (Algorithm 3 keeps the lowest); null where it failed. */
  perCandidate: (number | null)[];
  /**
   * No candidate could be refined: pose, ccc and dissimilarity are placeholders (the first candidate's
   * rotation with no shift, CCC 0, d = 2) and the particle must be left out of averages.
   */
  failed: boolean;
  /** Candidates whose refinement failed, and why (empty when all refined). */
  candidateFailures: CandidateFailure[];
  /** Candidates whose refinement stopped at its iteration cap (SAG: maxEpochs) instead of converging. */
  capped: number;
}

/** One particle of an averaging job, averaged CTF-weighted (core/average.ts) when it has a CTF. */
export interface AverageParticle extends ParticleCtfRef {
  name: string;
  path: string;
  tilt: TiltRange;
  pose: Pose;
  half: Half;
}

/** A particle's CTF volume file and how to read it (io/ctfImage.ts). */
export interface CtfImageRef {
  path: string;
  /** rlnCtfDataAreCtfPremultiplied of the particle's list. */
  premultiplied: boolean;
}

/** Wedge-weighted odd, even and combined averages of posed particles (core/halfmaps.ts). */
export interface AverageJob {
  particles: AverageParticle[];
  /** Output volume paths. */
  out: { odd: string; even: string; combined: string };
  /** Wedge-weight floor as a fraction of the particle count (core/average.ts). */
  floorFraction?: number;
  /** Voxel size of the particles, Å: EM files do not carry one (and it overrides MRC headers). */
  voxelSize?: number;
  /** Point-group symmetry (C1, Cn, Dn) imposed on each map written — each half on its own (core/symmetry.ts). */
  symmetry?: string;
}

/**
 * Where the ranks of an MPI job run: started on this host by mpirun ('local', the default), or submitted to
 * Slurm as a batch job that runs them with srun (mpi/slurmJob.ts).
 */
export type MpiExecutor = 'local' | 'slurm';

/**
 * The sbatch options of a Slurm MPI job (sbatch(1)); an absent field leaves the site's default. subtomo sets
 * the job name, task count (the rank count), output files and working directory itself.
 */
export interface SlurmSettings {
  /** `--partition`: a partition or a comma-separated list of them. */
  partition?: string;
  /** `--account` charged for the job. */
  account?: string;
  /** `--nodes`. */
  nodes?: number;
  /** `--ntasks-per-node`: ranks per node. */
  ntasksPerNode?: number;
  /** `--cpus-per-task`: cores of each rank. */
  cpusPerTask?: number;
  /** `--time`: limit in sbatch's formats (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS). */
  time?: string;
  /** `--mem`: memory per node, sbatch's format (megabytes, or with a K, M, G or T suffix). */
  mem?: string;
  /** `--qos`. */
  qos?: string;
  /** Further sbatch options, one argument each (e.g. `--constraint=avx2`). */
  extraArgs?: string[];
}

/** MPI ranks to start, optionally on the hosts of an OpenMPI hostfile, and how mpirun runs them. */
export interface MpiRanks {
  np: number;
  hostfile?: string;
  /** OpenMPI MCA parameters (`--mca KEY VALUE`), e.g. the network interfaces of a cluster. */
  mca?: Record<string, string>;
  /** Further mpirun arguments. */
  args?: string[];
  /** Ranks must be up within this time (default: mpi/launcher.ts MPI_READY_TIMEOUT_MS). */
  readyTimeoutSeconds?: number;
  /** A rank silent this long before finishing its share stalls the job (default: MPI_STALL_TIMEOUT_MS). */
  stallTimeoutSeconds?: number;
  /** 'slurm': submit the job to Slurm (no hostfile then: Slurm places the ranks); absent = local. */
  executor?: MpiExecutor;
  /** sbatch options of a Slurm job. */
  slurm?: SlurmSettings;
}
