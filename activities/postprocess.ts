/**
 * The pipeline's postprocess step: RELION-style post-processing of two half maps (core/postprocess.ts) written
 * by drivers/postprocess.ts — the same files as `subtomo postprocess` — as a cached store step.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GuinierFitRangeError, NoRandomisationShellError, postprocess } from '../core/postprocess.ts';
import { symmetrise } from '../core/symmetry.ts';
import { postprocessWarnings, randomisationShell, writePostprocessOutputs } from '../drivers/postprocess.ts';
import { type ArtifactRef, refOf } from '../io/artifacts.ts';
import { readHalfMapMask } from '../io/halfmaps.ts';
import { assertSameSampling } from '../io/volumes.ts';
import { invalidInput, readJsonArtifact, readVolumeArtifact, reportProgress, runCampaignStep, type Reuse } from './common.ts';

export interface PostprocessInput {
  workdir: string;
  odd: ArtifactRef;
  even: ArtifactRef;
  /** A mask file (absolute path, values in [0, 1]): the FSC is then mask-corrected. */
  mask?: string;
  /** Point group imposed on each half before (C1 when absent). */
  symmetry?: string;
  /** Å² (negative sharpens), or fitted to the Guinier plot. */
  bfactor: number | 'auto';
  /** Guinier fit range, Å. */
  fitFrom?: number;
  fitTo?: number;
  /** Seed of the phase randomisation. */
  seed: number;
  /** Å to randomise phases from (absent: where the unmasked FSC drops below 0.8). */
  randomiseFrom?: number;
}

export interface PostprocessStepResult extends Reuse {
  /** FSC-weighted, sharpened, low-passed mean of the halves. */
  map: ArtifactRef;
  maskedMap?: ArtifactRef;
  /** RELION's postprocess.star layout. */
  star: ArtifactRef;
  fscCsv: ArtifactRef;
  fscSvg: ArtifactRef;
  guinierSvg: ArtifactRef;
  /** Å at FSC 0.143 and 0.5 of the (mask-corrected) FSC. */
  resolution: number;
  resolutionHalf: number;
  bFactor: number;
  warnings: string[];
}

interface Summary {
  resolution: number;
  resolutionHalf: number;
  bFactor: number;
  warnings: string[];
}

/** Post-processes the two half maps; a mask, symmetry or fit range that cannot work is InvalidInput naming the param. */
export async function postprocessHalves(input: PostprocessInput): Promise<PostprocessStepResult> {
  const mask = input.mask === undefined ? undefined : await refOf(input.mask).catch((err: Error) => {
    throw invalidInput(`params.mask: ${err.message}`, err);
  });
  const { workdir, odd: _odd, even: _even, mask: _mask, ...params } = input;
  const step = await runCampaignStep(workdir, 'postprocess', params, { odd: input.odd, even: input.even, ...(mask && { mask }) }, async (dir) => {
    await reportProgress({ step: 'postprocess', done: 0, total: 1, detail: 'reading the half maps' });
    let half1 = await readVolumeArtifact(input.odd, 'odd half map');
    let half2 = await readVolumeArtifact(input.even, 'even half map');
    const sampling = { n: half1.n, voxelSize: half1.voxelSize, label: `odd half map ${input.odd.path}` };
    try {
      assertSameSampling({ n: half2.n, voxelSize: half2.voxelSize, label: `even half map ${input.even.path}` }, sampling);
    } catch (err) {
      throw invalidInput((err as Error).message, err);
    }
    const maskData = mask && await readHalfMapMask(mask.path, sampling).catch((err: Error) => {
      throw invalidInput(`params.mask: ${err.message}`, err);
    });
    let randomiseFrom: number | undefined;
    if (input.randomiseFrom !== undefined) {
      try {
        randomiseFrom = randomisationShell(input.randomiseFrom, half1.n, half1.voxelSize);
      } catch (err) {
        throw invalidInput(`params.randomiseFrom ${(err as Error).message}`, err);
      }
    }
    if (input.symmetry) {
      half1 = symmetrise(half1, input.symmetry);
      half2 = symmetrise(half2, input.symmetry);
    }
    await reportProgress({ step: 'postprocess', done: 0, total: 1, detail: 'FSC and sharpening' });
    let result;
    try {
      result = postprocess(half1, half2, {
        bFactor: input.bfactor, fitFrom: input.fitFrom, fitTo: input.fitTo, mask: maskData?.data, seed: input.seed, randomiseFrom,
      });
    } catch (err) {
      if (err instanceof NoRandomisationShellError) throw invalidInput(`${err.message} with params.randomiseFrom (Å)`, err);
      if (err instanceof GuinierFitRangeError) throw invalidInput(`${err.message}: widen it with params.fitFrom/fitTo (Å), or give params.bfactor`, err);
      throw err;
    }
    const warnings = [
      ...(maskData?.changes.length ? [`mask ${mask!.path}: ${maskData.changes.join('; ')} to match the half maps`] : []),
      ...postprocessWarnings(result),
      ...(typeof input.bfactor === 'number' && input.bfactor > 0 ? [`params.bfactor ${input.bfactor} is positive, which blurs the map; a negative B-factor sharpens it`] : []),
    ];
    const files = await writePostprocessOutputs(join(dir, 'postprocess'), result, {
      halves: [input.odd.path, input.even.path], ...(mask && { mask: mask.path }), ...(input.symmetry && { symmetry: input.symmetry }), relativeNames: true,
    });
    const summary: Summary = { resolution: result.resolution, resolutionHalf: result.resolutionHalf, bFactor: result.bFactor, warnings };
    await writeFile(join(dir, 'summary.json'), `${JSON.stringify(summary)}\n`);
    await reportProgress({ step: 'postprocess', done: 1, total: 1 });
    return {
      map: files.map, star: files.star, fscCsv: files.fscCsv, fscSvg: files.fscSvg, guinierSvg: files.guinierSvg, summary: 'summary.json',
      ...(files.maskedMap && { maskedMap: files.maskedMap }),
    };
  });
  const { map, maskedMap, star, fscCsv, fscSvg, guinierSvg, summary } = step.outputs;
  const numbers = await readJsonArtifact<Summary>(summary, 'post-processing summary');
  return { map, ...(maskedMap && { maskedMap }), star, fscCsv, fscSvg, guinierSvg, ...numbers, reused: step.reused };
}
