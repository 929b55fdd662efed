/**
 * Every default that more than one place needs — algorithms (core/), the CLI, campaign configs, benches —
 * with one documented value each. Constants only (no runtime imports), so the deterministic workflow bundle
 * can read them too. test/defaults.test.ts pins each entry point to these values.
 */
import type { AlignMethod } from './methods.ts';

/**
 * FRM (core/frm.ts): bandwidth B = 32 gives a 5.6° Euler grid and 2B = 64 is a power of two for the SO(3)
 * FFT (B = 36, the Xu lab's 5° grid, runs the slower Bluestein path); the top 10 rotations are refined.
 */
export const FRM_DEFAULTS = { bandwidth: 32, topN: 10 } as const;

/**
 * SAG (core/sag.ts): Algorithm 2; stops when an epoch changed d by at most `tolerance` = 3e-5 of the start's
 * d and a Gauss–Newton step of its model is predicted to lower d by at most `gradientTolerance` = 1e-5 of it
 * (or the epoch hardly moved the pose), confirmed on the literal d at an anchor (it fell by at most the
 * tolerance since the previous anchor, or its exact gradient predicts at most the gradient tolerance);
 * 200 epochs after the initial pass is only a safety cap (results say when it was hit: `capped`); λ = 0 in
 * Eq. 13 (the objective has no regulariser). The mini-batch size depends on the box: core/sag.ts
 * `defaultBatchSize`. docs/sag.md has the measurements behind these values.
 */
export const SAG_DEFAULTS = { algorithm: 2, maxEpochs: 200, tolerance: 3e-5, gradientTolerance: 1e-5, lambda: 0 } as const;

/**
 * Wedge-weight floor of the averages (core/average.ts), as a fraction of the particle count: Fourier voxels
 * observed by fewer particles are divided by the floor instead, so they are damped rather than amplified.
 */
export const WEIGHT_FLOOR_FRACTION = 0.1;

/** Microscope of the simulations (design.md): 6 µm underfocus, Cs 2 mm, 300 kV, amplitude contrast 0.07. */
export const CTF_DEFAULTS = { defocusAngstrom: 60000, csMillimetre: 2.0, voltageKv: 300, amplitudeContrast: 0.07 } as const;

/**
 * Largest box (voxels) subtomo accepts: a 512³ float32 volume is 512 MB and a refinement holds several, so a
 * larger one cannot be processed on the machines subtomo targets (and is far beyond subtomogram sizes).
 */
export const MAX_BOX = 512;

export const ALIGNMENT_DEFAULTS = {
  /** SAG Algorithm 2, the paper's method. */
  method: 'sag' as AlignMethod,
  /** FRM rotation candidates refined per particle (Algorithm 3's top N). */
  candidates: FRM_DEFAULTS.topN,
  bandwidth: FRM_DEFAULTS.bandwidth,
  /**
   * FTM search radius in voxels (Euclidean): 36 Å at 6 Å voxels, covering the simulator's default shifts
   * (±4 voxels per axis) in all but the corners of that cube.
   */
  maxShift: 6,
  /** Raised-cosine edge of the soft alignment/FSC mask, voxels. */
  maskEdge: 3,
  /** Seed of SAG's slice order. */
  seed: 1,
} as const;

/**
 * Radius (voxels) of the default soft sphere mask of an n³ box: the largest whose raised-cosine edge of
 * `edge` voxels ends one voxel inside the box (n/2 − 1 − edge; 28 for 64³ with the default edge).
 */
export function defaultMaskRadius(n: number, edge: number = ALIGNMENT_DEFAULTS.maskEdge): number {
  return Math.floor(n / 2) - 1 - edge;
}

/**
 * Simulated data sets (design.md "Simulation"): the paper's 64³ boxes of 6 Å voxels, a ±60° tilt series in
 * 1° steps, density at 20 Å resolution, shifts up to ±4 voxels per axis, CTF_DEFAULTS' underfocus. Angles
 * in degrees: these are values a user types.
 */
export const SIMULATION_DEFAULTS = {
  particles: 20,
  size: 64,
  voxel: 6,
  tiltDeg: 60,
  tiltStepDeg: 1,
  resolution: 20,
  maxShift: 4,
  seed: 1,
  defocusMicron: CTF_DEFAULTS.defocusAngstrom / 1e4,
  /** Atom weights of the density (Situs pdb2vol-like, core/simulate.ts densityModel). */
  weighting: 'atomic-number',
} as const;

/**
 * Mask-corrected FSC and post-processing (`subtomo fsc`, `subtomo postprocess`; core/postprocess.ts), as
 * RELION's relion_postprocess: phases are randomised from the first shell where the unmasked FSC drops below
 * `randomiseAtFsc`, with a seeded random stream so the corrected curve is reproducible.
 */
export const POSTPROCESS_DEFAULTS = {
  randomiseAtFsc: 0.8,
  seed: 0,
} as const;

/**
 * A pair left unrefined: its best FRM rotation with FTM's shift, scored there — SAG with no epochs. How every
 * particle × class pair is scored for the class assignment (drivers/classify.ts scoringSettings), and with
 * classification `refine: false` / `subtomo classify --no-refine` the assigned pair's pose as well: what SAG
 * refinement adds to classification, measured.
 */
export const FRM_ONLY_REFINEMENT = { method: 'sag', sag: { maxEpochs: 0 } } as const;

/**
 * Classification (`subtomo classify`, core/classify.ts): MCO-A by default (temperature 0); annealing cools by
 * `cooling` per iteration; a class below `minSizeFraction` × particles / classes is dropped; it stops when at
 * most `stopChanged` of the particles change class; starting references are low-passed to `initialLowpass` Å
 * (and every later reference too, unless `lowpass` says otherwise); two classes whose maps are at least `merge`
 * similar (core/classify.ts classSimilarity: 1 = one structure) are merged.
 */
export const CLASSIFY_DEFAULTS = {
  iterations: 5,
  minSizeFraction: 0.25,
  initialLowpass: 40,
  temperature: 0,
  cooling: 0.7,
  stopChanged: 0.02,
  merge: 0.95,
} as const;
