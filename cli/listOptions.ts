/**
 * The particle-list flags shared by the commands that read one (align, average, extract): the list in any
 * format io/particles.ts reads, its tomograms, the tilt range for lists that give none, the pixel size for
 * files that do not state it, a class to select, and the flavour of the list written.
 */
import { tiltRangeDegrees } from '../core/wedge.ts';
import type { ListSelection } from '../drivers/particleList.ts';
import { LIST_FORMATS, type ListFormat } from '../model/particles.ts';
import { type Args, type FlagSpec, UsageError } from '../os/args.ts';

export const LIST_FLAGS: FlagSpec = {
  values: ['particles', 'tomograms', 'tilt-range', 'pixel-size', 'class', 'format'],
  switches: ['no-ctf'],
  repeatable: ['tomograms'],
};

export const LIST_USAGE =
  '--particles LIST (RELION 4/5 or Warp STAR, Dynamo .tbl) [--tomograms tomograms.star|FILE.vll]… [--tilt-range MIN,MAX] ' +
  '[--pixel-size Å] [--class K] [--no-ctf (binary wedge only, even where the list carries CTFs)]';
export const FORMAT_USAGE = `[--format ${LIST_FORMATS.join('|')} (default: the input's)]`;

/** `--tilt-range -60,60` (degrees; asymmetric ranges such as -50,70 allowed). */
export function parseTiltRange(text: string, flag = '--tilt-range') {
  const parts = text.split(',').map((t) => Number(t.trim()));
  if (parts.length !== 2 || parts.some((x) => !Number.isFinite(x))) throw new UsageError(`${flag} must be MIN,MAX in degrees (e.g. -60,60), got '${text}'`);
  try {
    return tiltRangeDegrees(parts[0], parts[1]);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

export function listSelection(args: Args): ListSelection {
  const selection: ListSelection = { tiltSetting: '--tilt-range MIN,MAX (degrees, e.g. -60,60)', ...(args.has('no-ctf') && { ctf: false }) };
  const tomograms = args.list('tomograms');
  if (tomograms.length > 0) selection.tomograms = tomograms;
  if (args.has('tilt-range')) selection.tiltRange = parseTiltRange(args.string('tilt-range'));
  if (args.has('pixel-size')) {
    selection.pixelSize = args.number('pixel-size');
    if (!(selection.pixelSize > 0)) throw new UsageError(`--pixel-size must be positive (Å), got ${selection.pixelSize}`);
  }
  if (args.has('class')) {
    selection.classNumber = args.int('class');
    if (selection.classNumber < 0) throw new UsageError(`--class must be a class number ≥ 0, got ${selection.classNumber}`);
  }
  return selection;
}

/** `--format`, else the format the list was read in. */
export function outputFormat(args: Args, read: ListFormat): ListFormat {
  const format = args.string('format', read) as ListFormat;
  if (!LIST_FORMATS.includes(format)) throw new UsageError(`--format must be one of ${LIST_FORMATS.join(', ')}, got '${format}'`);
  return format;
}
