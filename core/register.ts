/**
 * Registration of one map onto another (both fully sampled, e.g. two half averages): FRM candidates, then
 * SAG refinement of each (Algorithm 3), then the moving map resampled into the fixed map's frame. Independent
 * gold-standard halves of a reference-free run can settle in different orientations (there is no common
 * frame to hold them); EMAN2's e2spt_refine aligns the even map to the odd one before the FSC for that reason.
 */
import { alignParticle } from './align.ts';
import { frmCandidates } from './frm.ts';
import { type Pose, inversePose, transformVolume } from './rotate.ts';
import type { Volume } from './volume.ts';

export interface RegisterOptions {
  /** Real-space mask of the comparison (n³). */
  mask: Float32Array;
  /** Highest Fourier shell carrying signal in both maps (their low-pass); limits FRM and sets the refinement box. */
  lowpassShell: number;
  /** Largest shift searched, voxels. */
  maxShift: number;
  bandwidth?: number;
  candidates?: number;
  seed?: number;
}

export interface Registration {
  /** moving ≈ Λ_pose fixed. */
  pose: Pose;
  /** Λ_pose⁻¹ moving: the moving map in the fixed map's frame. */
  registered: Volume;
  /** Masked CCC of the two maps at `pose`. */
  ccc: number;
}

export function registerMaps(fixed: Volume, moving: Volume, options: RegisterOptions): Registration {
  const candidates = frmCandidates(fixed, moving, {
    bandwidth: options.bandwidth ?? 32,
    topN: options.candidates ?? 10,
    maxShell: Math.min(Math.floor(options.lowpassShell), fixed.n / 2 - 1),
  });
  const { best, failures } = alignParticle(fixed, moving, {
    method: 'sag',
    candidates,
    maxShift: options.maxShift,
    mask: options.mask,
    lowpassShell: options.lowpassShell,
    seed: options.seed ?? 0,
  });
  if (!best) throw new Error(`the half maps could not be registered: every candidate failed (${failures[0].reason})`);
  return { pose: best.pose, registered: transformVolume(moving, inversePose(best.pose)), ccc: best.ccc };
}
