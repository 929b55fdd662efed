/**
 * `subtomo postprocess`: RELION-style post-processing of two half maps (core/postprocess.ts): the
 * (mask-corrected) FSC and resolution, the combined map FSC-weighted, sharpened by a B-factor fitted to its
 * Guinier plot or given, and low-passed at the resolution; written as PREFIX.mrc (and PREFIX_masked.mrc with a
 * mask), PREFIX_fsc.csv/.svg, PREFIX_guinier.svg and PREFIX.star (RELION's postprocess.star layout,
 * io/postprocess.ts). The resolution, the B-factor and the paths go to stdout, notes and warnings to stderr.
 */
import { resolve } from 'node:path';
import { FSC_GOLD_STANDARD } from '../../core/fsc.ts';
import { postprocess } from '../../core/postprocess.ts';
import { postprocessWarnings, writePostprocessOutputs } from '../../drivers/postprocess.ts';
import { type Args, UsageError } from '../../os/args.ts';
import type { Command } from '../command.ts';
import { HALF_MAP_FLAGS, HALF_MAP_USAGE, readHalfMapInput, withFlagHints } from '../halfMapOptions.ts';

const usage =
  `subtomo postprocess ${HALF_MAP_USAGE} --out PREFIX [--bfactor auto|B (Å², negative sharpens; default auto)] ` +
  '[--fit-from Å (default max(10, 2 × resolution)) --fit-to Å (default the resolution)]';

interface Sharpening {
  bFactor: number | 'auto';
  fitFrom?: number;
  fitTo?: number;
}

function positiveAngstrom(args: Args, flag: string): number | undefined {
  if (!args.has(flag)) return undefined;
  const v = args.number(flag);
  if (!(v > 0)) throw new UsageError(`--${flag} must be a positive resolution in Å, got ${v}`);
  return v;
}

function readSharpening(args: Args): Sharpening {
  const text = args.string('bfactor', 'auto');
  const fitFrom = positiveAngstrom(args, 'fit-from');
  const fitTo = positiveAngstrom(args, 'fit-to');
  if (text !== 'auto') {
    const bFactor = Number(text);
    if (text.trim() === '' || !Number.isFinite(bFactor)) {
      throw new UsageError(`--bfactor must be 'auto' or a B-factor in Å² (negative sharpens, e.g. -1000), got '${text}'`);
    }
    if (fitFrom !== undefined || fitTo !== undefined) throw new UsageError('--fit-from/--fit-to set the Guinier fit of --bfactor auto; they do nothing with a given B-factor');
    return { bFactor };
  }
  if (fitFrom !== undefined && fitTo !== undefined && !(fitFrom > fitTo)) {
    throw new UsageError(`--fit-from must be a coarser resolution (more Å) than --fit-to, got --fit-from ${fitFrom} --fit-to ${fitTo}`);
  }
  return { bFactor: 'auto', fitFrom, fitTo };
}

function readPrefix(args: Args): string {
  const out = args.string('out');
  if (/\.(mrc|map|star|csv|svg)$/i.test(out)) {
    throw new UsageError(`--out is a prefix (PREFIX.mrc, PREFIX.star, PREFIX_fsc.csv … are written), got '${out}'; drop the extension`);
  }
  return resolve(out);
}

async function run(args: Args): Promise<void> {
  const prefix = readPrefix(args);
  const sharpening = readSharpening(args);
  const note = (line: string) => process.stderr.write(`${line}\n`);
  const input = await readHalfMapInput(args, note);
  const { half1, half2, paths, mask } = input;
  const result = withFlagHints(() =>
    postprocess(half1, half2, { ...sharpening, mask: mask?.data, seed: input.seed, randomiseFrom: input.randomiseFrom }),
  );
  for (const warning of postprocessWarnings(result)) note(`warning: ${warning}`);
  if (typeof sharpening.bFactor === 'number' && sharpening.bFactor > 0) {
    note(`warning: --bfactor ${sharpening.bFactor} is positive, which blurs the map; a negative B-factor sharpens it`);
  }
  const files = await writePostprocessOutputs(prefix, result, {
    halves: paths, ...(mask && { mask: mask.path }), ...(input.symmetry && { symmetry: input.symmetry.name }),
  });

  const { resolution, resolutionHalf, fit } = result;
  const source = result.maskCorrection ? (result.final === result.unmasked ? 'unmasked: mask rejected' : 'mask-corrected') : 'unmasked';
  const lines = [
    `resolution ${resolution.toFixed(2)} Å at FSC ${FSC_GOLD_STANDARD} (${source}; FSC 0.5: ${resolutionHalf.toFixed(2)} Å), interpolated between shells`,
    fit
      ? `B-factor ${result.bFactor.toFixed(0)} Å² fitted to the Guinier plot from ${fit.from.toFixed(2)} Å to ${fit.to.toFixed(2)} Å ` +
        `(${fit.points} shells, r² ${fit.correlation.toFixed(3)}); applied as exp(−B·s²/4), negative sharpens`
      : `B-factor ${result.bFactor.toFixed(0)} Å² (given); applied as exp(−B·s²/4), negative sharpens`,
    `map (FSC-weighted, sharpened, low-passed at ${resolution.toFixed(2)} Å; open in ChimeraX): ${files.map}`,
  ];
  if (files.maskedMap) lines.push(`masked map: ${files.maskedMap}`);
  lines.push(`FSC: ${files.fscCsv}, ${files.fscSvg}`, `Guinier plot: ${files.guinierSvg}`, `RELION postprocess.star layout: ${files.star}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

const postprocessCommand: Command = {
  summary: 'sharpen the mean of two half maps: (mask-corrected) FSC, B-factor, FSC weighting, low-pass at the resolution',
  usage,
  flags: { values: ['out', 'bfactor', 'fit-from', 'fit-to', ...HALF_MAP_FLAGS.values] },
  run,
};

export default postprocessCommand;
