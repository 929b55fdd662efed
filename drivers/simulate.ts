/**
 * A simulated data set written to a directory — the one writer behind `subtomo simulate` and the campaign's
 * simulate step (design.md "Simulation"): `reference.mrc` (the noise-free model density), one MRC per
 * particle, `particles.star` (RELION-style, with the true poses, each particle's tilt range and the SNR) and
 * `particles.json` (every parameter and the true pose of each particle, for checks against the truth).
 *
 * With a CTF the data set is a RELION 5 project in miniature, so that reading it back (io/particles.ts with
 * `tomograms: tomograms.star`, then drivers/particleList.ts) gives every particle the CTF it was simulated
 * with: `tomograms.star` (data_global: optics, rlnTomoHand, tilt-series pixel size = the voxel size, binning 1,
 * size) and `tilt_series/<tomogram>.star` per tomogram (one row per tilt image in acquisition order: tilt
 * angles, rlnTomoXTilt = rlnTomoZRot = 0, defocus U/V/angle at the tomogram's centre, pre-exposure), and
 * particles.star names each particle's tomogram (rlnTomoName) and box centre (rlnCenteredCoordinate{X,Y,Z}Angst)
 * beside its subtomogram (rlnImageName). The box centre is the particle's true centre minus its true shift,
 * so RELION's particle centre (coordinate − origin, ParticleSet::getPosition) is the simulated one.
 * particles.json records each particle's tomogram, centre and the CTF of every tilt image at it.
 * Without a CTF the data set is as it always was: no tomograms, subtomogram names and poses only.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { groelPhantom } from '../core/phantom.ts';
import { Rng } from '../core/random.ts';
import { degrees } from '../core/rotate.ts';
import {
  DatasetSimulator,
  SIMULATED_HANDEDNESS,
  SNR_DEFINITION,
  type AtomWeighting,
  type DensityModel,
  type SimulatedParticle,
  type SimulatedTomogram,
  type SimulationConfig,
  densityModel,
  doseSymmetricOrder,
} from '../core/simulate.ts';
import { writeMrc } from '../io/mrc.ts';
import { TILT_MAX_COLUMN, TILT_MIN_COLUMN, tiltColumns } from '../io/particlestar.ts';
import { buildAssembly, readStructure } from '../io/pdb.ts';
import { RELION_POSE_COLUMNS, formatStar, poseToRelion, type StarTable, type StarValue } from '../io/star.ts';
import { CTF_DEFAULTS } from '../model/defaults.ts';
import { TRUE_CLASS_COLUMN } from './classify.ts';

export interface SimulationPlan {
  config: SimulationConfig;
  /** Number of particles. */
  count: number;
  /**
   * The structure, or a mixture of structures whose particles are drawn in proportion to their fractions
   * (`mixtureClasses`): each particle records its true class, as classification tests need.
   */
  components: SimulatedComponent[];
  weighting: AtomWeighting;
}

/** One structure of a simulated data set. */
export interface SimulatedComponent {
  /** Its class label (the STAR's subtomoTrueClass), e.g. "1OEL" or "1OEL-asu". */
  label: string;
  /** What the density came from, for labels and metadata (e.g. "1OEL.pdb"). */
  source: string;
  model: DensityModel;
  /** Share of the particles (normalised over the components). */
  fraction: number;
}

/** What a component is made of: an atomic model (its biological assembly, or only the file's atoms), or the phantom. */
export interface ComponentSpec {
  /** PDB/mmCIF file; absent: the built-in GroEL-like phantom. */
  pdb?: string;
  fraction: number;
  /** Only the atoms of the file, without its BIOMT assembly (1OEL alone is one GroEL7 ring). */
  asymmetricUnit?: boolean;
  waters?: boolean;
}

/** The components of `specs` with their densities and distinct labels (file name, `-asu`, `-2`… for repeats). */
export function simulatedComponents(specs: readonly ComponentSpec[], weighting: AtomWeighting): SimulatedComponent[] {
  const seen = new Map<string, number>();
  return specs.map((spec) => {
    let atoms;
    if (spec.pdb) {
      const structure = readStructure(spec.pdb, { waters: spec.waters ?? false });
      atoms = spec.asymmetricUnit ? structure.atoms : buildAssembly(structure);
    } else {
      atoms = groelPhantom();
    }
    const base = spec.pdb ? `${basename(spec.pdb).replace(/\.(pdb|ent|cif|mmcif)(\.gz)?$/i, '')}${spec.asymmetricUnit ? '-asu' : ''}` : 'phantom';
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    const source = spec.pdb
      ? `${basename(spec.pdb)}${spec.asymmetricUnit ? ' (asymmetric unit)' : ''}${spec.waters ? ' with waters' : ''}`
      : 'built-in GroEL-like phantom';
    return { label: n === 1 ? base : `${base}-${n}`, source, model: densityModel(atoms, weighting), fraction: spec.fraction };
  });
}

/** File name of particle i (0-based) of `count`: particle_0001.mrc … */
export function particleFileName(i: number, count: number): string {
  return `particle_${String(i + 1).padStart(Math.max(4, String(count).length), '0')}.mrc`;
}

/** Name of tomogram j (0-based) of `count`: tomo_0001 … */
export function tomogramName(j: number, count: number): string {
  return `tomo_${String(j + 1).padStart(Math.max(4, String(count).length), '0')}`;
}

export interface SimulatedFiles {
  /** The (first) structure's noise-free density. */
  reference: string;
  /** A mixture's reference of each structure, by label. */
  references?: Record<string, string>;
  star: string;
  metadata: string;
  /** Particle file names, in order. */
  particles: string[];
  /** With a CTF: the tomogram set and its per-tilt STAR files (relative to the directory). */
  tomograms?: string;
  tiltSeries?: string[];
}

const OPTICS_COLUMNS = ['rlnOpticsGroup', 'rlnOpticsGroupName', 'rlnImagePixelSize', 'rlnImageSize', 'rlnImageDimensionality',
  'rlnVoltage', 'rlnSphericalAberration', 'rlnAmplitudeContrast'];
const PARTICLE_COLUMNS = ['rlnImageName', 'rlnOpticsGroup', ...RELION_POSE_COLUMNS, TILT_MIN_COLUMN, TILT_MAX_COLUMN, 'subtomoTiltStepDeg', 'subtomoSnr'];
const CENTRED = ['rlnCenteredCoordinateXAngst', 'rlnCenteredCoordinateYAngst', 'rlnCenteredCoordinateZAngst'];
const TOMOGRAM_COLUMNS = ['rlnTomoName', 'rlnVoltage', 'rlnSphericalAberration', 'rlnAmplitudeContrast', 'rlnMicrographOriginalPixelSize',
  'rlnTomoHand', 'rlnTomoTiltSeriesPixelSize', 'rlnTomoTiltSeriesStarFile', 'rlnTomoTomogramBinning',
  'rlnTomoSizeX', 'rlnTomoSizeY', 'rlnTomoSizeZ'];
const TILT_COLUMNS = ['rlnTomoNominalStageTiltAngle', 'rlnMicrographPreExposure', 'rlnDefocusU', 'rlnDefocusV', 'rlnDefocusAngle',
  'rlnTomoXTilt', 'rlnTomoYTilt', 'rlnTomoZRot', 'rlnTomoXShiftAngst', 'rlnTomoYShiftAngst'];

/** Simulates the data set into `dir` (which must exist); `onParticle` after each particle is written. */
export async function writeSimulatedDataset(
  dir: string,
  plan: SimulationPlan,
  onParticle?: (done: number, file: string) => void | Promise<void>,
): Promise<SimulatedFiles> {
  const { config, count, components } = plan;
  if (components.length === 0) throw new RangeError('a simulated data set needs at least one structure');
  const sims = components.map((c) => new DatasetSimulator(c.model, config));
  const sim = sims[0];
  const mixture = components.length > 1;
  const classes = mixtureClasses(components.map((c) => c.fraction), count, config.seed);
  const source = components.map((c) => c.source).join(', ');
  // A mixture's reference.mrc is its first structure's; each has its own reference_<label>.mrc.
  await writeMrc(join(dir, 'reference.mrc'), sim.reference(), { labels: [`reference: ${components[0].source}`.slice(0, 80)] });
  const references: Record<string, string> = {};
  if (mixture) {
    for (const [k, c] of components.entries()) {
      references[c.label] = `reference_${c.label}.mrc`;
      await writeMrc(join(dir, references[c.label]), sims[k].reference(), { labels: [`reference: ${c.source}`.slice(0, 80)] });
    }
  }
  const [tiltMin, tiltMax] = tiltColumns(config.tilt);
  const tiltStep = Math.round(degrees(config.tiltStep) * 1e9) / 1e9;
  const snr = config.snr === Infinity ? 'inf' : config.snr;
  const withCtf = config.imaging.ctf !== null;
  const tomogramCount = sim.tomogramOf(count - 1) + 1;
  const files: string[] = [];
  const starRows: StarValue[][] = [];
  const truth: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const p = sims[classes[i]].particle(i);
    const file = particleFileName(i, count);
    await writeMrc(join(dir, file), p.volume, { labels: [`simulated particle ${i + 1} of ${count}, seed ${config.seed}`] });
    const relion = poseToRelion(p.pose, config.voxelSize);
    const row: StarValue[] = [file, 1, ...relion, tiltMin, tiltMax, tiltStep, config.snr];
    const tomogram = tomogramName(p.tomogram, tomogramCount);
    const coordinate = boxCentre(p, config.voxelSize);
    if (withCtf) row.push(tomogram, ...coordinate);
    if (mixture) row.push(components[classes[i]].label);
    starRows.push(row);
    truth.push({
      file,
      ...(mixture && { trueClass: components[classes[i]].label }),
      phiDeg: degrees(p.pose.phi),
      thetaDeg: degrees(p.pose.theta),
      psiDeg: degrees(p.pose.psi),
      shiftVoxels: [p.pose.tx, p.pose.ty, p.pose.tz],
      ...Object.fromEntries(RELION_POSE_COLUMNS.map((c, k) => [c, relion[k]])),
      ...(p.ctf && { tomogram, centreAngst: p.centre, coordinateAngst: coordinate, ctf: ctfTruth(p, sim.tomogram(p.tomogram)!) }),
    });
    files.push(file);
    await onParticle?.(i + 1, file);
  }
  const ctf = config.imaging.ctf ?? CTF_DEFAULTS;
  const optics: StarTable = {
    name: 'optics',
    columns: OPTICS_COLUMNS,
    rows: [[1, 'opticsGroup1', config.voxelSize, config.n, 3, ctf.voltageKv, ctf.csMillimetre, ctf.amplitudeContrast]],
  };
  const particleColumns = [...PARTICLE_COLUMNS, ...(withCtf ? ['rlnTomoName', ...CENTRED] : []), ...(mixture ? [TRUE_CLASS_COLUMN] : [])];
  const particles: StarTable = { name: 'particles', columns: particleColumns, rows: starRows };
  const written: SimulatedFiles = {
    reference: 'reference.mrc', ...(mixture && { references }), star: 'particles.star', metadata: 'particles.json', particles: files,
  };
  if (withCtf) {
    optics.columns = [...OPTICS_COLUMNS, 'rlnTomoTiltSeriesPixelSize', 'rlnCtfDataAreCtfPremultiplied'];
    optics.rows[0].push(config.voxelSize, 0);
    const general: StarTable = { name: 'general', columns: ['rlnTomoSubTomosAre2DStacks'], rows: [[0]] };
    await writeFile(join(dir, 'particles.star'), formatStar([general, optics, particles]));
    Object.assign(written, await writeTomogramSet(dir, sim, config, tomogramCount));
  } else {
    await writeFile(join(dir, 'particles.star'), formatStar([optics, particles]));
  }
  const metadata = {
    format: 'subtomo-simulation/1',
    model: source,
    heavyAtoms: components.reduce((sum, c) => sum + c.model.weight.length, 0),
    ...(mixture && {
      mixture: components.map((c, k) => ({
        label: c.label, source: c.source, fraction: c.fraction, particles: classes.filter((x) => x === k).length, reference: references[c.label],
      })),
    }),
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
      ...acquisitionMetadata(config, tomogramCount),
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
  return written;
}

/**
 * Class of each of `count` particles for a mixture with these fractions: counts proportional to the fractions
 * (largest remainders rounded up), in an order shuffled with the seed's own stream, so particle i's class does
 * not depend on how it is simulated. One component: every particle is class 0.
 */
export function mixtureClasses(fractions: readonly number[], count: number, seed: number): number[] {
  if (fractions.length === 1) return new Array<number>(count).fill(0);
  const total = fractions.reduce((a, b) => a + b, 0);
  if (!(total > 0) || fractions.some((f) => !(f >= 0))) throw new RangeError(`mixture fractions must be ≥ 0 with a positive sum, got ${fractions.join(', ')}`);
  const exact = fractions.map((f) => (f / total) * count);
  const counts = exact.map(Math.floor);
  const order = exact.map((_, k) => k).sort((a, b) => exact[b] - counts[b] - (exact[a] - counts[a]) || a - b);
  for (let r = count - counts.reduce((a, b) => a + b, 0), j = 0; r > 0; r--, j++) counts[order[j]]++;
  const classes = counts.flatMap((c, k) => new Array<number>(c).fill(k));
  const rng = Rng.derive(seed, -2);
  for (let i = classes.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [classes[i], classes[j]] = [classes[j], classes[i]];
  }
  return classes;
}

/** The box centre written to particles.star: the true centre minus the true shift, in Å (module doc). */
function boxCentre(p: SimulatedParticle, voxelSize: number): number[] {
  const shift = [p.pose.tx, p.pose.ty, p.pose.tz];
  return p.centre.map((c, k) => c - shift[k] * voxelSize);
}

/** What particles.json says about the tomograms: the settings behind every particle's `ctf`. */
function acquisitionMetadata(config: SimulationConfig, tomograms: number): Record<string, unknown> {
  const { defocusRange, astigmatism, dose, specimen, particlesPerTomogram } = config;
  return {
    tomograms,
    ...(particlesPerTomogram !== undefined && { particlesPerTomogram }),
    ...(defocusRange && { defocusRangeMicron: defocusRange.map((d) => d / 1e4) }),
    ...(astigmatism !== undefined && { astigmatismMaxMicron: astigmatism / 1e4 }),
    ...(dose !== undefined && { doseTotal: dose, doseOrder: 'dose-symmetric: the tilt nearest 0° first, then alternately +, −' }),
    ...(specimen && { specimenNm: { width: specimen.width / 10, thickness: specimen.thickness / 10 } }),
    handedness: SIMULATED_HANDEDNESS,
    defocusConvention:
      "per tilt: the tomogram's defocus + handedness × depth of the particle centre along the beam (RELION 5 Tomogram::getCtf)",
  };
}

/** A particle's true CTF for particles.json: its tomogram's defocus and every tilt image's CTF at the particle. */
function ctfTruth(p: SimulatedParticle, tomogram: SimulatedTomogram): Record<string, unknown> {
  const central = tomogram.tilts[0];
  return {
    tomogramDefocusUAngst: central.defocusU,
    tomogramDefocusVAngst: central.defocusV,
    astigmatismAngleDeg: degrees(central.astigmatismAngle),
    tilts: p.ctf!.tilts.map((t) => ({
      angleDeg: degrees(t.angle),
      defocusUAngst: t.defocusU,
      defocusVAngst: t.defocusV,
      astigmatismAngleDeg: degrees(t.astigmatismAngle),
      preExposure: t.preExposure ?? 0,
    })),
  };
}

/** tomograms.star and tilt_series/<tomogram>.star for the first `count` tomograms (module doc). */
async function writeTomogramSet(
  dir: string,
  sim: DatasetSimulator,
  config: SimulationConfig,
  count: number,
): Promise<Pick<SimulatedFiles, 'tomograms' | 'tiltSeries'>> {
  const ctf = config.imaging.ctf!;
  const voxel = config.voxelSize;
  const width = Math.round((config.specimen?.width ?? 0) / voxel) + config.n;
  const thickness = Math.round((config.specimen?.thickness ?? 0) / voxel) + config.n;
  await mkdir(join(dir, 'tilt_series'), { recursive: true });
  const rows: StarValue[][] = [];
  const tiltSeries: string[] = [];
  const order = doseSymmetricOrder(sim.angles);
  const acquisition = Array.from(order.keys()).sort((a, b) => order[a] - order[b]);
  for (let j = 0; j < count; j++) {
    const name = tomogramName(j, count);
    const file = `tilt_series/${name}.star`;
    const tomogram = sim.tomogram(j)!;
    const tilts = acquisition.map((t): StarValue[] => {
      const tilt = tomogram.tilts[t];
      const angle = Math.round(degrees(tilt.angle) * 1e9) / 1e9; // as the tilt columns: −60, not −59.99999999999999
      return [angle, tilt.preExposure ?? 0, tilt.defocusU, tilt.defocusV, degrees(tilt.astigmatismAngle), 0, angle, 0, 0, 0];
    });
    await writeFile(join(dir, file), formatStar([{ name, columns: TILT_COLUMNS, rows: tilts }]));
    tiltSeries.push(file);
    const optics = [ctf.voltageKv, ctf.csMillimetre, ctf.amplitudeContrast];
    rows.push([name, ...optics, voxel, SIMULATED_HANDEDNESS, voxel, file, 1, width, width, thickness]);
  }
  await writeFile(join(dir, 'tomograms.star'), formatStar([{ name: 'global', columns: TOMOGRAM_COLUMNS, rows }]));
  return { tomograms: 'tomograms.star', tiltSeries };
}
