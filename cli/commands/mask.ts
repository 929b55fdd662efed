/**
 * `subtomo mask`: a soft sphere or cylinder alignment/FSC mask as an MRC file, for a given box and voxel size.
 * Lengths are in voxels, like every mask radius in subtomo; the summary line also gives them in Å.
 */
import { resolve } from 'node:path';
import { type MaskShape, makeMask } from '../../io/mask.ts';
import { writeMrc } from '../../io/mrc.ts';
import { ALIGNMENT_DEFAULTS } from '../../model/defaults.ts';
import { Args, UsageError } from '../../os/args.ts';
import type { Command } from '../command.ts';

const usage =
  'subtomo mask --size N --voxel Å (--sphere R | --cylinder R --height H) [--edge 3] --out mask.mrc   ' +
  '(R, H, edge in voxels; the cylinder axis is z, H its full length)';

const DEFAULT_EDGE = ALIGNMENT_DEFAULTS.maskEdge;

function positive(args: Args, flag: string): number {
  const v = args.number(flag);
  if (!(v > 0)) throw new UsageError(`--${flag} must be positive, got ${v}`);
  return v;
}

function readShape(args: Args): MaskShape {
  const sphere = args.has('sphere');
  const cylinder = args.has('cylinder');
  if (sphere === cylinder) throw new UsageError('give exactly one shape: --sphere R or --cylinder R --height H');
  if (sphere) {
    if (args.has('height')) throw new UsageError('--height applies to --cylinder only');
    return { kind: 'sphere', radius: positive(args, 'sphere') };
  }
  if (!args.has('height')) throw new UsageError('--cylinder needs --height H (full length along z, voxels)');
  return { kind: 'cylinder', radius: positive(args, 'cylinder'), height: positive(args, 'height') };
}

async function run(args: Args): Promise<void> {
  const n = args.int('size');
  if (n < 4 || n % 2 !== 0) throw new UsageError(`--size must be an even number of voxels ≥ 4, got ${n}`);
  const voxel = positive(args, 'voxel');
  const shape = readShape(args);
  const edge = args.number('edge', DEFAULT_EDGE);
  if (!(edge >= 0)) throw new UsageError(`--edge must be ≥ 0 voxels, got ${edge}`);
  const out = resolve(args.string('out'));

  const reach = Math.max(shape.radius, shape.kind === 'cylinder' ? shape.height / 2 : 0) + edge;
  if (reach > n / 2) {
    process.stderr.write(
      `warning: the mask reaches ${reach} voxels from the centre, beyond the half box (${n / 2} voxels); it will be cut at the box edge\n`,
    );
  }
  const what =
    shape.kind === 'sphere'
      ? `sphere of radius ${shape.radius} voxels (${shape.radius * voxel} Å)`
      : `cylinder along z of radius ${shape.radius} voxels (${shape.radius * voxel} Å) and height ${shape.height} voxels (${shape.height * voxel} Å)`;
  const label = `mask: ${what}, edge ${edge}`;
  await writeMrc(out, makeMask(n, voxel, shape, edge), { labels: [label.slice(0, 80)] });
  process.stderr.write(`wrote ${out}: ${n}³ voxels of ${voxel} Å, soft ${what}, raised-cosine edge ${edge} voxels\n`);
}

const mask: Command = {
  summary: 'make a soft sphere or cylinder mask (MRC) for alignment or FSC',
  usage,
  flags: { values: ['size', 'voxel', 'sphere', 'cylinder', 'height', 'edge', 'out'] },
  run,
};

export default mask;
