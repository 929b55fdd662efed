/**
 * `subtomo simulate`: a data set of simulated subtomograms with known poses (design.md "Simulation").
 * Everything is validated before anything is written; files go to a temporary sibling directory that is
 * renamed to --out at the end, so a failed run leaves no half-written data set.
 */
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from '../main.ts';
import { Args, UsageError } from '../args.ts';
import { ProgressBar } from '../progress.ts';
import { groelPhantom } from '../../core/phantom.ts';
import { degrees, radians } from '../../core/rotate.ts';
import {
  DEFAULT_CTF,
  DatasetSimulator,
  SNR_DEFINITION,
  SimulationConfigError,
  densityModel,
  situsSigma,
  validateSimulationConfig,
} from '../../core/simulate.ts';
import type { AtomWeighting, SimulationConfig } from '../../core/simulate.ts';
import { buildAssembly, readStructure } from '../../io/pdb.ts';
import { writeMrc } from '../../io/mrc.ts';
import { TILT_MAX_COLUMN, TILT_MIN_COLUMN } from '../../io/particlestar.ts';
import { RELION_POSE_COLUMNS, formatStar, poseToRelion } from '../../io/star.ts';
import type { StarTable } from '../../io/star.ts';

const usage =
  'subtomo simulate --out DIR --snr SNR|inf [--n 20] [--size 64] [--voxel 6] [--tilt 60 | --tilt-min -60 --tilt-max 60] ' +
  '[--tilt-step 1] [--pdb FILE] [--resolution 20] [--max-shift 4] [--seed 1] [--defocus 6] [--cs 2] [--voltage 300] ' +
  '[--amplitude-contrast 0.07] [--no-ctf] [--no-mtf] [--weighting atomic-number|mass] [--waters]';

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
  /** The tilt scheme as the user gave it (degrees), for the metadata. */
  tiltDeg: { min: number; max: number; step: number };
  count: number;
  pdb: string | undefined;
  weighting: AtomWeighting;
  waters: boolean;
  out: string;
}

function readPlan(args: Args): Plan {
  const count = args.int('n', 20);
  if (count < 1) throw new UsageError(`--n must be at least 1, got ${count}`);
  const half = args.number('tilt', 60);
  const tiltDeg = { min: args.number('tilt-min', -half), max: args.number('tilt-max', half), step: args.number('tilt-step', 1) };
  const weighting = args.string('weighting', 'atomic-number');
  if (weighting !== 'atomic-number' && weighting !== 'mass') {
    throw new UsageError(`--weighting must be atomic-number or mass, got '${weighting}'`);
  }
  const ctf = args.has('no-ctf')
    ? null
    : {
        defocusAngstrom: args.number('defocus', DEFAULT_CTF.defocusAngstrom / 1e4) * 1e4,
        csMillimetre: args.number('cs', DEFAULT_CTF.csMillimetre),
        voltageKv: args.number('voltage', DEFAULT_CTF.voltageKv),
        amplitudeContrast: args.number('amplitude-contrast', DEFAULT_CTF.amplitudeContrast),
      };
  const config: SimulationConfig = {
    n: args.number('size', 64),
    voxelSize: args.number('voxel', 6),
    resolution: args.number('resolution', 20),
    tilt: { min: radians(tiltDeg.min), max: radians(tiltDeg.max) },
    tiltStep: radians(tiltDeg.step),
    snr: parseSnr(args.string('snr')),
    maxShift: args.number('max-shift', 4),
    seed: args.number('seed', 1),
    imaging: { ctf, mtf: !args.has('no-mtf') },
  };
  try {
    validateSimulationConfig(config);
  } catch (err) {
    if (!(err instanceof SimulationConfigError)) throw err;
    const tiltFlags = args.has('tilt-min') || args.has('tilt-max') ? 'tilt-min/--tilt-max' : 'tilt';
    throw new UsageError(`--${err.field === 'tilt' ? tiltFlags : FLAG_OF[err.field]}: ${err.message}`);
  }
  return { config, tiltDeg, count, pdb: args.optionalString('pdb'), weighting, waters: args.has('waters'), out: resolve(args.string('out')) };
}

async function checkOutput(out: string): Promise<void> {
  const entries = await readdir(out).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw new Error(`--out ${out}: ${err.message}`);
  });
  if (entries.length > 0) throw new UsageError(`--out ${out} already exists and is not empty; choose a new directory`);
  await mkdir(dirname(out), { recursive: true });
}

function particleName(i: number, count: number): string {
  return `particle_${String(i + 1).padStart(Math.max(4, String(count).length), '0')}.mrc`;
}

async function run(args: Args): Promise<void> {
  const plan = readPlan(args);
  const { config, tiltDeg, count, out } = plan;
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

  const sim = new DatasetSimulator(model, config);
  const tmp = join(dirname(out), `.${basename(out)}.partial-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  try {
    const source = plan.pdb ? `${basename(plan.pdb)}${plan.waters ? ' with waters' : ''}` : 'built-in GroEL-like phantom';
    await writeMrc(join(tmp, 'reference.mrc'), sim.reference(), { labels: [`reference: ${source}`.slice(0, 80)] });
    const bar = new ProgressBar('simulate', count);
    const rows: Record<string, unknown>[] = [];
    const starRows: (string | number)[][] = [];
    const tiltCols = [tiltDeg.min, tiltDeg.max, tiltDeg.step, config.snr];
    for (let i = 0; i < count; i++) {
      const p = sim.particle(i);
      const file = particleName(i, count);
      await writeMrc(join(tmp, file), p.volume, { labels: [`simulated particle ${i + 1} of ${count}, seed ${config.seed}`] });
      const relion = poseToRelion(p.pose, config.voxelSize);
      starRows.push([file, 1, ...relion, ...tiltCols]);
      rows.push({
        file,
        phiDeg: degrees(p.pose.phi),
        thetaDeg: degrees(p.pose.theta),
        psiDeg: degrees(p.pose.psi),
        shiftVoxels: [p.pose.tx, p.pose.ty, p.pose.tz],
        ...Object.fromEntries(RELION_POSE_COLUMNS.map((c, k) => [c, relion[k]])),
      });
      bar.tick(1, file);
    }
    const ctf = config.imaging.ctf ?? DEFAULT_CTF;
    const tables: StarTable[] = [
      {
        name: 'optics',
        columns: ['rlnOpticsGroup', 'rlnOpticsGroupName', 'rlnImagePixelSize', 'rlnImageSize', 'rlnImageDimensionality',
          'rlnVoltage', 'rlnSphericalAberration', 'rlnAmplitudeContrast'],
        rows: [[1, 'opticsGroup1', config.voxelSize, config.n, 3, ctf.voltageKv, ctf.csMillimetre, ctf.amplitudeContrast]],
      },
      {
        name: 'particles',
        columns: ['rlnImageName', 'rlnOpticsGroup', ...RELION_POSE_COLUMNS,
          TILT_MIN_COLUMN, TILT_MAX_COLUMN, 'subtomoTiltStepDeg', 'subtomoSnr'],
        rows: starRows,
      },
    ];
    await writeFile(join(tmp, 'particles.star'), formatStar(tables));
    const meta = {
      format: 'subtomo-simulation/1',
      model: source,
      heavyAtoms: model.weight.length,
      weighting: plan.weighting,
      boxSize: config.n,
      voxelSizeAngst: config.voxelSize,
      resolutionAngst: config.resolution,
      tilt: { minDeg: tiltDeg.min, maxDeg: tiltDeg.max, stepDeg: tiltDeg.step, count: sim.angles.length },
      snr: config.snr === Infinity ? 'inf' : config.snr,
      snrDefinition: SNR_DEFINITION,
      ctf: config.imaging.ctf && {
        defocusMicron: config.imaging.ctf.defocusAngstrom / 1e4,
        csMillimetre: config.imaging.ctf.csMillimetre,
        voltageKv: config.imaging.ctf.voltageKv,
        amplitudeContrast: config.imaging.ctf.amplitudeContrast,
      },
      mtf: config.imaging.mtf ? 'sinc(pi*omega/2), omega = k/k_Nyquist' : null,
      contrast: 'protein positive (white)',
      maxShiftVoxels: config.maxShift,
      seed: config.seed,
      poseConvention:
        'particle ≈ Λ_(R,T)(reference): R = Rz(phi)·Ry(theta)·Rz(psi) active about the centre voxel floor(n/2), then shift T (voxels); ' +
        'RELION columns: (rot, tilt, psi) = ZYZ angles of R⁻¹, origin = −T·voxel',
      reference: 'reference.mrc',
      particles: rows,
    };
    await writeFile(join(tmp, 'particles.json'), `${JSON.stringify(meta, null, 2)}\n`);
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
  run,
};

export default simulate;
