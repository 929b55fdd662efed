/**
 * A simulated data set written to a directory — the one writer behind `subtomo simulate` and the campaign's
 * simulate step (design.md "Simulation"): `reference.mrc` (the noise-free model density), one MRC per
 * particle, `particles.star` (RELION-style, with the true poses, each particle's tilt range and the SNR) and
 * `particles.json` (every parameter and the true pose of each particle, for checks against the truth).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { degrees } from '../core/rotate.ts';
import { DatasetSimulator, SNR_DEFINITION, type AtomWeighting, type DensityModel, type SimulationConfig } from '../core/simulate.ts';
import { writeMrc } from '../io/mrc.ts';
import { TILT_MAX_COLUMN, TILT_MIN_COLUMN, tiltColumns } from '../io/particlestar.ts';
import { RELION_POSE_COLUMNS, formatStar, poseToRelion, type StarTable } from '../io/star.ts';
import { CTF_DEFAULTS } from '../model/defaults.ts';

export interface SimulationPlan {
  config: SimulationConfig;
  /** Number of particles. */
  count: number;
  model: DensityModel;
  /** What the density came from, for labels and metadata (e.g. "1OEL.pdb"). */
  source: string;
  weighting: AtomWeighting;
}

/** File name of particle i (0-based) of `count`: particle_0001.mrc … */
export function particleFileName(i: number, count: number): string {
  return `particle_${String(i + 1).padStart(Math.max(4, String(count).length), '0')}.mrc`;
}

export interface SimulatedFiles {
  reference: string;
  star: string;
  metadata: string;
  /** Particle file names, in order. */
  particles: string[];
}

const OPTICS_COLUMNS = ['rlnOpticsGroup', 'rlnOpticsGroupName', 'rlnImagePixelSize', 'rlnImageSize', 'rlnImageDimensionality',
  'rlnVoltage', 'rlnSphericalAberration', 'rlnAmplitudeContrast'];
const PARTICLE_COLUMNS = ['rlnImageName', 'rlnOpticsGroup', ...RELION_POSE_COLUMNS, TILT_MIN_COLUMN, TILT_MAX_COLUMN, 'subtomoTiltStepDeg', 'subtomoSnr'];

/** Simulates the data set into `dir` (which must exist); `onParticle` after each particle is written. */
export async function writeSimulatedDataset(
  dir: string,
  plan: SimulationPlan,
  onParticle?: (done: number, file: string) => void | Promise<void>,
): Promise<SimulatedFiles> {
  const { config, count, source } = plan;
  const sim = new DatasetSimulator(plan.model, config);
  await writeMrc(join(dir, 'reference.mrc'), sim.reference(), { labels: [`reference: ${source}`.slice(0, 80)] });
  const [tiltMin, tiltMax] = tiltColumns(config.tilt);
  const tiltStep = Math.round(degrees(config.tiltStep) * 1e9) / 1e9;
  const snr = config.snr === Infinity ? 'inf' : config.snr;
  const files: string[] = [];
  const starRows: (string | number)[][] = [];
  const truth: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const p = sim.particle(i);
    const file = particleFileName(i, count);
    await writeMrc(join(dir, file), p.volume, { labels: [`simulated particle ${i + 1} of ${count}, seed ${config.seed}`] });
    const relion = poseToRelion(p.pose, config.voxelSize);
    starRows.push([file, 1, ...relion, tiltMin, tiltMax, tiltStep, config.snr]);
    truth.push({
      file,
      phiDeg: degrees(p.pose.phi),
      thetaDeg: degrees(p.pose.theta),
      psiDeg: degrees(p.pose.psi),
      shiftVoxels: [p.pose.tx, p.pose.ty, p.pose.tz],
      ...Object.fromEntries(RELION_POSE_COLUMNS.map((c, k) => [c, relion[k]])),
    });
    files.push(file);
    await onParticle?.(i + 1, file);
  }
  const ctf = config.imaging.ctf ?? CTF_DEFAULTS;
  const tables: StarTable[] = [
    { name: 'optics', columns: OPTICS_COLUMNS, rows: [[1, 'opticsGroup1', config.voxelSize, config.n, 3, ctf.voltageKv, ctf.csMillimetre, ctf.amplitudeContrast]] },
    { name: 'particles', columns: PARTICLE_COLUMNS, rows: starRows },
  ];
  await writeFile(join(dir, 'particles.star'), formatStar(tables));
  const metadata = {
    format: 'subtomo-simulation/1',
    model: source,
    heavyAtoms: plan.model.weight.length,
    weighting: plan.weighting,
    boxSize: config.n,
    voxelSizeAngst: config.voxelSize,
    resolutionAngst: config.resolution,
    tilt: { minDeg: tiltMin, maxDeg: tiltMax, stepDeg: tiltStep, count: sim.angles.length },
    snr,
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
    particles: truth,
  };
  await writeFile(join(dir, 'particles.json'), `${JSON.stringify(metadata, null, 2)}\n`);
  return { reference: 'reference.mrc', star: 'particles.star', metadata: 'particles.json', particles: files };
}
