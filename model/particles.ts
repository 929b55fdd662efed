/**
 * The one particle model. Every particle list subtomo reads — RELION 4/3.1 subtomogram STAR, RELION 5
 * particles.star (+ tomograms.star), Warp/M STAR, Dynamo .tbl (+ .vll), subtomo's own STAR — becomes a
 * ParticleList (io/particles.ts), and every writer takes one. Commands, drivers and campaigns see only this.
 *
 * Units as everywhere inside subtomo: poses in radians and subtomogram voxels (core/rotate.ts), tilt ranges
 * in radians. Positions in a tomogram keep the frame the file gave them (`TomogramPosition`), because
 * converting between RELION 4's pixels and RELION 5's centred Ångström needs the tomogram's size, which only
 * the extraction step (with the tomogram in hand) always knows.
 *
 * Round trips: a list remembers where it came from (`origin`) — its format, every table and every column of
 * every row — and each particle its row (`sourceRow`), so a writer can put back each input column unchanged
 * and update only what subtomo computed (poses, origins, class, half-set, scores), even after the list was
 * filtered or reordered.
 *
 * Where each format puts pixel 0 and how centred Ångström become pixels: io/positions.ts.
 */
import type { Half } from '../core/halfmaps.ts';
import type { Mat3, Pose } from '../core/rotate.ts';
import type { TiltRange } from '../core/wedge.ts';

/** The flavours of particle list subtomo reads and writes. */
export type ListFormat = 'relion4' | 'relion5' | 'warp' | 'dynamo';
export const LIST_FORMATS: readonly ListFormat[] = ['relion4', 'relion5', 'warp', 'dynamo'];

/**
 * Where a particle lies in its tomogram, in the frame of the file it came from:
 * - `pixels`: x, y, z in pixels (RELION 4 rlnCoordinate{X,Y,Z}, Warp, Dynamo columns 24–26), with the pixel
 *   size they refer to when the file says it (RELION 4: the tilt series' rlnTomoTiltSeriesPixelSize, not the
 *   binned tomogram's). `origin` is the coordinate of the first voxel's centre: 0 for RELION and Warp, 1 for
 *   Dynamo (io/positions.ts cites each).
 * - `centered-angstrom`: Å from the tomogram's centre (RELION 5 rlnCenteredCoordinate{X,Y,Z}Angst).
 */
export type TomogramPosition =
  | { frame: 'pixels'; x: number; y: number; z: number; pixelSize?: number; origin: 0 | 1 }
  | { frame: 'centered-angstrom'; x: number; y: number; z: number };

/** Microscope optics shared by the tilts of a tomogram (RELION optics group / tomograms.star). */
export interface Optics {
  voltageKv: number;
  csMillimetre: number;
  amplitudeContrast: number;
}

/** One image of a tilt series, as RELION 5's per-tilt STAR describes it. */
export interface TiltImage {
  /** Tilt angle about y, radians (the missing wedge is what no tilt covers). */
  angle: number;
  /**
   * Defocus U, V at the tomogram's centre (Å, positive = underfocus) and the astigmatism angle (radians) of U
   * from the image's x′ axis, the tilted x (RELION: rlnDefocusAngle − rlnTomoZRot; io/relion-tomograms.ts).
   */
  defocusU?: number;
  defocusV?: number;
  astigmatismAngle?: number;
  /** Electron dose accumulated before this image, e/Å² (dose weighting). */
  preExposure?: number;
  /** Tilt about x after the tilt about y, radians (RELION 5 rlnTomoXTilt; absent: 0): it enters the depth (core/defocus.ts). */
  xTilt?: number;
  /** `file:line` of the row the image was read from, for messages. */
  source?: string;
}

/** One tilt image's CTF at a particle: its tilt series' image with the particle's depth applied. */
export interface TiltCtf {
  /** Tilt angle about y, radians. */
  angle: number;
  /** Defocus along the major (U) and minor (V) axis at the particle, Å, positive = underfocus. */
  defocusU: number;
  defocusV: number;
  /** Angle of U from the image's x′ axis (the tilted x), radians (RELION's rlnDefocusAngle − rlnTomoZRot). */
  astigmatismAngle: number;
  /** Electron dose accumulated before this image, e/Å²; absent: not dose-weighted. */
  preExposure?: number;
}

/** A particle's CTF: the optics and every tilt image's CTF at the particle (core/ctf.ts builds its 3D model). */
export interface ParticleCtf {
  optics: Optics;
  /** Ascending by angle; the first and last angles bound the missing wedge. */
  tilts: TiltCtf[];
}

export interface Tomogram {
  /** rlnTomoName, Warp's micrograph name, or Dynamo's tomogram number (its .vll `* label` when there is one). */
  name: string;
  /** Reconstructed tomogram (MRC), absolute path: what `subtomo extract` cuts particles from. */
  path?: string;
  /** Tomograms reconstructed from the odd and even frames (RELION 5 rlnTomoReconstructedTomogramHalf1/2). */
  halfPaths?: [string, string];
  /** Pixel size of the reconstructed tomogram, Å (RELION 5: rlnTomoTiltSeriesPixelSize × rlnTomoTomogramBinning). */
  pixelSize?: number;
  /** Pixel size of the tilt series, Å: the pixels of RELION 4 coordinates and of rlnTomoSize{X,Y,Z}. */
  tiltSeriesPixelSize?: number;
  /** Size of the reconstructed tomogram in pixels (x, y, z), when the list says it. */
  size?: [number, number, number];
  /**
   * The point RELION 5's centred coordinates are measured from, as a 0-based voxel position in the
   * reconstructed tomogram: rlnTomoSize{X,Y,Z} / 2 / binning. It differs from size / 2 by up to half a
   * voxel when the binning does not divide the size (io/positions.ts). Absent: size / 2.
   */
  centre?: [number, number, number];
  optics?: Optics;
  /** The tilt series, when known (RELION 5 per-tilt STAR): the wedge and the per-tilt CTF. */
  tilts?: TiltImage[];
  /** Sign of the defocus change with depth along the beam (RELION 5 rlnTomoHand, ±1; core/defocus.ts). */
  handedness?: number;
  /** Defocus change per Å of depth (RELION 5 rlnTomoDefocusSlope; absent: 1). */
  defocusSlope?: number;
}

export interface Particle {
  /**
   * Unique within the list: RELION 5's rlnTomoParticleName, else rlnImageName as written, else as RELION
   * names particles (`<tomogram>/<n>`, n counted per tomogram from 1); the tag of a Dynamo table.
   */
  name: string;
  /**
   * Subtomogram volume (MRC/EM), absolute path; absent for RELION 5 / Dynamo lists before extraction and
   * for RELION 5's 2D stacks (rlnTomoSubTomosAre2DStacks), which are not volumes.
   */
  image?: string;
  /**
   * rlnCtfImage (RELION 4/5 weights, Warp's CTF volume): the particle's 3D CTF volume, absolute path; its
   * layout and content are io/ctfImage.ts's (`ParticleList.ctfPremultiplied` says which content).
   */
  ctfImage?: string;
  /** Name of its tomogram in `ParticleList.tomograms`. */
  tomogram?: string;
  position?: TomogramPosition;
  /**
   * particle ≈ Λ_pose reference (radians, voxels of `ParticleList.voxelSize`), in the frame of the particle's
   * box: the tomogram's axes turned by `subtomogramRotation`. Absent when the list has no alignment yet.
   */
  pose?: Pose;
  /**
   * RELION's rlnTomoSubtomogram{Rot,Tilt,Psi} as our rotation S (io/relion.ts): RELION cuts the particle's
   * box with its axes turned by S, so the box's axis u points along S·u in the tomogram, and the pose in
   * the tomogram's axes is S∘pose (`poseInTomogram`, io/positions.ts). Absent: the box has the tomogram's axes.
   */
  subtomogramRotation?: Mat3;
  /** The particle's missing wedge; absent when neither the list nor its tomogram says. */
  tilt?: TiltRange;
  /** Gold-standard half-set (rlnRandomSubset 1 = odd, 2 = even). */
  half?: Half;
  /** rlnClassNumber / Dynamo class (column 22), as the file numbers them (from 1; Dynamo's 0 means none). */
  classNumber?: number;
  /**
   * Scores of the last alignment, written back as subtomo's columns in STAR files (subtomoCcc,
   * subtomoDissimilarity, subtomoIterations, subtomoFrmCandidate = candidate + 1) and as cc (column 10) in
   * Dynamo tables. `candidate` is the 0-based index of the FRM candidate that won.
   */
  scores?: { ccc: number; dissimilarity?: number; iterations?: number; candidate?: number };
  /** Its box reached beyond the tomogram at extraction; that part holds the tomogram's mean (subtomoClipped). */
  clipped?: boolean;
  /** Index of the particle's row in `ListOrigin`'s particle table; absent for a particle the file did not have. */
  sourceRow?: number;
}

/** A table of the source file as read: its name, columns and rows (values as text or numbers). */
export interface SourceTable {
  name: string;
  columns: string[];
  rows: (string | number)[][];
}

/** Where a list came from, so writers can keep every input column and block. */
export interface ListOrigin {
  format: ListFormat;
  /** Absolute path of the file read. */
  path: string;
  /** The directory its relative file names were resolved against (RELION: the project directory). */
  base?: string;
  /** Every table of the file in order (a Dynamo table is one table named 'dynamo' with columns '1' … 'n'). */
  tables: SourceTable[];
  /** The table whose rows are the particles (each particle's row is its `sourceRow`). */
  particleTable: string;
  /** Other files the list was read with (tomograms.star, per-tilt STARs, .vll), absolute paths. */
  companions?: string[];
}

export interface ParticleList {
  particles: Particle[];
  tomograms: Tomogram[];
  /**
   * Voxel size of the subtomograms, Å, and the unit of pose shifts: the optics group's rlnImagePixelSize
   * (RELION 3.0: detector pixel / magnification), or the first volume's header; before extraction RELION 5's
   * rlnTomoTiltSeriesPixelSize; Dynamo: the first particle's tomogram's `* apix` or the reader's pixel size.
   * Absent when nothing says it (shifts are then in the file's pixels).
   */
  voxelSize?: number;
  /** Box size of the subtomograms, voxels, when the list says it (rlnImageSize). */
  boxSize?: number;
  optics?: Optics;
  /**
   * rlnCtfDataAreCtfPremultiplied of the particles' optics group: the subtomograms were multiplied by their
   * CTF (RELION 4/5 pseudo-subtomograms), so their rlnCtfImage holds CTF² (io/ctfImage.ts).
   */
  ctfPremultiplied?: boolean;
  origin: ListOrigin;
}
