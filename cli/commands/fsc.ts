/**
 * `subtomo fsc`: the gold-standard FSC of two half maps and its resolutions at 0.143 and 0.5; with a mask also
 * the masked FSC and the mask-corrected one (phase randomisation, Chen et al. 2013, as RELION's
 * relion_postprocess; core/postprocess.ts). Resolutions go to stdout, notes and warnings to stderr.
 */
import { resolve } from 'node:path';
import { FSC_GOLD_STANDARD, FSC_HALF, type FscCurve, fscCurve, resolutionAt } from '../../core/fsc.ts';
import { RANDOMISED_FSC_WARNING, maskCorrectedFsc, maskDiagnostics } from '../../core/postprocess.ts';
import { writeFileAtomic } from '../../io/atomic.ts';
import { fscColumns, fscCsv, fscSvg } from '../../io/postprocess.ts';
import type { Args } from '../../os/args.ts';
import type { Command } from '../command.ts';
import { HALF_MAP_FLAGS, HALF_MAP_USAGE, readHalfMapInput, withFlagHints } from '../halfMapOptions.ts';

const usage = `subtomo fsc ${HALF_MAP_USAGE} [--out PREFIX (writes PREFIX.csv and PREFIX.svg)]`;

/** "  label   0.143: 26.84 Å   0.5: 35.12 Å" for one curve. */
function resolutionLine(label: string, curve: FscCurve, n: number, voxelSize: number): string {
  const at = (t: number) => `${resolutionAt(curve, t, voxelSize, n).toFixed(2)} Å`;
  return `  ${label.padEnd(16)} FSC ${FSC_GOLD_STANDARD}: ${at(FSC_GOLD_STANDARD).padEnd(10)} FSC ${FSC_HALF}: ${at(FSC_HALF)}`;
}

async function run(args: Args): Promise<void> {
  const out = args.optionalString('out');
  const note = (line: string) => process.stderr.write(`${line}\n`);
  const input = await readHalfMapInput(args, note);
  const { half1, half2, paths, mask } = input;
  const { n, voxelSize } = half1;
  const unmasked = fscCurve(half1, half2);
  const correction = mask && withFlagHints(() => maskCorrectedFsc(half1, half2, mask.data, { seed: input.seed, randomiseFrom: input.randomiseFrom }));

  const lines = [`FSC of ${paths[0]} and ${paths[1]}: ${n}³ voxels of ${voxelSize} Å${input.symmetry ? `, each half symmetrised with ${input.symmetry.name}` : ''}`];
  lines.push(resolutionLine('unmasked', unmasked, n, voxelSize));
  if (correction && mask) {
    lines.push(resolutionLine('masked', correction.masked, n, voxelSize));
    lines.push(resolutionLine('mask-corrected', correction.corrected, n, voxelSize));
    lines.push(
      `  mask ${mask.path}; phases randomised from ${((n * voxelSize) / correction.randomiseFrom).toFixed(2)} Å (shell ${correction.randomiseFrom}, ` +
        `seed ${input.seed}) to correct the masked FSC (Chen et al. 2013)`,
    );
    const check = maskDiagnostics(correction);
    if (check.maskRejected) {
      note('warning: the unmasked FSC reaches further than the mask-corrected one: the mask cuts away signal (RELION would use the unmasked FSC); try a larger or softer mask');
    } else if (check.randomisedFscAtResolution > RANDOMISED_FSC_WARNING) {
      note(
        `warning: the phase-randomised masked FSC is ${check.randomisedFscAtResolution.toFixed(3)} (> ${RANDOMISED_FSC_WARNING}) at the mask-corrected resolution: ` +
          'the mask is too sharp for a reliable correction; try a softer mask',
      );
    }
  }
  lines.push('  (resolutions interpolated between shells; RELION reports the last shell above the threshold)');

  if (out !== undefined) {
    const prefix = resolve(out);
    const curves = fscColumns(unmasked, correction);
    await writeFileAtomic(`${prefix}.csv`, fscCsv(curves), { createParent: true });
    await writeFileAtomic(`${prefix}.svg`, fscSvg(curves, `FSC of ${paths[0]} and ${paths[1]}`), { createParent: true });
    lines.push(`wrote ${prefix}.csv and ${prefix}.svg`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

const fsc: Command = {
  summary: 'FSC of two half maps and the resolution at 0.143 and 0.5 (mask-corrected with --mask)',
  usage,
  flags: { values: ['out', ...HALF_MAP_FLAGS.values] },
  run,
};

export default fsc;
