/**
 * Post-processing of two half maps into files — the one writer behind `subtomo postprocess` and the pipeline's
 * postprocess step (activities/postprocess.ts): the sharpened map (and the masked one), the FSC as CSV and SVG,
 * the Guinier plot and RELION's postprocess.star layout (io/postprocess.ts); the warnings about a mask; and
 * where the phase randomisation of RELION's `--randomize_at_A` starts.
 */
import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { FSC_GOLD_STANDARD } from '../core/fsc.ts';
import { RANDOMISED_FSC_WARNING, type PostprocessResult } from '../core/postprocess.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { writeMrc } from '../io/mrc.ts';
import { fscColumns, fscCsv, fscSvg, guinierSvg, postprocessStar } from '../io/postprocess.ts';
import { writeStar } from '../io/star.ts';

export interface PostprocessOutputs {
  map: string;
  maskedMap?: string;
  star: string;
  fscCsv: string;
  fscSvg: string;
  guinierSvg: string;
}

/** The files written for PREFIX: PREFIX.mrc, PREFIX_masked.mrc (with a mask), PREFIX.star, PREFIX_fsc.csv/.svg, PREFIX_guinier.svg. */
export function postprocessOutputs(prefix: string, masked: boolean): PostprocessOutputs {
  return {
    map: `${prefix}.mrc`,
    ...(masked && { maskedMap: `${prefix}_masked.mrc` }),
    star: `${prefix}.star`,
    fscCsv: `${prefix}_fsc.csv`,
    fscSvg: `${prefix}_fsc.svg`,
    guinierSvg: `${prefix}_guinier.svg`,
  };
}

/** Where the inputs came from, for the maps' labels and the STAR file. */
export interface PostprocessSources {
  halves: readonly [string, string];
  mask?: string;
  /** Applied to each half before (named in the labels). */
  symmetry?: string;
  /**
   * Name the written maps in the STAR file by their file names (relative to it) instead of their paths: for
   * files written to a directory that is renamed afterwards (an artifact-store step).
   */
  relativeNames?: boolean;
}

/** MRC labels saying what the map is (io/mrc.ts cuts each to 80 ASCII characters). */
function mapLabels(result: PostprocessResult, sources: PostprocessSources, masked: boolean): string[] {
  const { resolution, fit } = result;
  const source = result.final === result.unmasked ? 'unmasked' : 'mask-corrected';
  const labels = [
    `postprocess: mean of ${sources.halves.map((p) => basename(p)).join(' + ')}`,
    `resolution ${resolution.toFixed(2)} A at FSC ${FSC_GOLD_STANDARD} (${source}); low-pass ${resolution.toFixed(2)} A`,
    `FSC-weighted; B-factor ${result.bFactor.toFixed(0)} A^2 ${fit ? `(fitted ${fit.from.toFixed(1)}-${fit.to.toFixed(1)} A)` : '(given)'}`,
  ];
  if (sources.symmetry) labels.push(`each half symmetrised with ${sources.symmetry}`);
  if (masked && sources.mask) labels.push(`multiplied by mask ${basename(sources.mask)}`);
  return labels;
}

/** Writes the files of postprocessOutputs(prefix) for `result`; returns their paths. */
export async function writePostprocessOutputs(prefix: string, result: PostprocessResult, sources: PostprocessSources): Promise<PostprocessOutputs> {
  const files = postprocessOutputs(prefix, sources.mask !== undefined);
  await mkdir(dirname(prefix), { recursive: true });
  await writeMrc(files.map, result.map, { labels: mapLabels(result, sources, false) });
  if (files.maskedMap && result.maskedMap) await writeMrc(files.maskedMap, result.maskedMap, { labels: mapLabels(result, sources, true) });
  const curves = fscColumns(result.unmasked, result.maskCorrection);
  const [half1, half2] = sources.halves;
  await writeFileAtomic(files.fscCsv, fscCsv(curves));
  await writeFileAtomic(files.fscSvg, fscSvg(curves, `FSC of ${half1} and ${half2}`));
  await writeFileAtomic(files.guinierSvg, guinierSvg(result));
  const named = (path: string | undefined) => (path !== undefined && sources.relativeNames ? basename(path) : path);
  await writeStar(files.star, postprocessStar(result, { half1, half2, map: named(files.map)!, mask: sources.mask, maskedMap: named(files.maskedMap) }));
  return files;
}

/** What a user must be told about a masked result: a mask that cuts away signal or is too sharp for the correction. */
export function postprocessWarnings(result: PostprocessResult): string[] {
  const warnings: string[] = [];
  if (result.diagnostics?.maskRejected) {
    warnings.push('the unmasked FSC reaches further than the mask-corrected one: the mask cuts away signal, so the unmasked FSC is used, as RELION does; try a larger or softer mask');
  } else if (result.diagnostics && result.diagnostics.randomisedFscAtResolution > RANDOMISED_FSC_WARNING) {
    warnings.push(
      `the phase-randomised masked FSC is ${result.diagnostics.randomisedFscAtResolution.toFixed(3)} (> ${RANDOMISED_FSC_WARNING}) at the resolution: ` +
        'the mask is too sharp for a reliable correction; try a softer mask',
    );
  }
  return warnings;
}

/**
 * The Fourier shell phases are randomised from for a resolution of `angstrom` Å in n³ maps of `voxelSize` Å
 * (RELION's --randomize_at_A: shell (int)(n·voxel/Å)); a RangeError when it lies beyond Nyquist or the box.
 */
export function randomisationShell(angstrom: number, n: number, voxelSize: number): number {
  const shell = Math.floor((n * voxelSize) / angstrom);
  if (shell < 1 || shell > n / 2 - 1) {
    throw new RangeError(`must be coarser than Nyquist (${2 * voxelSize} Å) and at most the box (${n * voxelSize} Å) for these ${n}³ maps of ${voxelSize} Å voxels, got ${angstrom}`);
  }
  return shell;
}
