/**
 * Particle lists in and out: every format subtomo reads becomes the one ParticleList (model/particles.ts),
 * and every writer takes one. The formats live in their own modules: RELION 4/3.1, RELION 5 and Warp/M
 * STAR files in io/relion.ts (tomograms.star in io/relion-tomograms.ts), Dynamo tables and volume lists in
 * io/dynamo.ts, positions and the particle's pose in the tomogram in io/positions.ts.
 *
 * Detection. `.tbl` is a Dynamo table; any other name is read as STAR when it has a `data_` block, as a
 * Dynamo table when its first line is numbers. A STAR file is RELION 5 when it has data_general
 * (rlnTomoSubTomosAre2DStacks) or rlnTomoName with rlnCenteredCoordinate{X,Y,Z}Angst; RELION 4 when it has
 * rlnTomoName or (subtomo's own and RELION 3.1's) rlnImageName; Warp/M when it names tomograms with
 * rlnMicrographName (RELION 3.0/3.1 lists that name their tomogram so read the same way). A RELION 5
 * optimisation set (rlnTomoParticlesFile, rlnTomoTomogramsFile) is followed to its particles and tomograms.
 *
 * Tomograms. A RELION particles.star does not name its tomogram set (RELION finds it through the
 * optimisation set or the --t flag of its programs): pass tomograms.star as `tomograms`. A Dynamo table's
 * column 20 numbers tomograms of a .vll, passed the same way; a tomograms.star passed with it adds the
 * geometry of the tomograms whose names (the .vll's `* label`) match.
 */
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import type { ListFormat, ParticleList, Tomogram } from '../model/particles.ts';
import { writeFileAtomic } from './atomic.ts';
import { type VolumeList, dynamoParticleList, formatDynamoList, formatVolumeList, readVolumeList } from './dynamo.ts';
import { readRelionTomograms } from './relion-tomograms.ts';
import { optimisationSetFiles, relionFormatOf, relionParticleList, relionProjectDirectory, relionTables } from './relion.ts';
import { formatStar } from './star.ts';
import { parseStarDocument } from './starcells.ts';

export { centredAngstrom, poseInTomogram, positionInPixels } from './positions.ts';

export interface ReadListOptions {
  /** tomograms.star (RELION 4 or 5) and/or a Dynamo .vll describing the list's tomograms. */
  tomograms?: string | string[];
  /** The RELION project directory relative names refer to; default: relionProjectDirectory (io/relion.ts). */
  projectDirectory?: string;
  /** Å per pixel of coordinates (and Dynamo shifts) in files that do not state it: Warp, RELION 3, Dynamo without `* apix`. */
  pixelSize?: number;
}

/** Reads a particle list in any format subtomo knows (module doc). Errors name the file, line and column. */
export async function readParticleList(path: string, opts: ReadListOptions = {}): Promise<ParticleList> {
  const source = resolve(path);
  if (extname(source) === '.vll') {
    throw new Error(`${source} is a Dynamo volume list (tomograms); read the table (.tbl) and pass the .vll as its tomograms`);
  }
  const text = await readFile(source, 'utf8').catch((err: Error) => {
    throw new Error(`cannot read particle list ${source}: ${err.message}`);
  });
  if (isDynamoTable(source, text)) {
    const { relion, volumes, files } = await readTomograms(opts);
    const list = dynamoParticleList(text, source, {
      ...(volumes ? { volumes } : {}),
      ...(relion ? { geometry: relion } : {}),
      ...(opts.pixelSize ? { pixelSize: opts.pixelSize } : {}),
    });
    if (files.length > 0) list.origin.companions = files;
    return list;
  }
  const doc = parseStarDocument(text, source);
  const set = optimisationSetFiles(doc);
  if (set) {
    const tomograms = opts.tomograms ?? set.tomograms;
    return readParticleList(set.particles, { ...opts, ...(tomograms ? { tomograms } : {}) });
  }
  const { relion, volumes, files } = await readTomograms(opts);
  if (volumes) throw new Error(`${volumes.source}: a Dynamo volume list goes with a Dynamo table, not with the STAR file ${source}`);
  const format = relionFormatOf(doc);
  const list = await relionParticleList(doc, format, {
    base: opts.projectDirectory ? resolve(opts.projectDirectory) : relionProjectDirectory(source),
    ...(relion ? { tomograms: relion } : {}),
    ...(opts.pixelSize ? { pixelSize: opts.pixelSize } : {}),
  });
  if (files.length > 0) list.origin.companions = files;
  return list;
}

function isDynamoTable(path: string, text: string): boolean {
  if (extname(path) === '.tbl') return true;
  if (/^\s*data_/m.test(text)) return false;
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '');
  return first !== undefined && first.trim().split(/\s+/).every((f) => Number.isFinite(Number(f)));
}

/** The tomogram files of `opts`: at most one RELION tomogram set and one Dynamo volume list. */
async function readTomograms(opts: ReadListOptions): Promise<{ relion?: Tomogram[]; volumes?: VolumeList; files: string[] }> {
  const paths = opts.tomograms === undefined ? [] : Array.isArray(opts.tomograms) ? opts.tomograms : [opts.tomograms];
  let relion: Tomogram[] | undefined;
  let volumes: VolumeList | undefined;
  const files: string[] = [];
  for (const path of paths.map((p) => resolve(p))) {
    if (extname(path) === '.vll') {
      if (volumes) throw new Error(`${path}: only one Dynamo volume list can number a table's tomograms (${volumes.source} already does)`);
      volumes = await readVolumeList(path);
      files.push(path);
    } else {
      if (relion) throw new Error(`${path}: only one tomogram set (tomograms.star) can describe a list's tomograms`);
      const set = await readRelionTomograms(path, opts.projectDirectory ? resolve(opts.projectDirectory) : relionProjectDirectory(path));
      relion = set.tomograms;
      files.push(...set.files);
    }
  }
  return { ...(relion ? { relion } : {}), ...(volumes ? { volumes } : {}), files };
}

/**
 * The text of `list` in `format`: the file read, with only poses, class, half-set and scores replaced, when
 * `format` is the one it was read from; else fresh tables with what maps (io/relion.ts, io/dynamo.ts).
 * `base`: the directory the output's relative file names refer to (writeParticleList: the RELION project
 * directory of the output, else its directory); without it new names are absolute.
 */
export function formatParticleList(list: ParticleList, format: ListFormat, base?: string): string {
  return format === 'dynamo' ? formatDynamoList(list) : formatStar(relionTables(list, format, base));
}

/**
 * Writes `list` to `path` in `format` and returns the files written. A Dynamo table converted from another
 * format comes with its volume list, `<path without .tbl>.vll`, when every tomogram has a path.
 */
export async function writeParticleList(list: ParticleList, path: string, format: ListFormat): Promise<string[]> {
  const target = resolve(path);
  await writeFileAtomic(target, formatParticleList(list, format, relionProjectDirectory(target)));
  const converted = list.origin.format !== format;
  if (format !== 'dynamo' || !converted || list.tomograms.length === 0 || !list.tomograms.every((t) => t.path)) return [target];
  const vll = target.replace(/\.tbl$/, '') + '.vll';
  await writeFileAtomic(vll, formatVolumeList(list.tomograms));
  return [target, vll];
}
