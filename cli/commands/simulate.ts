/**
 * `subtomo simulate`: a data set of simulated subtomograms with known poses (design.md "Simulation").
 * Everything is validated before anything is written; files go to a temporary sibling directory that is
 * renamed to --out at the end, so a failed run leaves no half-written data set.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { radians } from '../../core/rotate.ts';
import { SimulationConfigError, situsSigma, validateSimulationConfig } from '../../core/simulate.ts';
import type { AtomWeighting, SimulationConfig } from '../../core/simulate.ts';
import { type ComponentSpec, simulatedComponents, writeSimulatedDataset } from '../../drivers/simulate.ts';
import { CTF_DEFAULTS } from '../../model/defaults.ts';
import { SIMULATION_DEFAULTS } from '../../model/defaults.ts';
import { Args, UsageError } from '../../os/args.ts';
import { ProgressBar } from '../../os/progress.ts';
import type { Command } from '../command.ts';

const D = SIMULATION_DEFAULTS;
const usage =
  `subtomo simulate --out DIR --snr SNR|inf [--n ${D.particles}] [--size ${D.size}] [--voxel ${D.voxel}] ` +
  `[--tilt ${D.tiltDeg} | --tilt-min -${D.tiltDeg} --tilt-max ${D.tiltDeg}] [--tilt-step ${D.tiltStepDeg}]\n` +
  '       [--pdb FILE | --pdb A.pdb[:FRACTION][:asu],B.pdb… (a mixture; :asu = the file\'s atoms without its BIOMT assembly)]\n' +
  `       [--resolution ${D.resolution}] [--max-shift ${D.maxShift}] [--seed ${D.seed}] ` +
  `[--weighting atomic-number|mass (${D.weighting})] ` +
  '[--waters] [--no-mtf]\n' +
  `       CTF: [--defocus ${D.defocusMicron} | MIN:MAX (µm; a range draws each tomogram's)] [--astigmatism MAX (µm, |U − V|)] ` +
  '[--dose TOTAL (e/Å²)]\n' +
  '            [--specimen WIDTH,THICKNESS (nm)] [--particles-per-tomogram N] ' +
  `[--cs ${CTF_DEFAULTS.csMillimetre}] [--voltage ${CTF_DEFAULTS.voltageKv}] [--amplitude-contrast ${CTF_DEFAULTS.amplitudeContrast}] ` +
  '| --no-ctf\n' +
  '       With a CTF, DIR also holds tomograms.star and tilt_series/ (RELION 5): read its particles.star with --tomograms\n' +
  '       DIR/tomograms.star to give each particle its CTF. --specimen places the particles in a slab (the defocus gradient);\n' +
  '       one tomogram for all unless a defocus range or astigmatism gives each particle its own; --dose: dose-symmetric order.';

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
  defocusRange: 'defocus',
  astigmatism: 'astigmatism',
  dose: 'dose',
  particlesPerTomogram: 'particles-per-tomogram',
  specimen: 'specimen',
  'ctf.csMillimetre': 'cs',
  'ctf.voltageKv': 'voltage',
  'ctf.amplitudeContrast': 'amplitude-contrast',
};

function parseSnr(raw: string): number {
  const v = /^\+?inf(inity)?$/i.test(raw) ? Infinity : Number(raw);
  if (Number.isNaN(v) || raw.trim() === '') throw new UsageError(`--snr must be a positive number or inf, got '${raw}'`);
  return v;
}

/** `--defocus 6` (µm): one defocus; `--defocus 3:7`: each tomogram's drawn from the range. */
export function parseDefocus(raw: string): { single: number } | { range: [number, number] } {
  const parts = raw.split(':');
  const values = parts.map((v) => (v.trim() === '' ? NaN : Number(v)));
  if (parts.length > 2 || values.some((v) => !Number.isFinite(v))) {
    throw new UsageError(`--defocus must be an underfocus in µm (6) or a range MIN:MAX (3:7), got '${raw}'`);
  }
  return values.length === 1 ? { single: values[0] } : { range: [values[0], values[1]] };
}

/** `--specimen WIDTH,THICKNESS` in nm, as Å. */
function parseSpecimen(raw: string): { width: number; thickness: number } {
  const values = raw.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  if (values.length !== 2 || values.some((v) => !Number.isFinite(v))) {
    throw new UsageError(`--specimen must be WIDTH,THICKNESS in nm (e.g. 800,150), got '${raw}'`);
  }
  return { width: values[0] * 10, thickness: values[1] * 10 };
}

const CTF_FLAGS = ['defocus', 'astigmatism', 'dose', 'specimen', 'particles-per-tomogram', 'cs', 'voltage', 'amplitude-contrast'];

interface Plan {
  config: SimulationConfig;
  count: number;
  /** The structure, or a mixture's (`--pdb`). */
  components: ComponentSpec[];
  weighting: AtomWeighting;
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
  const noCtf = args.has('no-ctf');
  const ctfFlag = CTF_FLAGS.find((f) => args.has(f));
  if (noCtf && ctfFlag) throw new UsageError(`--${ctfFlag} describes the CTF, and --no-ctf simulates without one; drop one of them`);
  const defocus = parseDefocus(args.string('defocus', String(SIMULATION_DEFAULTS.defocusMicron)));
  const ctf = noCtf
    ? null
    : {
        // With a range, the metadata's nominal defocus is its centre; the tomograms draw theirs from the range.
        defocusAngstrom: ('single' in defocus ? defocus.single : (defocus.range[0] + defocus.range[1]) / 2) * 1e4,
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
  if ('range' in defocus) config.defocusRange = [defocus.range[0] * 1e4, defocus.range[1] * 1e4];
  if (args.has('astigmatism')) config.astigmatism = args.number('astigmatism') * 1e4;
  if (args.has('dose')) config.dose = args.number('dose');
  if (args.has('specimen')) config.specimen = parseSpecimen(args.string('specimen'));
  if (args.has('particles-per-tomogram')) config.particlesPerTomogram = args.number('particles-per-tomogram');
  try {
    validateSimulationConfig(config);
  } catch (err) {
    if (!(err instanceof SimulationConfigError)) throw err;
    const tiltFlags = args.has('tilt-min') || args.has('tilt-max') ? 'tilt-min/--tilt-max' : 'tilt';
    throw new UsageError(`--${err.field === 'tilt' ? tiltFlags : FLAG_OF[err.field]}: ${err.message}`);
  }
  const components = parsePdbFlag(args.optionalString('pdb'), args.has('waters'));
  return { config, count, components, weighting, out: resolve(args.string('out')) };
}

/**
 * `--pdb FILE` or a mixture `--pdb A.pdb:0.5,B.pdb:0.3,C.pdb:0.2:asu`: each model with its share of the particles
 * (default equal shares) and, with `:asu`, only the file's atoms instead of its BIOMT assembly.
 */
export function parsePdbFlag(text: string | undefined, waters: boolean): ComponentSpec[] {
  if (text === undefined) return [{ fraction: 1 }];
  return text.split(',').map((item) => {
    const [file, ...options] = item.trim().split(':');
    if (!file) throw new UsageError(`--pdb: an empty model in '${text}' (expected FILE[:FRACTION][:asu], comma-separated)`);
    const spec: ComponentSpec = { pdb: resolve(file), fraction: 1, ...(waters && { waters }) };
    for (const option of options) {
      if (option === 'asu') spec.asymmetricUnit = true;
      else if (/^\d*\.?\d+(e-?\d+)?$/i.test(option) && Number(option) > 0) spec.fraction = Number(option);
      else throw new UsageError(`--pdb: '${option}' in '${item}' is neither a positive fraction nor 'asu' (FILE[:FRACTION][:asu])`);
    }
    return spec;
  });
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
  const components = simulatedComponents(plan.components, plan.weighting);
  await checkOutput(out);

  const radius = Math.max(...components.map((c) => c.model.radius));
  const reach = radius / config.voxelSize + 3 * (situsSigma(config.resolution) / config.voxelSize) + Math.sqrt(3) * config.maxShift;
  if (reach > config.n / 2) {
    process.stderr.write(
      `warning: the density reaches ${reach.toFixed(1)} voxels from the centre (model radius ${radius.toFixed(0)} Å, ` +
        `3σ and the largest shift), beyond the ${config.n / 2}-voxel inscribed sphere that is projected; ` +
        'use a larger --size or --voxel\n',
    );
  }

  const tmp = join(dirname(out), `.${basename(out)}.partial-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  try {
    const bar = new ProgressBar('simulate', count);
    await writeSimulatedDataset(tmp, { config, count, components, weighting: plan.weighting }, (_done, file) => bar.tick(1, file));
    await rm(out, { recursive: true, force: true }); // empty (checked above): rename needs it gone or empty
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const tomograms = config.imaging.ctf ? ', tomograms.star, tilt_series/' : '';
  const mixture = components.length > 1 ? ` (${components.map((c) => c.label).join(', ')}: reference_<label>.mrc each, subtomoTrueClass in the STAR)` : '';
  process.stderr.write(`wrote ${count} subtomograms, reference.mrc, particles.star${tomograms} and particles.json to ${out}${mixture}\n`);
}

const simulate: Command = {
  summary: 'simulate subtomograms of GroEL (or a PDB/mmCIF model) with known poses',
  usage,
  flags: {
    values: ['out', 'snr', 'n', 'size', 'voxel', 'tilt', 'tilt-min', 'tilt-max', 'tilt-step', 'pdb', 'resolution', 'max-shift', 'seed',
      'defocus', 'astigmatism', 'dose', 'specimen', 'particles-per-tomogram', 'cs', 'voltage', 'amplitude-contrast', 'weighting'],
    switches: ['no-ctf', 'no-mtf', 'waters'],
  },
  run,
};

export default simulate;
