/**
 * What `subtomo fsc` and `subtomo postprocess` share: two half maps (MRC or EM) as positional arguments, the
 * voxel size for EM files, a symmetry applied to each half on its own, and a mask with the settings of its
 * phase-randomisation correction (core/postprocess.ts).
 */
import { GuinierFitRangeError, NoRandomisationShellError } from '../core/postprocess.ts';
import { type SymmetryGroup, symmetrise } from '../core/symmetry.ts';
import type { Volume } from '../core/volume.ts';
import { randomisationShell } from '../drivers/postprocess.ts';
import { readHalfMapMask, readHalfMaps } from '../io/halfmaps.ts';
import { POSTPROCESS_DEFAULTS } from '../model/defaults.ts';
import { type Args, type FlagSpec, UsageError } from '../os/args.ts';
import { symmetryOption } from './symmetryOption.ts';

export const HALF_MAP_FLAGS: FlagSpec = { values: ['mask', 'symmetry', 'pixel-size', 'randomise-from', 'seed'] };

export const HALF_MAP_USAGE =
  'HALF1 HALF2 (MRC or EM) [--mask M (values in [0, 1])] [--symmetry C1|Cn|Dn] [--pixel-size Å (EM halves; overrides MRC headers)] ' +
  `[--randomise-from Å (default: where the unmasked FSC drops below ${POSTPROCESS_DEFAULTS.randomiseAtFsc})] [--seed ${POSTPROCESS_DEFAULTS.seed}]`;

export interface HalfMapInput {
  paths: [string, string];
  half1: Volume;
  half2: Volume;
  /** Applied to each half on its own (never mixing halves); undefined for none or C1. */
  symmetry?: SymmetryGroup;
  mask?: { path: string; data: Float32Array };
  /** Seed of the phase randomisation. */
  seed: number;
  /** Shell to randomise phases from, from --randomise-from. */
  randomiseFrom?: number;
}

function positive(args: Args, flag: string): number | undefined {
  if (!args.has(flag)) return undefined;
  const v = args.number(flag);
  if (!(v > 0)) throw new UsageError(`--${flag} must be a positive number of Å, got ${v}`);
  return v;
}

/**
 * The half maps and settings of the command line, flags checked before any file is read; `note` receives what
 * was done to them (symmetrised, mask resampled).
 */
export async function readHalfMapInput(args: Args, note: (line: string) => void): Promise<HalfMapInput> {
  if (args.positional.length !== 2) {
    throw new UsageError(`give two half maps, HALF1 HALF2; got ${args.positional.length} argument${args.positional.length === 1 ? '' : 's'}${args.positional.length > 0 ? `: ${args.positional.join(' ')}` : ''}`);
  }
  const paths: [string, string] = [args.positional[0], args.positional[1]];
  const voxelSize = positive(args, 'pixel-size');
  const symmetry = symmetryOption(args);
  const maskPath = args.optionalString('mask');
  for (const flag of ['randomise-from', 'seed']) {
    if (args.has(flag) && maskPath === undefined) throw new UsageError(`--${flag} applies to the phase randomisation of a masked FSC: give --mask too`);
  }
  const seed = args.int('seed', POSTPROCESS_DEFAULTS.seed);
  if (seed < 0) throw new UsageError(`--seed must be an integer ≥ 0, got ${seed}`);
  const randomiseFromAngstrom = positive(args, 'randomise-from');

  let [half1, half2] = await readHalfMaps(paths, voxelSize);
  const { n, voxelSize: voxel } = half1;
  let randomiseFrom: number | undefined;
  if (randomiseFromAngstrom !== undefined) {
    try {
      randomiseFrom = randomisationShell(randomiseFromAngstrom, n, voxel);
    } catch (err) {
      throw new UsageError(`--randomise-from ${(err as Error).message}`);
    }
  }
  let mask: HalfMapInput['mask'];
  if (maskPath !== undefined) {
    const read = await readHalfMapMask(maskPath, { n, voxelSize: voxel, label: `half map 1 ${paths[0]}` });
    if (read.changes.length > 0) note(`mask ${maskPath}: ${read.changes.join('; ')} to match the half maps`);
    mask = { path: maskPath, data: read.data };
  }
  if (symmetry) {
    half1 = symmetrise(half1, symmetry);
    half2 = symmetrise(half2, symmetry);
    note(`symmetrised each half map with ${symmetry.name} (${symmetry.operators.length} operators)`);
  }
  return { paths, half1, half2, symmetry, mask, seed, randomiseFrom };
}

/**
 * Runs `compute` (a core computation on the input) turning the data conditions that a flag resolves into
 * messages naming that flag: an unmasked FSC that never drops below 0.8 (--randomise-from), a Guinier fit range
 * with too few shells (--fit-from/--fit-to, --bfactor).
 */
export function withFlagHints<T>(compute: () => T): T {
  try {
    return compute();
  } catch (err) {
    if (err instanceof NoRandomisationShellError) throw new Error(`${err.message} with --randomise-from Å`);
    if (err instanceof GuinierFitRangeError) throw new Error(`${err.message}: widen it with --fit-from/--fit-to Å, or give --bfactor B`);
    throw err;
  }
}
