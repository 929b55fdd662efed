/**
 * Job files handed to the MPI rank programs (`mpirun … node mpi/alignRank.ts JOB.json`). Only paths and small
 * numbers travel here: volumes stay in MRC files that every rank reads itself (shared filesystem on multi-node).
 * Angles are degrees (user-facing files), shifts voxels.
 */
import type { AlignMethod } from '../workflows/config.ts';

export interface PoseDeg {
  /** ZYZ Euler angles in degrees, R = Rz(phi)·Ry(theta)·Rz(psi); particle ≈ Λ_(R,T) reference. */
  phi: number;
  theta: number;
  psi: number;
  tx: number;
  ty: number;
  tz: number;
}

export interface ParticleEntry {
  name: string;
  /** MRC of the subtomogram. */
  path: string;
  /** Tilt range of the particle's tilt series, degrees. */
  tiltMin: number;
  tiltMax: number;
  /** Reference this particle is aligned to (odd/even half references differ). */
  reference: string;
  /** FRM rotation candidates (translations are found by FTM in the rank), best first. */
  candidates: { phi: number; theta: number; psi: number; score: number }[];
}

export interface AlignJob {
  method: AlignMethod;
  particles: ParticleEntry[];
  maxShift: number;
  mask: { radius: number; edge: number };
  /**
   * Box (even, ≤ n) the refinement runs at: both volumes Fourier-cropped (core/align.ts); shifts stay in
   * original voxels. Omitted = no binning.
   */
  alignBox?: number;
  /** Seeds SAG's slice order; particle i × candidate j uses a stream derived from (seed, i, j). */
  seed: number;
  /** Where rank 0 writes the results (JSON: AlignResult[] in particle order). */
  out: string;
  /** Optional STAR with the winning poses, written by rank 0 too. */
  outStar?: string;
}

export interface AlignResult {
  name: string;
  pose: PoseDeg;
  ccc: number;
  dissimilarity: number;
  iterations: number;
  candidateIndex: number;
  /** Dissimilarity reached from every candidate (Algorithm 3 keeps the lowest). */
  perCandidate: number[];
}

export interface AverageJob {
  particles: { name: string; path: string; tiltMin: number; tiltMax: number; pose: PoseDeg; half: 'odd' | 'even' }[];
  /** Output MRC paths written by rank 0. */
  out: { odd: string; even: string; combined: string };
  /** Wedge-weight floor as a fraction of the particle count (core/average.ts). */
  floorFraction?: number;
}
