/**
 * Reading boxes out of a reconstructed tomogram (an MRC of any shape, e.g. 928 × 928 × 500) without loading
 * it: each box is read row by row with positioned reads, so the memory used is one box, whatever the size
 * of the tomogram or the number of particles — what `subtomo extract` needs to stream through a data set.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { type MrcHeader, decodeVoxels, modeBytes, parseMrcHeader, MRC_HEADER_BYTES } from './mrc.ts';

export interface Box {
  /** w³ voxels, x fastest. */
  data: Float32Array;
  /** Some of the box lay outside the tomogram and holds the fill value there. */
  clipped: boolean;
}

export class TomogramFile {
  private constructor(
    readonly path: string,
    readonly header: MrcHeader,
    private readonly fh: FileHandle,
  ) {}

  static async open(path: string): Promise<TomogramFile> {
    const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      throw new Error(err.code === 'ENOENT' ? `tomogram ${path} does not exist` : `cannot open tomogram ${path}: ${err.message}`);
    });
    try {
      const { size } = await fh.stat();
      const head = new Uint8Array(Math.min(size, MRC_HEADER_BYTES));
      await fh.read(head, 0, head.length, 0);
      const header = parseMrcHeader(head, path, size);
      if (header.mapc !== 1 || header.mapr !== 2 || header.maps !== 3) {
        throw new Error(
          `${path}: axis order mapc/mapr/maps = ${header.mapc}/${header.mapr}/${header.maps}; extraction reads tomograms stored x fastest ` +
            '(1/2/3), as IMOD, AreTomo, Warp and RELION write them',
        );
      }
      return new TomogramFile(path, header, fh);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  get size(): [number, number, number] {
    return [this.header.nx, this.header.ny, this.header.nz];
  }

  /**
   * The tomogram's mean: the header's (MRC word 22) when it is plausible, else computed with one pass over
   * the file, a section at a time.
   */
  async mean(): Promise<number> {
    const { dmin, dmax, dmean } = this.header;
    if (Number.isFinite(dmean) && dmin < dmax && dmean >= dmin && dmean <= dmax) return dmean;
    const { nx, ny, nz, dataOffset } = this.header;
    const sectionBytes = nx * ny * modeBytes(this.header.mode);
    const bytes = new Uint8Array(sectionBytes);
    let sum = 0;
    for (let z = 0; z < nz; z++) {
      await this.fh.read(bytes, 0, sectionBytes, dataOffset + z * sectionBytes);
      const values = decodeVoxels(bytes, this.header);
      for (let i = 0; i < values.length; i++) sum += values[i];
    }
    return sum / (nx * ny * nz);
  }

  /** The box of w³ voxels whose first voxel is (x0, y0, z0); voxels outside the tomogram are `fill`. */
  async readBox(x0: number, y0: number, z0: number, w: number, fill: number): Promise<Box> {
    const { nx, ny, nz, dataOffset } = this.header;
    const bytesPerVoxel = modeBytes(this.header.mode);
    const data = new Float32Array(w * w * w).fill(fill);
    const xa = Math.max(0, x0);
    const xb = Math.min(nx, x0 + w);
    const clipped = x0 < 0 || y0 < 0 || z0 < 0 || x0 + w > nx || y0 + w > ny || z0 + w > nz;
    if (xa >= xb) return { data, clipped };
    const run = new Uint8Array((xb - xa) * bytesPerVoxel);
    for (let z = Math.max(0, z0); z < Math.min(nz, z0 + w); z++) {
      for (let y = Math.max(0, y0); y < Math.min(ny, y0 + w); y++) {
        const at = dataOffset + ((z * ny + y) * nx + xa) * bytesPerVoxel;
        await this.fh.read(run, 0, run.length, at);
        data.set(decodeVoxels(run, this.header), xa - x0 + w * (y - y0 + w * (z - z0)));
      }
    }
    return { data, clipped };
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
