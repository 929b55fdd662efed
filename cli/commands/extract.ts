/**
 * `subtomo extract`: cut the particles of a list out of their reconstructed tomograms (drivers/extract.ts) —
 * one tomogram at a time, boxes read without loading the tomogram — and write the subtomograms and a
 * particle list that `align`, `average` and campaigns take.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { extractParticles, validateExtractSettings } from '../../drivers/extract.ts';
import { readParticleList, writeParticleList } from '../../io/particles.ts';
import { type Args, UsageError } from '../../os/args.ts';
import { ProgressBar } from '../../os/progress.ts';
import type { Command } from '../command.ts';
import { FORMAT_USAGE, LIST_FLAGS, LIST_USAGE, listSelection, outputFormat } from '../listOptions.ts';

const usage =
  `subtomo extract ${LIST_USAGE} --box N [--binning B] --out DIR ${FORMAT_USAGE}\n` +
  '       writes DIR/particles.star (RELION 4 for Dynamo input) and DIR/Subtomograms/<tomogram>/<particle>.mrc; ' +
  'N voxels of B tomogram pixels each (Fourier-cropped)';

async function run(args: Args): Promise<void> {
  const selection = listSelection(args);
  const box = args.int('box');
  const binning = args.int('binning', 1);
  try {
    validateExtractSettings({ box, binning });
  } catch (err) {
    throw new UsageError(`--${/binning/.test((err as Error).message) ? 'binning' : 'box'}: ${(err as Error).message}`);
  }
  const outDir = resolve(args.string('out'));
  const read = await readParticleList(args.string('particles'), selection);
  const list = selection.classNumber === undefined ? read : { ...read, particles: read.particles.filter((p) => p.classNumber === selection.classNumber) };
  if (list.particles.length === 0) throw new Error(`${read.origin.path}: no particle${selection.classNumber === undefined ? '' : ` of class ${selection.classNumber}`} to extract`);
  if (selection.tiltRange) for (const p of list.particles) p.tilt ??= selection.tiltRange;
  // The list written must name the new subtomograms: a Dynamo table cannot (Dynamo finds particle_<tag>.em files).
  const format = outputFormat(args, list.origin.format === 'dynamo' ? 'relion4' : list.origin.format);
  if (format === 'dynamo') throw new UsageError('--format dynamo: a Dynamo table cannot name the extracted subtomograms; write relion4, relion5 or warp');
  await mkdir(outDir, { recursive: true });
  const bar = new ProgressBar('extract', list.particles.length);
  const started = performance.now();
  const { list: extracted, clipped } = await extractParticles(list, { box, binning, outDir: join(outDir, 'Subtomograms') }, (_done, name) => bar.tick(1, name));
  const written = await writeParticleList(extracted, join(outDir, 'particles.star'), format);
  const tomograms = new Set(list.particles.map((p) => p.tomogram)).size;
  process.stderr.write(
    `extracted ${extracted.particles.length} particles from ${tomograms} tomogram${tomograms === 1 ? '' : 's'} in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s: ${box}³ voxels of ${extracted.voxelSize!.toPrecision(4)} Å` +
      `${clipped > 0 ? `; ${clipped} reached beyond their tomogram (padded with its mean, flagged subtomoClipped = 1)` : ''}\n` +
      `wrote ${written.join(', ')} (${format}) and ${join(outDir, 'Subtomograms')}\n`,
  );
}

const extract: Command = {
  summary: 'cut subtomograms out of tomograms at the particles of a RELION/Warp/Dynamo list',
  usage,
  flags: { values: ['box', 'binning', 'out', ...LIST_FLAGS.values], switches: LIST_FLAGS.switches, repeatable: LIST_FLAGS.repeatable },
  run,
};

export default extract;
