/**
 * Extraction: cutting each particle's subtomogram out of its reconstructed tomogram — `subtomo extract` and
 * the load step of a campaign whose particles come with tomograms instead of subtomograms.
 *
 * - The box is centred on the voxel nearest the particle's centre: its position in the tomogram
 *   (io/positions.ts), plus its shift when the list has poses. The sub-voxel rest goes into the pose's shift,
 *   so an aligned particle stays aligned; its rotation is carried over in the tomogram's axes (RELION 5's
 *   rlnTomoSubtomogram rotation S is folded in: the box is cut along the tomogram's axes).
 * - Binning b: a box of b·n voxels is cut at the tomogram's sampling and Fourier-cropped to n (core/resample.ts),
 *   so the particles have voxels of b × the tomogram's pixel size without aliasing.
 * - Streaming: tomograms are opened one at a time and each box is read with positioned reads (io/tomogram.ts),
 *   so memory does not grow with the number of particles or the size of the tomograms.
 * - A box that reaches beyond the tomogram is filled there with the tomogram's mean and flagged (`clipped`).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fourierCrop } from '../core/resample.ts';
import { eulerToMatrix, poseFromMatrix } from '../core/rotate.ts';
import { Volume } from '../core/volume.ts';
import { writeMrc } from '../io/mrc.ts';
import { poseInTomogram, positionInPixels } from '../io/particles.ts';
import { TomogramFile } from '../io/tomogram.ts';
import { assertNotConstant, sameVoxelSize } from '../io/volumes.ts';
import type { Particle, ParticleList, Tomogram } from '../model/particles.ts';

export interface ExtractSettings {
  /** Box of the extracted subtomograms, voxels (even). */
  box: number;
  /** Tomogram pixels per subtomogram voxel (integer ≥ 1). */
  binning: number;
  /** Directory the subtomograms are written to (one subdirectory per tomogram). */
  outDir: string;
}

export interface Extraction {
  /** The particles with their subtomograms (`image`), poses in the box's frame, and the new voxel size. */
  list: ParticleList;
  /** How many boxes reached beyond their tomogram. */
  clipped: number;
}

/** A name usable as a file name: what RELION 5 calls `TS_01/3` becomes `TS_01_3`. */
function fileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_');
}

export function validateExtractSettings(s: Pick<ExtractSettings, 'box' | 'binning'>): void {
  if (!Number.isInteger(s.box) || s.box < 8 || s.box % 2 !== 0) throw new RangeError(`box must be an even number of voxels ≥ 8, got ${s.box}`);
  if (!Number.isInteger(s.binning) || s.binning < 1) throw new RangeError(`binning must be a whole number ≥ 1, got ${s.binning}`);
}

/** Cuts every particle of `list` out of its tomogram; `onParticle` after each. */
export async function extractParticles(
  list: ParticleList,
  settings: ExtractSettings,
  onParticle?: (done: number, name: string) => void | Promise<void>,
): Promise<Extraction> {
  validateExtractSettings(settings);
  const { box, binning } = settings;
  const wide = box * binning;
  const tomograms = new Map(list.tomograms.map((t) => [t.name, t]));
  const byTomogram = new Map<string, Particle[]>();
  for (const p of list.particles) {
    if (p.tomogram === undefined || p.position === undefined) {
      throw new Error(`particle ${p.name} has no tomogram and position to extract it from (rlnTomoName and coordinates)`);
    }
    byTomogram.set(p.tomogram, [...(byTomogram.get(p.tomogram) ?? []), p]);
  }
  const extracted = new Map<Particle, Particle>();
  let voxelSize: number | undefined;
  let clipped = 0;
  for (const [name, particles] of byTomogram) {
    const tomogram: Tomogram = tomograms.get(name) ?? { name };
    if (!tomogram.path) {
      throw new Error(`tomogram ${name} has no reconstructed tomogram file (rlnTomoReconstructedTomogram, or a .vll entry); pass the tomogram set`);
    }
    const file = await TomogramFile.open(tomogram.path);
    try {
      const pixelSize = tomogram.pixelSize ?? file.header.voxelSize;
      if (!(pixelSize > 0)) throw new Error(`tomogram ${name} (${tomogram.path}) has no pixel size in its header or in the tomogram set`);
      if (tomogram.pixelSize && file.header.voxelSize > 0 && !sameVoxelSize(tomogram.pixelSize, file.header.voxelSize)) {
        throw new Error(`tomogram ${name}: the tomogram set says ${tomogram.pixelSize} Å pixels, its file ${tomogram.path} ${file.header.voxelSize} Å`);
      }
      const out = pixelSize * binning;
      if (voxelSize !== undefined && !sameVoxelSize(out, voxelSize)) {
        throw new Error(`tomogram ${name} has ${pixelSize} Å pixels, unlike the tomograms before it: one extraction gives particles of one voxel size`);
      }
      voxelSize = out;
      const geometry = { ...tomogram, pixelSize, size: tomogram.size ?? file.size };
      const mean = await file.mean();
      const dir = join(settings.outDir, fileName(name));
      await mkdir(dir, { recursive: true });
      for (const p of particles) {
        const pose = poseInTomogram(p);
        const centre = positionInPixels(p.position!, geometry);
        if (pose) {
          // The shift is in the list's voxels, along the tomogram's axes once S is folded in.
          const shift = (list.voxelSize ?? pixelSize) / pixelSize;
          centre[0] += pose.tx * shift;
          centre[1] += pose.ty * shift;
          centre[2] += pose.tz * shift;
        }
        const at = centre.map(Math.round);
        const cut = await file.readBox(at[0] - wide / 2, at[1] - wide / 2, at[2] - wide / 2, wide, mean);
        let volume = new Volume(wide, pixelSize, cut.data);
        const where = `particle ${p.name} (tomogram ${name} at voxel ${at.join(', ')})`;
        if (!volume.data.every(Number.isFinite)) throw new Error(`${where}: the tomogram holds non-finite values there`);
        assertNotConstant(volume, where);
        if (binning > 1) volume = new Volume(box, out, fourierCrop(volume, box).data);
        const image = join(dir, `${fileName(p.name)}.mrc`);
        await writeMrc(image, volume, { labels: [`subtomo extract: ${p.name} from ${name}`.slice(0, 80)] });
        const rest = [0, 1, 2].map((k) => (centre[k] - at[k]) / binning);
        const next: Particle = { ...p, image, clipped: cut.clipped };
        delete next.subtomogramRotation;
        // A CTF volume of the source (a pseudo-subtomogram's weights) does not describe the box cut here: the
        // new box's CTF comes from its tomogram's tilt series.
        delete next.ctfImage;
        if (pose) next.pose = poseFromMatrix(eulerToMatrix(pose), rest);
        extracted.set(p, next);
        if (cut.clipped) clipped++;
        await onParticle?.(extracted.size, p.name);
      }
    } finally {
      await file.close();
    }
  }
  // Fresh tables in the writer: the subtomograms are new files of a new voxel size.
  const particles = list.particles.map((p) => {
    const { sourceRow: _row, ...rest } = extracted.get(p)!;
    return rest;
  });
  return { list: { ...list, particles, voxelSize, boxSize: box }, clipped };
}
