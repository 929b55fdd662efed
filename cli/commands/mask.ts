/**
 * `subtomo mask`: a soft alignment/FSC mask as an MRC file — a sphere or cylinder for a given box and voxel
 * size, or the shape of a map (threshold, extension, soft edge, as relion_mask_create makes one). Lengths are
 * in voxels, like every mask radius in subtomo; the summary line also gives them in Å.
 */
import { basename, resolve } from 'node:path';
import { thresholdMask } from '../../core/filters.ts';
import { type MaskShape, makeMask } from '../../io/mask.ts';
import { writeMrc } from '../../io/mrc.ts';
import { readVolume } from '../../io/volumes.ts';
import { ALIGNMENT_DEFAULTS } from '../../model/defaults.ts';
import { Args, UsageError } from '../../os/args.ts';
import type { Command } from '../command.ts';

const usage =
  'subtomo mask --size N --voxel Å (--sphere R | --cylinder R --height H) [--edge 3] --out mask.mrc   ' +
  '(R, H, edge in voxels; the cylinder axis is z, H its full length)\n' +
  '       subtomo mask --from-map MAP --threshold T [--extend 0] [--soft 3] [--pixel-size Å] --out mask.mrc   ' +
  '(voxels ≥ T, grown by --extend voxels, raised-cosine edge over --soft voxels)';

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

/** The mask of a map's shape (core/filters.ts thresholdMask). */
async function fromMap(args: Args, out: string): Promise<void> {
  for (const flag of ['size', 'voxel', 'sphere', 'cylinder', 'height', 'edge']) {
    if (args.has(flag)) throw new UsageError(`--${flag} does not go with --from-map (the map gives the box; --soft is its edge)`);
  }
  const path = resolve(args.string('from-map'));
  const threshold = args.number('threshold');
  const extend = args.number('extend', 0);
  const soft = args.number('soft', DEFAULT_EDGE);
  if (!(extend >= 0)) throw new UsageError(`--extend must be ≥ 0 voxels, got ${extend}`);
  if (!(soft >= 0)) throw new UsageError(`--soft must be ≥ 0 voxels, got ${soft}`);
  const map = await readVolume(path, args.has('pixel-size') ? { voxelSize: positive(args, 'pixel-size') } : {});
  let data: Float32Array;
  try {
    data = thresholdMask(map, threshold, extend, soft);
  } catch (err) {
    throw new UsageError(`--threshold: ${(err as Error).message}`);
  }
  let volume = 0;
  for (const x of data) volume += x;
  await writeMrc(out, map.withData(data), { labels: [`mask of ${basename(path)} at ${threshold}, extend ${extend}, soft ${soft}`.slice(0, 80)] });
  process.stderr.write(
    `wrote ${out}: ${map.n}³ voxels of ${map.voxelSize} Å, ${path} at ≥ ${threshold} grown by ${extend} and softened over ${soft} voxels ` +
      `(${(volume * map.voxelSize ** 3 / 1e3).toFixed(0)} nm³ of mask)\n`,
  );
}

async function run(args: Args): Promise<void> {
  const out = resolve(args.string('out'));
  if (args.has('from-map')) return fromMap(args, out);
  for (const flag of ['threshold', 'extend', 'soft', 'pixel-size']) {
    if (args.has(flag)) throw new UsageError(`--${flag} goes with --from-map`);
  }
  const n = args.int('size');
  if (n < 4 || n % 2 !== 0) throw new UsageError(`--size must be an even number of voxels ≥ 4, got ${n}`);
  const voxel = positive(args, 'voxel');
  const shape = readShape(args);
  const edge = args.number('edge', DEFAULT_EDGE);
  if (!(edge >= 0)) throw new UsageError(`--edge must be ≥ 0 voxels, got ${edge}`);

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
  summary: 'make a soft mask (MRC) for alignment or FSC: a sphere, a cylinder, or the shape of a map',
  usage,
  flags: { values: ['size', 'voxel', 'sphere', 'cylinder', 'height', 'edge', 'out', 'from-map', 'threshold', 'extend', 'soft', 'pixel-size'] },
  run,
};

export default mask;
