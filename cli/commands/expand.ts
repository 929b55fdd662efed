/**
 * `subtomo expand`: symmetry expansion of a particle list (drivers/expand.ts), keeping every input column;
 * each particle's copies stay in its half-set.
 */
import { resolve } from 'node:path';
import { expandBySymmetry } from '../../drivers/expand.ts';
import { readParticleList, writeParticleList } from '../../io/particles.ts';
import { type Args, UsageError } from '../../os/args.ts';
import type { Command } from '../command.ts';
import { symmetryOption } from '../symmetryOption.ts';
import { FORMAT_USAGE, outputFormat } from '../listOptions.ts';

const usage = `subtomo expand --particles LIST --symmetry Cn|Dn --out LIST [--tomograms FILE]… [--pixel-size Å] ${FORMAT_USAGE}`;

async function run(args: Args): Promise<void> {
  const group = symmetryOption(args);
  if (!group) throw new UsageError(`--symmetry ${args.string('symmetry')} has one operator: expansion would copy nothing`);
  const tomograms = args.list('tomograms');
  const list = await readParticleList(args.string('particles'), {
    ...(tomograms.length > 0 && { tomograms }),
    ...(args.has('pixel-size') && { pixelSize: args.number('pixel-size') }),
  });
  const expanded = expandBySymmetry(list, group);
  const out = resolve(args.string('out'));
  const format = outputFormat(args, list.origin.format);
  const written = await writeParticleList(expanded, out, format);
  process.stderr.write(
    `expanded ${list.particles.length} particles by ${group.name} into ${expanded.particles.length}: wrote ${written.join(', ')} (${format})\n`,
  );
}

const expand: Command = {
  summary: 'symmetry-expand a particle list (one copy per symmetry operator, each in its particle\'s half-set)',
  usage,
  flags: { values: ['particles', 'symmetry', 'out', 'tomograms', 'pixel-size', 'format'], repeatable: ['tomograms'] },
  run,
};

export default expand;
