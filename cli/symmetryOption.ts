/** `--symmetry C1|Cn|Dn`, shared by align, average, expand, fsc and postprocess. */
import { type SymmetryGroup, parseSymmetry } from '../core/symmetry.ts';
import { type Args, UsageError } from '../os/args.ts';

/** The group of `--symmetry`, validated; undefined without the flag or for C1, which changes nothing. */
export function symmetryOption(args: Args): SymmetryGroup | undefined {
  if (!args.has('symmetry')) return undefined;
  let group: SymmetryGroup;
  try {
    group = parseSymmetry(args.string('symmetry'));
  } catch (err) {
    throw new UsageError(`--symmetry: ${(err as Error).message}`);
  }
  return group.name === 'C1' ? undefined : group;
}
