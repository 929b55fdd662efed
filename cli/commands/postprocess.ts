/**
 * `subtomo postprocess`: RELION-style post-processing of two half maps (core/postprocess.ts): the
 * (mask-corrected) FSC and resolution, the combined map FSC-weighted, sharpened by a B-factor fitted to its
 * Guinier plot or given, and low-passed at the resolution; written as PREFIX.mrc (and PREFIX_masked.mrc with a
 * mask), PREFIX_fsc.csv/.svg, PREFIX_guinier.svg and PREFIX.star (RELION's postprocess.star layout,
 * io/postprocess.ts). The resolution, the B-factor and the paths go to stdout, notes and warnings to stderr.
 */
import { mkdir } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { FSC_GOLD_STANDARD } from '../../core/fsc.ts';
import { RANDOMISED_FSC_WARNING, type PostprocessResult, postprocess } from '../../core/postprocess.ts';
import { writeFileAtomic } from '../../io/atomic.ts';
import { writeMrc } from '../../io/mrc.ts';
import { fscColumns, fscCsv, fscSvg, guinierSvg, postprocessStar } from '../../io/postprocess.ts';
import { writeStar } from '../../io/star.ts';
import { type Args, UsageError } from '../../os/args.ts';
import type { Command } from '../command.ts';
import { HALF_MAP_FLAGS, HALF_MAP_USAGE, readHalfMapInput, withFlagHints } from '../halfMapOptions.ts';

const usage =
  `subtomo postprocess ${HALF_MAP_USAGE} --out PREFIX [--bfactor auto|B (Å², negative sharpens; default auto)] ` +
  '[--fit-from Å (default max(10, 2 × resolution)) --fit-to Å (default the resolution)]';

/** The files written for --out PREFIX. */
function postprocessOutputs(prefix: string, masked: boolean) {
  return {
    map: `${prefix}.mrc`,
    maskedMap: masked ? `${prefix}_masked.mrc` : undefined,
    star: `${prefix}.star`,
    fscCsv: `${prefix}_fsc.csv`,
    fscSvg: `${prefix}_fsc.svg`,
    guinierSvg: `${prefix}_guinier.svg`,
  };
}

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

/** MRC labels (ASCII, ≤ 80 characters each) saying what the map is. */
function mapLabels(result: PostprocessResult, halves: readonly string[], symmetry: string | undefined, maskPath?: string): string[] {
  const { resolution, fit } = result;
  const source = result.final === result.unmasked ? 'unmasked' : 'mask-corrected';
  const labels = [
    `postprocess: mean of ${halves.map((p) => basename(p)).join(' + ')}`,
    `resolution ${resolution.toFixed(2)} A at FSC ${FSC_GOLD_STANDARD} (${source}); low-pass ${resolution.toFixed(2)} A`,
    `FSC-weighted; B-factor ${result.bFactor.toFixed(0)} A^2 ${fit ? `(fitted ${fit.from.toFixed(1)}-${fit.to.toFixed(1)} A)` : '(given)'}`,
  ];
  if (symmetry) labels.push(`each half symmetrised with ${symmetry}`);
  if (maskPath) labels.push(`multiplied by mask ${basename(maskPath)}`);
  return labels;
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
  if (result.diagnostics?.maskRejected) {
    note('warning: the unmasked FSC reaches further than the mask-corrected one: the mask cuts away signal, so the unmasked FSC is used, as RELION does; try a larger or softer mask');
  } else if (result.diagnostics && result.diagnostics.randomisedFscAtResolution > RANDOMISED_FSC_WARNING) {
    note(
      `warning: the phase-randomised masked FSC is ${result.diagnostics.randomisedFscAtResolution.toFixed(3)} (> ${RANDOMISED_FSC_WARNING}) at the resolution: ` +
        'the mask is too sharp for a reliable correction; try a softer mask',
    );
  }
  if (typeof sharpening.bFactor === 'number' && sharpening.bFactor > 0) {
    note(`warning: --bfactor ${sharpening.bFactor} is positive, which blurs the map; a negative B-factor sharpens it`);
  }

  const files = postprocessOutputs(prefix, mask !== undefined);
  await mkdir(dirname(prefix), { recursive: true });
  const symmetry = input.symmetry?.name;
  await writeMrc(files.map, result.map, { labels: mapLabels(result, paths, symmetry) });
  if (files.maskedMap && result.maskedMap) {
    await writeMrc(files.maskedMap, result.maskedMap, { labels: mapLabels(result, paths, symmetry, mask?.path) });
  }
  const curves = fscColumns(result.unmasked, result.maskCorrection);
  await writeFileAtomic(files.fscCsv, fscCsv(curves));
  await writeFileAtomic(files.fscSvg, fscSvg(curves, `FSC of ${paths[0]} and ${paths[1]}`));
  await writeFileAtomic(files.guinierSvg, guinierSvg(result));
  await writeStar(files.star, postprocessStar(result, { half1: paths[0], half2: paths[1], map: files.map, mask: mask?.path, maskedMap: files.maskedMap }));

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
