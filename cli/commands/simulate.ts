/**
 * `subtomo simulate`: a data set of simulated subtomograms with known poses (design.md "Simulation").
 * Everything is validated before anything is written; files go to a temporary sibling directory that is
 * renamed to --out at the end, so a failed run leaves no half-written data set.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { groelPhantom } from '../../core/phantom.ts';
import { radians } from '../../core/rotate.ts';
import { SimulationConfigError, densityModel, situsSigma, validateSimulationConfig } from '../../core/simulate.ts';
import type { AtomWeighting, SimulationConfig } from '../../core/simulate.ts';
import { writeSimulatedDataset } from '../../drivers/simulate.ts';
import { buildAssembly, readStructure } from '../../io/pdb.ts';
import { CTF_DEFAULTS } from '../../model/defaults.ts';
import { SIMULATION_DEFAULTS } from '../../model/defaults.ts';
import { Args, UsageError } from '../../os/args.ts';
import { ProgressBar } from '../../os/progress.ts';
import type { Command } from '../command.ts';

const D = SIMULATION_DEFAULTS;
const usage =
  `subtomo simulate --out DIR --snr SNR|inf [--n ${D.particles}] [--size ${D.size}] [--voxel ${D.voxel}] ` +
  `[--tilt ${D.tiltDeg} | --tilt-min -${D.tiltDeg} --tilt-max ${D.tiltDeg}] [--tilt-step ${D.tiltStepDeg}] [--pdb FILE] ` +
  `[--resolution ${D.resolution}] [--max-shift ${D.maxShift}] [--seed ${D.seed}] [--defocus ${D.defocusMicron}] ` +
  `[--cs ${CTF_DEFAULTS.csMillimetre}] [--voltage ${CTF_DEFAULTS.voltageKv}] [--amplitude-contrast ${CTF_DEFAULTS.amplitudeContrast}] ` +
  `[--no-ctf] [--no-mtf] [--weighting atomic-number|mass (${D.weighting})] [--waters]`;

/** SimulationConfig fields → the flag a user sets them with. */
const FLAG_OF: Record<string, string> = {
  n: 'size',
  voxelSize: 'voxel',
  resolution: 'resolution',
  snr: 'snr',
  maxShift: 'max-shift',
  seed: 'seed',
  tiltStep: 'tilt-step',
  'ctf.defocusAngstrom': 'defocus',
  'ctf.csMillimetre': 'cs',
  'ctf.voltageKv': 'voltage',
  'ctf.amplitudeContrast': 'amplitude-contrast',
};

function parseSnr(raw: string): number {
  const v = /^\+?inf(inity)?$/i.test(raw) ? Infinity : Number(raw);
  if (Number.isNaN(v) || raw.trim() === '') throw new UsageError(`--snr must be a positive number or inf, got '${raw}'`);
  return v;
}

interface Plan {
  config: SimulationConfig;
  count: number;
  pdb: string | undefined;
  weighting: AtomWeighting;
  waters: boolean;
  out: string;
}

export function readPlan(args: Args): Plan {
  const count = args.int('n', SIMULATION_DEFAULTS.particles);
  if (count < 1) throw new UsageError(`--n must be at least 1, got ${count}`);
  const half = args.number('tilt', SIMULATION_DEFAULTS.tiltDeg);
  const tiltDeg = { min: args.number('tilt-min', -half), max: args.number('tilt-max', half), step: args.number('tilt-step', SIMULATION_DEFAULTS.tiltStepDeg) };
  const weighting = args.string('weighting', SIMULATION_DEFAULTS.weighting);
  if (weighting !== 'atomic-number' && weighting !== 'mass') {
    throw new UsageError(`--weighting must be atomic-number or mass, got '${weighting}'`);
  }
  const ctf = args.has('no-ctf')
    ? null
    : {
        defocusAngstrom: args.number('defocus', SIMULATION_DEFAULTS.defocusMicron) * 1e4,
        csMillimetre: args.number('cs', CTF_DEFAULTS.csMillimetre),
        voltageKv: args.number('voltage', CTF_DEFAULTS.voltageKv),
        amplitudeContrast: args.number('amplitude-contrast', CTF_DEFAULTS.amplitudeContrast),
      };
  const config: SimulationConfig = {
    n: args.number('size', SIMULATION_DEFAULTS.size),
    voxelSize: args.number('voxel', SIMULATION_DEFAULTS.voxel),
    resolution: args.number('resolution', SIMULATION_DEFAULTS.resolution),
    tilt: { min: radians(tiltDeg.min), max: radians(tiltDeg.max) },
    tiltStep: radians(tiltDeg.step),
    snr: parseSnr(args.string('snr')),
    maxShift: args.number('max-shift', SIMULATION_DEFAULTS.maxShift),
    seed: args.number('seed', SIMULATION_DEFAULTS.seed),
    imaging: { ctf, mtf: !args.has('no-mtf') },
  };
  try {
    validateSimulationConfig(config);
  } catch (err) {
    if (!(err instanceof SimulationConfigError)) throw err;
    const tiltFlags = args.has('tilt-min') || args.has('tilt-max') ? 'tilt-min/--tilt-max' : 'tilt';
    throw new UsageError(`--${err.field === 'tilt' ? tiltFlags : FLAG_OF[err.field]}: ${err.message}`);
  }
  return { config, count, pdb: args.optionalString('pdb'), weighting, waters: args.has('waters'), out: resolve(args.string('out')) };
}

async function checkOutput(out: string): Promise<void> {
  const entries = await readdir(out).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw new Error(`--out ${out}: ${err.message}`);
  });
  if (entries.length > 0) throw new UsageError(`--out ${out} already exists and is not empty; choose a new directory`);
  await mkdir(dirname(out), { recursive: true });
}

async function run(args: Args): Promise<void> {
  const plan = readPlan(args);
  const { config, count, out } = plan;
  const atoms = plan.pdb ? buildAssembly(readStructure(plan.pdb, { waters: plan.waters })) : groelPhantom();
  const model = densityModel(atoms, plan.weighting);
  await checkOutput(out);

  const reach = model.radius / config.voxelSize + 3 * (situsSigma(config.resolution) / config.voxelSize) + Math.sqrt(3) * config.maxShift;
  if (reach > config.n / 2) {
    process.stderr.write(
      `warning: the density reaches ${reach.toFixed(1)} voxels from the centre (model radius ${model.radius.toFixed(0)} Å, ` +
        `3σ and the largest shift), beyond the ${config.n / 2}-voxel inscribed sphere that is projected; ` +
        'use a larger --size or --voxel\n',
    );
  }

  const tmp = join(dirname(out), `.${basename(out)}.partial-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  try {
    const source = plan.pdb ? `${basename(plan.pdb)}${plan.waters ? ' with waters' : ''}` : 'built-in GroEL-like phantom';
    const bar = new ProgressBar('simulate', count);
    await writeSimulatedDataset(tmp, { config, count, model, source, weighting: plan.weighting }, (_done, file) => bar.tick(1, file));
    await rm(out, { recursive: true, force: true }); // empty (checked above): rename needs it gone or empty
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  process.stderr.write(`wrote ${count} subtomograms, reference.mrc, particles.star and particles.json to ${out}\n`);
}

const simulate: Command = {
  summary: 'simulate subtomograms of GroEL (or a PDB/mmCIF model) with known poses',
  usage,
  flags: {
    values: ['out', 'snr', 'n', 'size', 'voxel', 'tilt', 'tilt-min', 'tilt-max', 'tilt-step', 'pdb', 'resolution', 'max-shift', 'seed',
      'defocus', 'cs', 'voltage', 'amplitude-contrast', 'weighting'],
    switches: ['no-ctf', 'no-mtf', 'waters'],
  },
  run,
};

export default simulate;
