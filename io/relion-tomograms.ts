/**
 * RELION's tomogram set (tomograms.star) → Tomogram[]. Labels from RELION 5 (src/metadata_label.h) as
 * src/jaz/tomography/tomogram_set.cpp reads them, and the RELION 5 documentation ("Tomogram set"):
 *
 * data_global, one row per tomogram: rlnTomoName; rlnTomoTiltSeriesPixelSize (Å, the pixels of
 * rlnTomoSize{X,Y,Z}, "Width of a bin-1 tomogram in pixels"); rlnTomoTomogramBinning (the binning of
 * rlnTomoReconstructedTomogram; the Half1/Half2 variants name the odd/even-frame tomograms); rlnVoltage,
 * rlnSphericalAberration, rlnAmplitudeContrast; rlnTomoTiltSeriesStarFile, the per-tilt STAR whose block
 * is named after the tomogram (TomogramSet::read), one row per tilt image: rlnTomoNominalStageTiltAngle
 * and, after alignment, rlnTomoYTilt, rlnTomoXTilt and rlnTomoZRot (degrees), rlnDefocusU/V (Å),
 * rlnDefocusAngle (degrees), rlnMicrographPreExposure (e/Å²). RELION 4.0's tomograms.star has no per-tilt
 * files: the per-tilt blocks follow data_global in the same file (TomogramSet::read converts them the same
 * way) and hold projection matrices rather than tilt angles.
 *
 * The tilt angle of an image is rlnTomoYTilt when present (the alignment's tilt about y, with which the
 * tomogram was reconstructed), else the nominal stage tilt.
 *
 * CTF (core/defocus.ts has how RELION turns these into the CTF at a particle): rlnDefocusU/V are the tilt
 * image's defocus at the tomogram's centre, rlnTomoXTilt (default 0) moves depths, rlnTomoHand (data_global)
 * signs the defocus change with depth and rlnTomoDefocusSlope (default 1) scales it. rlnDefocusAngle is measured
 * in the raw tilt image, whose axes are the tomogram's turned by rlnTomoZRot (the Rz of the projection,
 * Tomogram::setProjectionMatrix), so the angle from the tilted x axis x′ of our CTF model is rlnDefocusAngle −
 * rlnTomoZRot (0 when absent). Per-tilt CTF scale factors, B-factors and phase shifts (rlnCtfScalefactor,
 * rlnCtfBfactor, rlnPhaseShift) are not read. The reconstructed tomogram's size is
 * rlnTomoSize / binning rounded as relion_tomo_reconstruct_tomogram rounds it (x, y: nearest; z: down;
 * programs/reconstruct_tomogram.cpp), and its centre, where RELION 5's centred coordinates are measured
 * from, is rlnTomoSize / 2 / binning (io/positions.ts).
 */
import { resolve } from 'node:path';
import { radians } from '../core/rotate.ts';
import type { TiltImage, Tomogram } from '../model/particles.ts';
import type { StarTable } from './star.ts';
import {
  type StarDocument,
  cellFinite,
  cellText,
  findBlock,
  hasColumn,
  hasColumnGroup,
  optionalFinite,
  readStarDocument,
  starWhere,
} from './starcells.ts';

const SIZE = ['rlnTomoSizeX', 'rlnTomoSizeY', 'rlnTomoSizeZ'] as const;
const HALVES = ['rlnTomoReconstructedTomogramHalf1', 'rlnTomoReconstructedTomogramHalf2'] as const;

export interface TomogramSet {
  tomograms: Tomogram[];
  /** The files read: tomograms.star and every per-tilt STAR. */
  files: string[];
}

/** Reads tomograms.star; relative names are resolved against `base` (the RELION project directory). */
export async function readRelionTomograms(path: string, base: string): Promise<TomogramSet> {
  const doc = await readStarDocument(resolve(path));
  const global = findBlock(doc, 'global');
  if (!global) throw new Error(`${doc.path}: no data_global block, so this is not a RELION tomogram set (tomograms.star)`);
  if (!hasColumn(global, 'rlnTomoName')) throw new Error(`${doc.path}: data_global lacks _rlnTomoName`);
  const hasSize = hasColumnGroup(doc, global, SIZE);
  const hasHalves = hasColumnGroup(doc, global, HALVES);
  const files = [doc.path];
  // Per-tilt STAR files by path: tomograms may share one, each with its own block (RELION reads block `name`).
  const perTiltFiles = new Map<string, Promise<StarDocument>>();
  const seen = new Map<string, number>();
  const tomograms: Tomogram[] = [];
  for (let r = 0; r < global.rows.length; r++) {
    const text = (label: string) => cellText(doc, global, r, label);
    const num = (label: string) => optionalFinite(doc, global, r, label);
    const name = text('rlnTomoName');
    const previous = seen.get(name);
    if (previous !== undefined) {
      const line = doc.rowLines.get(global)![previous];
      throw new Error(`${starWhere(doc, global, r, 'rlnTomoName')}: tomogram '${name}' is already defined on line ${line}`);
    }
    seen.set(name, r);
    const tomogram: Tomogram = { name };
    const tiltSeriesPixel = num('rlnTomoTiltSeriesPixelSize');
    const binning = num('rlnTomoTomogramBinning') ?? 1;
    if (!(binning > 0)) throw new Error(`${starWhere(doc, global, r, 'rlnTomoTomogramBinning')} must be positive, got ${binning}`);
    if (tiltSeriesPixel !== undefined) {
      if (!(tiltSeriesPixel > 0)) {
        throw new Error(`${starWhere(doc, global, r, 'rlnTomoTiltSeriesPixelSize')} must be positive, got ${tiltSeriesPixel}`);
      }
      tomogram.tiltSeriesPixelSize = tiltSeriesPixel;
      tomogram.pixelSize = tiltSeriesPixel * binning;
    }
    if (hasSize) {
      const [sx, sy, sz] = SIZE.map((l) => cellFinite(doc, global, r, l));
      tomogram.size = [Math.floor(sx / binning + 0.5), Math.floor(sy / binning + 0.5), Math.floor(sz / binning)];
      tomogram.centre = [sx / 2 / binning, sy / 2 / binning, sz / 2 / binning];
    }
    if (hasColumn(global, 'rlnTomoReconstructedTomogram')) tomogram.path = resolve(base, text('rlnTomoReconstructedTomogram'));
    if (hasHalves) tomogram.halfPaths = [resolve(base, text(HALVES[0])), resolve(base, text(HALVES[1]))];
    const [voltageKv, csMillimetre, amplitudeContrast] = ['rlnVoltage', 'rlnSphericalAberration', 'rlnAmplitudeContrast'].map(num);
    if (voltageKv !== undefined && csMillimetre !== undefined && amplitudeContrast !== undefined) {
      tomogram.optics = { voltageKv, csMillimetre, amplitudeContrast };
    }
    const handedness = num('rlnTomoHand');
    if (handedness !== undefined) tomogram.handedness = handedness;
    const slope = num('rlnTomoDefocusSlope');
    if (slope !== undefined) tomogram.defocusSlope = slope;
    const tilts = hasColumn(global, 'rlnTomoTiltSeriesStarFile')
      ? await tiltSeriesFile(doc, global, r, name, base, files, perTiltFiles)
      : tiltImages(doc, findBlock(doc, name));
    if (tilts) tomogram.tilts = tilts;
    tomograms.push(tomogram);
  }
  return { tomograms, files };
}

/** The per-tilt STAR of row `r`: its block named after the tomogram, or its only block. */
async function tiltSeriesFile(
  doc: StarDocument,
  global: StarTable,
  r: number,
  name: string,
  base: string,
  files: string[],
  perTiltFiles: Map<string, Promise<StarDocument>>,
): Promise<TiltImage[] | undefined> {
  const path = resolve(base, cellText(doc, global, r, 'rlnTomoTiltSeriesStarFile'));
  if (!perTiltFiles.has(path)) {
    perTiltFiles.set(path, readStarDocument(path));
    files.push(path);
  }
  const tilts = await perTiltFiles.get(path)!.catch((err: Error) => {
    throw new Error(`${starWhere(doc, global, r, 'rlnTomoTiltSeriesStarFile')}: ${err.message}`);
  });
  const block = findBlock(tilts, name) ?? (tilts.tables.length === 1 ? tilts.tables[0] : undefined);
  if (!block) throw new Error(`${path}: no data_${name} block with the tilt images of tomogram ${name}`);
  return tiltImages(tilts, block);
}

/** The tilt images of a per-tilt block, when it has tilt angles (RELION 4's blocks have only matrices). */
function tiltImages(doc: StarDocument, block: StarTable | undefined): TiltImage[] | undefined {
  if (!block) return undefined;
  const angleLabel = ['rlnTomoYTilt', 'rlnTomoNominalStageTiltAngle'].find((l) => hasColumn(block, l));
  if (!angleLabel) return undefined;
  return block.rows.map((_, f) => {
    const num = (label: string) => optionalFinite(doc, block, f, label);
    const angle = cellFinite(doc, block, f, angleLabel);
    if (!(angle >= -90 && angle <= 90)) throw new Error(`${starWhere(doc, block, f, angleLabel)} is ${angle}°; expected a tilt within ±90°`);
    const image: TiltImage = { angle: radians(angle), source: starWhere(doc, block, f) };
    const ctfLabels = ['rlnDefocusU', 'rlnDefocusV', 'rlnDefocusAngle', 'rlnMicrographPreExposure', 'rlnTomoXTilt', 'rlnTomoZRot'];
    const [defocusU, defocusV, astigmatism, preExposure, xTilt, zRot] = ctfLabels.map(num);
    if (defocusU !== undefined) image.defocusU = defocusU;
    if (defocusV !== undefined) image.defocusV = defocusV;
    if (astigmatism !== undefined) image.astigmatismAngle = radians(astigmatism - (zRot ?? 0));
    if (preExposure !== undefined) image.preExposure = preExposure;
    if (xTilt !== undefined) image.xTilt = radians(xTilt);
    return image;
  });
}
