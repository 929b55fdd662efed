/**
 * `subtomo/core`: the numerics, pure and without I/O (design.md fixes their conventions: volume layout, ZYZ
 * Euler poses in radians, shifts in voxels, the missing wedge, the constrained correlation, FSC at 0.143).
 *
 *   import { Volume, frmCandidates, alignParticle, fscCurve, goldStandardResolution } from 'subtomo/core';
 */
/** Volumes and slices. */
export * from '../core/volume.ts';
/** 3D FFT of any size (mixed radix 2/3/4/5/8, Bluestein for larger prime factors). */
export * from '../core/fft.ts';
/** Rotations, Euler angles and poses; rotating volumes. */
export * from '../core/rotate.ts';
/** The missing wedge of a tilt range. */
export * from '../core/wedge.ts';
/** Constrained cross-correlation (CCC) under both particles' wedges. */
export * from '../core/ccc.ts';
/** Fast rotational matching (FRM): the top-N rotation candidates. */
export * from '../core/frm.ts';
/** FFT translational matching (FTM). */
export * from '../core/ftm.ts';
/** SAG refinement (the paper's Algorithms 1–2). */
export * from '../core/sag.ts';
/** Algorithm 3 for one particle: every candidate refined, the lowest dissimilarity winning (SAG, LM, Chen). */
export * from '../core/align.ts';
/** Low-pass filters and masks. */
export * from '../core/filters.ts';
/** Fourier shell correlation and resolution. */
export * from '../core/fsc.ts';
/** Simulated subtomograms (tilt series, CTF, noise, MTF, weighted back-projection). */
export * from '../core/simulate.ts';
/** The GroEL-like phantom. */
export * from '../core/phantom.ts';
/** Point-group symmetry (Cn, Dn). */
export * from '../core/symmetry.ts';
/** Wedge-weighted averaging and gold-standard half maps. */
export * from '../core/average.ts';
export * from '../core/halfmaps.ts';
/** RELION-style post-processing: mask-corrected FSC, B-factor sharpening. */
export * from '../core/postprocess.ts';
/** The CTF, its 3D model per particle (nearest tilt plane, dose weights) and the defocus at a particle's depth. */
export * from '../core/ctf.ts';
export * from '../core/defocus.ts';
/** A reference from an average: low-pass at the resolution, inside the mask. */
export * from '../core/reference.ts';
/** Multi-reference classification: MCO-A / annealed assignment, class pruning, adjusted Rand index. */
export * from '../core/classify.ts';
/** Registering one map onto another. */
export * from '../core/register.ts';
/** Seeded random streams; statistics (paired tests). */
export * from '../core/random.ts';
export * from '../core/stats.ts';
