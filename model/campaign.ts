/**
 * Campaign configuration: its shape, defaults and validation. Pure (no I/O) so the CLI validates before
 * anything starts and the workflow can re-check what it is given. A validated config is plain JSON data
 * (it travels in Temporal payloads) and validating it again returns it unchanged. Defaults shared with the
 * CLI come from model/defaults.ts; those below are the campaign's own.
 */
import { ALIGNMENT_DEFAULTS, CLASSIFY_DEFAULTS, MAX_BOX, SIMULATION_DEFAULTS, defaultMaskRadius } from './defaults.ts';
import type { MpiExecutor, MpiRanks, SagSettings, SlurmSettings } from './jobs.ts';
import { ALIGN_METHODS, type AlignMethod } from './methods.ts';
import { parseSymmetryName } from './symmetry.ts';

export interface SimulatedData {
  kind: 'simulate';
  particles: number;
  size: number;
  voxel: number;
  /** var(signal)/var(noise) per projection; 'inf' for noise-free (JSON has no Infinity). */
  snr: number | 'inf';
  tiltMin: number;
  tiltMax: number;
  tiltStep: number;
  seed: number;
  /**
   * Atomic model (PDB/mmCIF); absent → the built-in GroEL-like phantom. A list is a mixture: particles are drawn
   * from the models in proportion to `fractions` (default equal), each model its biological assembly unless its
   * `assembly` entry is false (the file's atoms only: 1OEL alone is one GroEL7 ring).
   */
  pdb?: string | string[];
  fractions?: number[];
  assembly?: boolean[];
  resolution: number;
  maxShift: number;
  /**
   * CTF underfocus in µm (the design's default is 6 µm: first CTF zero near 34 Å), or a range [min, max]
   * each tomogram draws its defocus from (config: `[3, 7]` or `"3:7"`).
   */
  defocus: number | [number, number];
  /** Largest astigmatism |U − V| in µm a tomogram draws; absent: none. */
  astigmatism?: number;
  /** Total dose of each tilt series, e/Å², collected dose-symmetrically; absent: no dose weighting. */
  dose?: number;
  /** Slab the particles lie in, nm: [width, thickness] (the defocus gradient of a tilted specimen); absent: at the centre. */
  specimen?: [number, number];
  /** Particles per tomogram; absent: one tomogram unless a defocus range or astigmatism gives each particle its own. */
  particlesPerTomogram?: number;
}

/** A user's particles: a list in any format io/particles.ts reads (the field keeps the name `star`). */
export interface StarData {
  kind: 'star';
  /** Particle list: RELION 4/5 or Warp/M STAR, Dynamo .tbl. */
  star: string;
  /** tomograms.star (RELION) and/or a Dynamo .vll: the tomograms, their tilt series and geometry. */
  tomograms?: string[];
  /** Tilt range (degrees, min and max) for particles whose list and tomogram give none. */
  tiltRange?: [number, number];
  /** Å per pixel for lists that do not state it (Warp, Dynamo without `* apix`). */
  pixelSize?: number;
  /** Only the particles of this class (rlnClassNumber). */
  classNumber?: number;
  /** Cut the particles out of their tomograms first (drivers/extract.ts): box in voxels, binning. */
  extract?: { box: number; binning: number };
}

export interface CampaignConfig {
  name: string;
  /** Campaign directory: artifacts, reports and the resume cache live here. */
  workdir: string;
  data: SimulatedData | StarData;
  maxIterations: number;
  /** Stop when the resolution has not improved for this many iterations. */
  patience: number;
  alignment: {
    method: AlignMethod;
    candidates: number;
    bandwidth: number;
    maxShift: number;
    /**
     * Local refinement (initialPoses: star): only rotations within this many degrees of each particle's
     * previous pose are refined — the prior itself and the FRM peaks near it. Absent = global search.
     */
    angularRange?: number;
    /** SAG parameters (omitted: core/sag.ts defaults); batchSize counts x-slices of the particles' box. */
    sag?: SagSettings;
    mpiRanks: number;
    hostfile?: string;
    /** How mpirun runs the ranks (cluster networks, timeouts); absent = the defaults. */
    mpi?: MpiOptions;
    /** 'slurm': the MPI steps are submitted to Slurm (mpi/slurmJob.ts). Stored only then: absent = local. */
    executor?: MpiExecutor;
    /** sbatch options of the MPI steps' jobs (executor slurm only); stored only when given. */
    slurm?: SlurmSettings;
  };
  /**
   * Soft sphere alignment and FSC mask, in voxels. Without a radius the campaign takes the default of the
   * particles' box (model/defaults.ts defaultMaskRadius) once it has read them.
   */
  mask: { radius?: number; edge: number };
  /** Low-pass of the first reference (Å); the paper starts at 60 Å. */
  initialLowpass: number;
  /**
   * Poses of the start: seeded random rotations or all identity (reference-free), or `star`: the poses of
   * the particle list, refined locally (within `alignment.angularRange`) from then on.
   */
  initialPoses: InitialPoses;
  /**
   * A map to start from instead of the reference-free average (resampled to the particles, low-passed to
   * `initialLowpass`, masked): the first reference of both halves.
   */
  reference?: string;
  /** Point group imposed on each half map (C1, Cn, Dn; core/symmetry.ts); absent = C1. */
  symmetry?: string;
  /** Seeds the random initial poses and SAG's slice order, so a campaign can be reproduced. */
  seed: number;
  /**
   * Register the even half map onto the odd one (core/register.ts) after each alignment, before the FSC: the
   * even map, its next reference and the combined map are then in the odd map's frame. Independent halves can
   * otherwise settle in different orientations and the FSC counts that as lost resolution (docs/results.md,
   * ±40°). EMAN2's e2spt_refine aligns even to odd this way; RELION does not. Absent = off.
   */
  registerHalves?: true;
  /**
   * Multi-reference classification after the averaging iterations (core/classify.ts, docs/classification.md):
   * the last poses split into `classes` random subsets, then MCO-A iterations. Absent: one structure.
   */
  classification?: ClassificationConfig;
  /**
   * false: align and average with the binary wedge even where the particles carry CTFs (per-tilt defocus from
   * the tomogram set, or simulated ones). Absent: the CTF is used whenever the data have one.
   */
  ctf?: false;
}

/** `classification:` of a campaign; optional fields default to model/defaults.ts CLASSIFY_DEFAULTS. */
export interface ClassificationConfig {
  classes: number;
  /** Default CLASSIFY_DEFAULTS.iterations. */
  iterations: number;
  /** Smallest class kept; default CLASSIFY_DEFAULTS.minSizeFraction × particles / classes, at least 2. */
  minClassSize?: number;
  /** MCO-AC's starting temperature (0: MCO-A) and its cooling factor per iteration. */
  temperature?: number;
  cooling?: number;
  /** Stop when at most this fraction of the particles changed class. */
  stopChanged?: number;
  /** Low-pass of the starting class references, Å. */
  initialLowpass?: number;
  /**
   * The band every class reference is compared in after the start, Å: each iteration's references are
   * low-passed there (PyTom's MCO-EXMX fixes its bandpass the same way). Absent: initialLowpass.
   */
  lowpass?: number;
  /**
   * Two classes whose maps are at least this similar (core/classify.ts classSimilarity; 1 = one structure) are
   * merged; false: never. Absent: CLASSIFY_DEFAULTS.merge.
   */
  merge?: number | false;
  /** false: class alignments keep FRM's rotation and FTM's shift, unrefined (model/defaults.ts FRM_ONLY_REFINEMENT). */
  refine?: false;
}

/**
 * Angle (radians) between the two half maps above which a campaign warns: the halves settled in different
 * orientations, so their FSC compares two different maps and its resolution means little (an asymmetric
 * complex at 20 particles ended with halves 148° apart while the FSC still reported 59 Å).
 */
export const HALVES_DIVERGED = (10 * Math.PI) / 180;

/** The warning shown for an iteration whose half maps are `angle` radians apart, or null when they agree. */
export function halvesWarning(angle: number | undefined): string | null {
  if (angle === undefined || !(angle > HALVES_DIVERGED)) return null;
  const deg = (x: number) => ((x * 180) / Math.PI).toFixed(0);
  return `warning: the half maps are ${deg(angle)}° apart (more than ${deg(HALVES_DIVERGED)}°): they settled in different ` +
    'orientations and the FSC resolution is not to be trusted; try more particles, a lower initialLowpass, a reference or registerHalves';
}

export type InitialPoses = 'random' | 'identity' | 'star';
export const INITIAL_POSES: readonly InitialPoses[] = ['random', 'identity', 'star'];

export class ConfigError extends Error {
  constructor(readonly field: string, message: string) {
    super(`config field '${field}': ${message}`);
    this.name = 'ConfigError';
  }
}

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(raw: Raw, key: string, path: string): Raw {
  const v = raw[key];
  if (v === undefined) return {};
  if (!isObject(v)) throw new ConfigError(`${path}${key}`, 'must be a mapping');
  return v;
}

function num(raw: Raw, key: string, path: string, fallback: number | undefined, check: (x: number) => string | null): number {
  const v = raw[key];
  if (v === undefined) {
    if (fallback === undefined) throw new ConfigError(`${path}${key}`, 'is required');
    return fallback;
  }
  const x = v === 'inf' || v === 'Infinity' ? Infinity : v;
  if (typeof x !== 'number' || Number.isNaN(x)) throw new ConfigError(`${path}${key}`, `must be a number, got ${JSON.stringify(v)}`);
  const problem = check(x);
  if (problem) throw new ConfigError(`${path}${key}`, `${problem}, got ${x}`);
  return x;
}

function str(raw: Raw, key: string, path: string, fallback?: string): string {
  const v = raw[key];
  if (v === undefined) {
    if (fallback === undefined) throw new ConfigError(`${path}${key}`, 'is required');
    return fallback;
  }
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(`${path}${key}`, 'must be a non-empty string');
  return v;
}

const snrOf = (x: number): number | 'inf' => (x === Infinity ? 'inf' : x);

/** The launcher settings of `alignment.mpi` (seconds for the timeouts). */
export interface MpiOptions {
  mca?: Record<string, string>;
  args?: string[];
  readyTimeout?: number;
  stallTimeout?: number;
}

/** More ranks than this is a typo; the run-time check (mpi/preflight.ts) then bounds them by slots or cores. */
export const MAX_RANKS = 4096;

/** A name that is safe as a file or directory name: no separators, not '.' or '..'. */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;


const positiveInt = (x: number) => (Number.isInteger(x) && x > 0 ? null : 'must be a positive integer');
const nonNegativeInt = (x: number) => (Number.isInteger(x) && x >= 0 ? null : 'must be a non-negative integer');
const positive = (x: number) => (x > 0 ? null : 'must be positive');
const nonNegative = (x: number) => (x >= 0 ? null : 'must be ≥ 0');
const tiltAngle = (x: number) => (Math.abs(x) <= 90 ? null : 'must be within ±90 degrees');

const KNOWN = {
  top: ['name', 'workdir', 'data', 'maxIterations', 'patience', 'alignment', 'mask', 'initialLowpass', 'initialPoses', 'reference', 'symmetry', 'seed',
    'registerHalves', 'classification', 'ctf'],
  classification: ['classes', 'iterations', 'minClassSize', 'temperature', 'cooling', 'stopChanged', 'initialLowpass', 'lowpass', 'merge', 'refine'],
  simulate: ['kind', 'simulate', 'particles', 'size', 'voxel', 'snr', 'tilt', 'tiltMin', 'tiltMax', 'tiltStep', 'seed', 'pdb', 'fractions', 'assembly', 'resolution',
    'maxShift', 'defocus', 'astigmatism', 'dose', 'specimen', 'particlesPerTomogram'],
  star: ['kind', 'star', 'tomograms', 'tiltRange', 'pixelSize', 'classNumber', 'extract'],
  extract: ['box', 'binning'],
  alignment: ['method', 'candidates', 'bandwidth', 'maxShift', 'angularRange', 'sag', 'mpiRanks', 'hostfile', 'mpi', 'executor', 'slurm'],
  mpi: ['mca', 'args', 'readyTimeout', 'stallTimeout'],
  slurm: ['partition', 'account', 'nodes', 'ntasksPerNode', 'cpusPerTask', 'time', 'mem', 'qos', 'extraArgs'],
  sag: ['batchSize', 'maxEpochs', 'tolerance', 'gradientTolerance', 'lambda'],
  mask: ['radius', 'edge'],
};

function rejectUnknown(raw: Raw, known: readonly string[], path: string): void {
  for (const k of Object.keys(raw)) {
    if (!known.includes(k)) throw new ConfigError(`${path}${k}`, `is not a known field (known: ${known.join(', ')})`);
  }
}

function parseData(raw: Raw): SimulatedData | StarData {
  if (raw.data === undefined) {
    throw new ConfigError('data', "is required: { star: particles.star } for your particles, or { kind: simulate, … } for a simulated set");
  }
  const data = obj(raw, 'data', '');
  if (data.kind !== undefined && data.kind !== 'simulate' && data.kind !== 'star') {
    throw new ConfigError('data.kind', `must be 'simulate' or 'star', got ${JSON.stringify(data.kind)}`);
  }
  if (data.kind === 'star' || data.star !== undefined) return parseStarData(data);
  rejectUnknown(data, KNOWN.simulate, 'data.');
  const p = 'data.';
  const size = num(data, 'size', p, SIMULATION_DEFAULTS.size, (x) =>
    Number.isInteger(x) && x >= 16 && x <= MAX_BOX && x % 2 === 0 ? null : `must be an even integer from 16 to ${MAX_BOX}`);
  const tilt = num(data, 'tilt', p, SIMULATION_DEFAULTS.tiltDeg, (x) => (x > 0 && x <= 90 ? null : 'must be in (0, 90] degrees'));
  const tiltMin = num(data, 'tiltMin', p, -tilt, tiltAngle);
  const tiltMax = num(data, 'tiltMax', p, tilt, tiltAngle);
  if (tiltMin > tiltMax) throw new ConfigError('data.tiltMin', `must be ≤ data.tiltMax (${tiltMax}), got ${tiltMin}`);
  const out: SimulatedData = {
    kind: 'simulate',
    particles: num(data, 'particles', p, SIMULATION_DEFAULTS.particles, (x) => (Number.isInteger(x) && x >= 4 ? null : 'must be an integer ≥ 4 (two half-sets of at least 2)')),
    size,
    voxel: num(data, 'voxel', p, SIMULATION_DEFAULTS.voxel, positive),
    snr: snrOf(num(data, 'snr', p, 0.01, positive)),
    tiltMin,
    tiltMax,
    tiltStep: num(data, 'tiltStep', p, SIMULATION_DEFAULTS.tiltStepDeg, positive),
    seed: num(data, 'seed', p, SIMULATION_DEFAULTS.seed, nonNegativeInt),
    resolution: num(data, 'resolution', p, SIMULATION_DEFAULTS.resolution, positive),
    maxShift: num(data, 'maxShift', p, SIMULATION_DEFAULTS.maxShift, nonNegative),
    defocus: parseDefocus(data),
  };
  if (data.pdb !== undefined) Object.assign(out, parseModels(data));
  // Stored only when given, so configs without them keep their content hash (and their workflow ids).
  if (data.astigmatism !== undefined) out.astigmatism = num(data, 'astigmatism', p, undefined, nonNegative);
  if (data.dose !== undefined) out.dose = num(data, 'dose', p, undefined, nonNegative);
  if (data.particlesPerTomogram !== undefined) out.particlesPerTomogram = num(data, 'particlesPerTomogram', p, undefined, positiveInt);
  if (data.specimen !== undefined) {
    const s = data.specimen;
    if (!Array.isArray(s) || s.length !== 2 || s.some((x) => typeof x !== 'number' || !(x >= 0) || !Number.isFinite(x))) {
      throw new ConfigError('data.specimen', `must be [width, thickness] in nm, both ≥ 0, e.g. [800, 150], got ${JSON.stringify(s)}`);
    }
    out.specimen = [s[0], s[1]];
  }
  return out;
}

/** `data.pdb` (one file, or a mixture's list) with the mixture's `fractions` and `assembly` lists, checked. */
function parseModels(data: Raw): Pick<SimulatedData, 'pdb' | 'fractions' | 'assembly'> {
  if (!Array.isArray(data.pdb)) {
    for (const field of ['fractions', 'assembly']) {
      if (data[field] !== undefined) throw new ConfigError(`data.${field}`, 'describes a mixture: give data.pdb as a list of models');
    }
    return { pdb: str(data, 'pdb', 'data.') };
  }
  const pdb = data.pdb as unknown[];
  if (pdb.length === 0 || pdb.some((x) => typeof x !== 'string' || x === '')) throw new ConfigError('data.pdb', 'must be a file or a non-empty list of files');
  const list = <T>(field: string, ok: (x: unknown) => boolean, rule: string): T[] | undefined => {
    const v = data[field];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length !== pdb.length || !v.every(ok)) {
      throw new ConfigError(`data.${field}`, `must be a list of ${pdb.length} ${rule}, one per model of data.pdb, got ${JSON.stringify(v)}`);
    }
    return v as T[];
  };
  const fractions = list<number>('fractions', (x) => typeof x === 'number' && x > 0 && Number.isFinite(x), 'positive numbers');
  const assembly = list<boolean>('assembly', (x) => typeof x === 'boolean', 'true/false');
  return { pdb: pdb as string[], ...(fractions && { fractions }), ...(assembly && { assembly }) };
}

/** The models of a simulated data set: path, share of the particles and whether its assembly is built. */
export function modelsOf(data: SimulatedData): { pdb?: string; fraction: number; assembly: boolean }[] {
  if (data.pdb === undefined) return [{ fraction: 1, assembly: true }];
  const files = typeof data.pdb === 'string' ? [data.pdb] : data.pdb;
  return files.map((pdb, k) => ({ pdb, fraction: data.fractions?.[k] ?? 1, assembly: data.assembly?.[k] ?? true }));
}

/** `data.defocus`: µm, one number (every tomogram) or a range [min, max] / "min:max" each tomogram draws from. */
function parseDefocus(data: Raw): number | [number, number] {
  const v = data.defocus;
  if (v === undefined || typeof v === 'number') return num(data, 'defocus', 'data.', SIMULATION_DEFAULTS.defocusMicron, positive);
  const range = typeof v === 'string' ? v.split(':').map((x) => (x.trim() === '' ? NaN : Number(x))) : v;
  if (!Array.isArray(range) || range.length !== 2 || range.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    const got = JSON.stringify(v);
    throw new ConfigError('data.defocus', `must be an underfocus in µm (6) or a range [min, max] or "min:max" (e.g. [3, 7]), got ${got}`);
  }
  const [lo, hi] = range as [number, number];
  if (!(lo > 0)) throw new ConfigError('data.defocus', `must be a positive underfocus, got ${lo} µm`);
  if (lo > hi) throw new ConfigError('data.defocus', `the range must run from low to high, got ${lo} to ${hi} µm`);
  return [lo, hi];
}

/**
 * `alignment.mpi`: OpenMPI MCA parameters (`mca: { btl_tcp_if_include: eth0 }`), further mpirun arguments,
 * and the launcher's deadlines in seconds (mpi/launcher.ts). Absent or empty → undefined.
 */
function parseMpi(raw: Raw): MpiOptions | undefined {
  rejectUnknown(raw, KNOWN.mpi, 'alignment.mpi.');
  const p = 'alignment.mpi.';
  const out: MpiOptions = {};
  if (raw.mca !== undefined) {
    const mca = obj(raw, 'mca', p);
    out.mca = {};
    for (const [k, v] of Object.entries(mca)) {
      if (!/^[A-Za-z0-9_]+$/.test(k)) throw new ConfigError(`${p}mca.${k}`, 'is not an OpenMPI parameter name (letters, digits, _)');
      if (typeof v !== 'string' && typeof v !== 'number') throw new ConfigError(`${p}mca.${k}`, `must be a string or a number, got ${JSON.stringify(v)}`);
      out.mca[k] = String(v);
    }
  }
  if (raw.args !== undefined) {
    if (!Array.isArray(raw.args) || raw.args.some((a) => typeof a !== 'string')) throw new ConfigError(`${p}args`, 'must be a list of strings');
    out.args = raw.args as string[];
  }
  if (raw.readyTimeout !== undefined) out.readyTimeout = num(raw, 'readyTimeout', p, undefined, positive);
  if (raw.stallTimeout !== undefined) out.stallTimeout = num(raw, 'stallTimeout', p, undefined, positive);
  return Object.keys(out).length > 0 ? out : undefined;
}

/** SAG settings of `alignment.sag`; absent or empty → undefined (stored only when set, so ids stay stable). */
function parseSag(raw: Raw): SagSettings | undefined {
  rejectUnknown(raw, KNOWN.sag, 'alignment.sag.');
  const p = 'alignment.sag.';
  const sag: SagSettings = {};
  if (raw.batchSize !== undefined) sag.batchSize = num(raw, 'batchSize', p, undefined, positiveInt);
  if (raw.maxEpochs !== undefined) sag.maxEpochs = num(raw, 'maxEpochs', p, undefined, nonNegativeInt);
  if (raw.tolerance !== undefined) sag.tolerance = num(raw, 'tolerance', p, undefined, nonNegative);
  if (raw.gradientTolerance !== undefined) sag.gradientTolerance = num(raw, 'gradientTolerance', p, undefined, nonNegative);
  if (raw.lambda !== undefined) sag.lambda = num(raw, 'lambda', p, undefined, nonNegative);
  return Object.keys(sag).length > 0 ? sag : undefined;
}

export const MPI_EXECUTORS: readonly MpiExecutor[] = ['local', 'slurm'];

/**
 * A Slurm time limit in seconds, from sbatch's formats (sbatch(1) --time): "minutes", "minutes:seconds",
 * "hours:minutes:seconds", "days-hours", "days-hours:minutes", "days-hours:minutes:seconds"; null if `text` is
 * none of them. Slurm keeps limits in whole minutes, rounding seconds up.
 */
export function slurmTimeSeconds(text: string): number | null {
  const days = /^(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(text);
  if (days) {
    const [d, h, m, sec] = days.slice(1).map((x) => Number(x ?? 0));
    return ((d * 24 + h) * 60 + m) * 60 + sec;
  }
  const parts = /^\d+(:\d+){0,2}$/.test(text) ? text.split(':').map(Number) : null;
  if (!parts) return null;
  if (parts.length === 1) return parts[0] * 60;
  if (parts.length === 2) return parts[0] * 60 + parts[1];
  return (parts[0] * 60 + parts[1]) * 60 + parts[2];
}

/**
 * sbatch options that subtomo sets itself (the job is found again by its name, followed through its output
 * files, sized by the rank count) or that have a field of their own: refused in `extraArgs`.
 */
const SLURM_OWN_OPTIONS: Readonly<Record<string, string>> = (() => {
  const field = (name: string, flag: string) => `set it with ${name} (alignment.slurm.${name}, --slurm-${flag})`;
  const reasons: [string[], string][] = [
    [['--job-name', '-J'], 'subtomo names the job after its step, to find it again'],
    [['--output', '-o', '--error', '-e'], 'subtomo follows the job through output files of its own'],
    [['--ntasks', '-n'], 'the task count is the MPI rank count'],
    [['--chdir', '-D'], 'subtomo sets the working directory'],
    [['--array', '-a', '--wrap'], 'an MPI step is one job of the batch script subtomo writes'],
    [['--parsable'], 'subtomo reads the job id itself'],
    [['--partition', '-p'], field('partition', 'partition')],
    [['--account', '-A'], field('account', 'account')],
    [['--nodes', '-N'], field('nodes', 'nodes')],
    [['--ntasks-per-node'], field('ntasksPerNode', 'ntasks-per-node')],
    [['--cpus-per-task', '-c'], field('cpusPerTask', 'cpus-per-task')],
    [['--time', '-t'], field('time', 'time')],
    [['--mem'], field('mem', 'mem')],
    [['--qos', '-q'], field('qos', 'qos')],
  ];
  return Object.fromEntries(reasons.flatMap(([options, why]) => options.map((o) => [o, why])));
})();

/** Names of partitions, accounts and QOS: written into `#SBATCH` lines, so no blanks or quotes. */
const SLURM_NAME = /^[A-Za-z0-9_.@+-]+$/;

/**
 * Why the Slurm settings of a job of `np` ranks cannot be submitted, naming the field; null when they can. One
 * home for the rules of `alignment.slurm` (config) and the `--slurm-*` flags (cli/mpiOptions.ts).
 */
export function slurmSettingsProblem(s: SlurmSettings, np: number): { field: keyof SlurmSettings; message: string } | null {
  const problem = (field: keyof SlurmSettings, message: string) => ({ field, message });
  if (s.partition !== undefined && !s.partition.split(',').every((p) => SLURM_NAME.test(p))) {
    return problem('partition', `must be a partition name or a comma-separated list of them, got '${s.partition}'`);
  }
  for (const field of ['account', 'qos'] as const) {
    const v = s[field];
    if (v !== undefined && !SLURM_NAME.test(v)) return problem(field, `must be a name (letters, digits, '_', '.', '-', '@', '+'), got '${v}'`);
  }
  for (const field of ['nodes', 'ntasksPerNode', 'cpusPerTask'] as const) {
    const v = s[field];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= MAX_RANKS)) return problem(field, `must be an integer from 1 to ${MAX_RANKS}, got ${v}`);
  }
  if (s.nodes !== undefined && s.nodes > np) return problem('nodes', `asks for ${s.nodes} nodes for ${np} MPI ranks; Slurm refuses more nodes than tasks`);
  if (s.nodes !== undefined && s.ntasksPerNode !== undefined && s.nodes * s.ntasksPerNode < np) {
    return problem('ntasksPerNode', `${s.nodes} nodes × ${s.ntasksPerNode} tasks per node hold fewer than the ${np} MPI ranks`);
  }
  if (s.time !== undefined && !((slurmTimeSeconds(s.time) ?? 0) > 0)) {
    return problem('time', `must be a time limit in sbatch's formats — minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. 2:00:00) — above zero, got '${s.time}'`);
  }
  if (s.mem !== undefined && !/^\d+[KMGT]?$/i.test(s.mem)) {
    return problem('mem', `must be memory per node in sbatch's format: megabytes, or a number with K, M, G or T (e.g. 16G), got '${s.mem}'`);
  }
  for (const arg of s.extraArgs ?? []) {
    if (!/^-/.test(arg)) return problem('extraArgs', `holds sbatch options, one argument each (e.g. --constraint=avx2), got '${arg}'`);
    const own = SLURM_OWN_OPTIONS[arg.replace(/=.*$/, '')] ?? (/^-[A-Za-z]./.test(arg) ? SLURM_OWN_OPTIONS[arg.slice(0, 2)] : undefined);
    if (own) return problem('extraArgs', `'${arg}' is not allowed here: ${own}`);
  }
  return null;
}

/** `alignment.slurm` (validated against the rank count); absent or empty → undefined. */
function parseSlurm(raw: Raw, np: number): SlurmSettings | undefined {
  rejectUnknown(raw, KNOWN.slurm, 'alignment.slurm.');
  const p = 'alignment.slurm.';
  const out: SlurmSettings = {};
  for (const field of ['partition', 'account', 'qos'] as const) if (raw[field] !== undefined) out[field] = str(raw, field, p);
  for (const field of ['nodes', 'ntasksPerNode', 'cpusPerTask'] as const) {
    if (raw[field] !== undefined) out[field] = num(raw, field, p, undefined, positiveInt);
  }
  // YAML reads `time: 90` and `mem: 4096` as numbers: minutes and megabytes, as sbatch reads them.
  for (const field of ['time', 'mem'] as const) {
    const v = raw[field];
    if (v === undefined) continue;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) out[field] = String(v);
    else out[field] = str(raw, field, p);
  }
  if (raw.extraArgs !== undefined) {
    if (!Array.isArray(raw.extraArgs) || raw.extraArgs.some((a) => typeof a !== 'string')) {
      throw new ConfigError(`${p}extraArgs`, 'must be a list of sbatch options, one argument each');
    }
    out.extraArgs = raw.extraArgs as string[];
  }
  const problem = slurmSettingsProblem(out, np);
  if (problem) throw new ConfigError(`${p}${problem.field}`, problem.message);
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * `alignment.executor` and `alignment.slurm` into `config.alignment` (stored only for Slurm, so configs without
 * them keep their content hash and their workflow ids), with what the Slurm executor cannot honour refused.
 */
function parseExecutor(alignment: Raw, config: CampaignConfig): void {
  const p = 'alignment.';
  const executor = str(alignment, 'executor', p, 'local');
  if (!MPI_EXECUTORS.includes(executor as MpiExecutor)) {
    throw new ConfigError(`${p}executor`, `must be one of ${MPI_EXECUTORS.join(', ')}, got '${executor}'`);
  }
  if (executor !== 'slurm') {
    if (alignment.slurm !== undefined) throw new ConfigError(`${p}slurm`, 'holds sbatch options: it needs alignment.executor: slurm');
    return;
  }
  if (config.alignment.hostfile !== undefined) {
    throw new ConfigError(`${p}hostfile`, 'is for mpirun on this host; with executor: slurm, Slurm places the ranks (alignment.slurm.nodes, ntasksPerNode)');
  }
  if (config.alignment.mpi?.args !== undefined) {
    throw new ConfigError(`${p}mpi.args`, 'are mpirun arguments; with executor: slurm srun starts the ranks: put sbatch options in alignment.slurm.extraArgs');
  }
  config.alignment.executor = 'slurm';
  const slurm = parseSlurm(obj(alignment, 'slurm', p), config.alignment.mpiRanks);
  if (slurm) config.alignment.slurm = slurm;
}

/** `classification:` validated; only the fields given are stored (the defaults apply where it runs). */
function parseClassification(raw: Raw): ClassificationConfig {
  rejectUnknown(raw, KNOWN.classification, 'classification.');
  const p = 'classification.';
  const out: ClassificationConfig = {
    classes: num(raw, 'classes', p, undefined, (x) => (Number.isInteger(x) && x >= 1 && x <= 100 ? null : 'must be an integer from 1 to 100')),
    iterations: num(raw, 'iterations', p, CLASSIFY_DEFAULTS.iterations, positiveInt),
  };
  if (raw.minClassSize !== undefined) {
    out.minClassSize = num(raw, 'minClassSize', p, undefined, (x) => (Number.isInteger(x) && x >= 2 ? null : 'must be an integer ≥ 2 (a particle per half-set)'));
  }
  if (raw.temperature !== undefined) out.temperature = num(raw, 'temperature', p, undefined, nonNegative);
  if (raw.cooling !== undefined) out.cooling = num(raw, 'cooling', p, undefined, (x) => (x > 0 && x <= 1 ? null : 'must be in (0, 1]'));
  if (raw.stopChanged !== undefined) out.stopChanged = num(raw, 'stopChanged', p, undefined, (x) => (x >= 0 && x < 1 ? null : 'must be in [0, 1)'));
  if (raw.initialLowpass !== undefined) out.initialLowpass = num(raw, 'initialLowpass', p, undefined, positive);
  if (raw.lowpass !== undefined) out.lowpass = num(raw, 'lowpass', p, undefined, positive);
  if (raw.merge === false) out.merge = false;
  else if (raw.merge !== undefined) out.merge = num(raw, 'merge', p, undefined, (x) => (x > 0 ? null : 'must be a positive similarity (1 = one structure) or false'));
  if (raw.refine !== undefined) {
    if (typeof raw.refine !== 'boolean') throw new ConfigError(`${p}refine`, `must be true or false, got ${JSON.stringify(raw.refine)}`);
    // stored only when false: the default keeps existing configs' content hash
    if (!raw.refine) out.refine = false;
  }
  return out;
}

/** The MPI job of a validated alignment section (drivers/execution.ts): local mpirun, or a Slurm job. */
export function mpiRanksOf(alignment: CampaignConfig['alignment']): MpiRanks {
  const { mpiRanks, hostfile, mpi, executor, slurm } = alignment;
  return {
    np: mpiRanks,
    ...(hostfile !== undefined && { hostfile }),
    ...(mpi?.mca && { mca: mpi.mca }),
    ...(mpi?.args && { args: mpi.args }),
    ...(mpi?.readyTimeout !== undefined && { readyTimeoutSeconds: mpi.readyTimeout }),
    ...(mpi?.stallTimeout !== undefined && { stallTimeoutSeconds: mpi.stallTimeout }),
    ...(executor === 'slurm' && { executor, slurm: slurm ?? {} }),
  };
}

/** How campaign and pipeline steps retry: bad input never, anything else a few times with backoff. */
export const STEP_RETRY = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 5,
  nonRetryableErrorTypes: ['InvalidInput'],
};

/** The campaign's alignment/FSC mask for particles of a `boxSize`³ box: the config's, else the default radius. */
export function campaignMask(config: Pick<CampaignConfig, 'mask'>, boxSize: number): { radius: number; edge: number } {
  const { radius, edge } = config.mask;
  return { radius: radius ?? defaultMaskRadius(boxSize, edge), edge };
}

/**
 * What the workflow checks on top of validateConfig: the paths a worker will use must be absolute (the CLI
 * resolves them against the config file; any other client must too), or they would land in the worker's
 * working directory.
 */
export function assertAbsolutePaths(config: CampaignConfig): void {
  const paths: [string, string | undefined][] = [
    ['workdir', config.workdir],
    ['data.star', config.data.kind === 'star' ? config.data.star : undefined],
    ...(config.data.kind === 'simulate' ? modelsOf(config.data).map((m): [string, string | undefined] => ['data.pdb', m.pdb]) : []),
    ['alignment.hostfile', config.alignment.hostfile],
    ['reference', config.reference],
    ...(config.data.kind === 'star' ? (config.data.tomograms ?? []).map((t): [string, string] => ['data.tomograms', t]) : []),
  ];
  for (const [field, path] of paths) {
    if (path !== undefined && !path.startsWith('/')) throw new ConfigError(field, `must be an absolute path when a campaign starts, got '${path}'`);
  }
}

function parseStarData(data: Raw): StarData {
  rejectUnknown(data, KNOWN.star, 'data.');
  const p = 'data.';
  const out: StarData = { kind: 'star', star: str(data, 'star', p) };
  if (data.tomograms !== undefined) {
    const list = typeof data.tomograms === 'string' ? [data.tomograms] : data.tomograms;
    if (!Array.isArray(list) || list.length === 0 || list.some((t) => typeof t !== 'string' || t === '')) {
      throw new ConfigError('data.tomograms', 'must be a file (tomograms.star or a Dynamo .vll) or a list of them');
    }
    out.tomograms = list as string[];
  }
  if (data.tiltRange !== undefined) {
    const t = data.tiltRange;
    if (!Array.isArray(t) || t.length !== 2 || t.some((a) => typeof a !== 'number' || Math.abs(a) > 90) || t[0] > t[1]) {
      throw new ConfigError('data.tiltRange', `must be [min, max] in degrees within ±90 with min ≤ max, e.g. [-60, 60], got ${JSON.stringify(t)}`);
    }
    out.tiltRange = [t[0], t[1]];
  }
  if (data.pixelSize !== undefined) out.pixelSize = num(data, 'pixelSize', p, undefined, positive);
  if (data.classNumber !== undefined) out.classNumber = num(data, 'classNumber', p, undefined, nonNegativeInt);
  if (data.extract !== undefined) {
    const e = obj(data, 'extract', p);
    rejectUnknown(e, KNOWN.extract, 'data.extract.');
    out.extract = {
      box: num(e, 'box', 'data.extract.', undefined, (x) => (Number.isInteger(x) && x >= 8 && x <= MAX_BOX && x % 2 === 0 ? null : `must be an even integer from 8 to ${MAX_BOX}`)),
      binning: num(e, 'binning', 'data.extract.', 1, positiveInt),
    };
  }
  return out;
}

/** Validates a parsed YAML/JSON object; every problem names the field it is about. */
export function validateConfig(input: unknown): CampaignConfig {
  if (!isObject(input)) throw new ConfigError('(root)', 'the config must be a mapping of fields');
  rejectUnknown(input, KNOWN.top, '');
  const data = parseData(input);
  const alignment = obj(input, 'alignment', '');
  rejectUnknown(alignment, KNOWN.alignment, 'alignment.');
  const method = str(alignment, 'method', 'alignment.', ALIGNMENT_DEFAULTS.method);
  if (!ALIGN_METHODS.includes(method as AlignMethod)) {
    throw new ConfigError('alignment.method', `must be one of ${ALIGN_METHODS.join(', ')}, got '${method}'`);
  }
  const mask = obj(input, 'mask', '');
  rejectUnknown(mask, KNOWN.mask, 'mask.');
  const size = data.kind === 'simulate' ? data.size : undefined;
  const config: CampaignConfig = {
    name: str(input, 'name', '', 'campaign'),
    workdir: str(input, 'workdir', ''),
    data,
    maxIterations: num(input, 'maxIterations', '', 3, positiveInt),
    patience: num(input, 'patience', '', 3, positiveInt),
    alignment: {
      method: method as AlignMethod,
      candidates: num(alignment, 'candidates', 'alignment.', ALIGNMENT_DEFAULTS.candidates, positiveInt),
      bandwidth: num(alignment, 'bandwidth', 'alignment.', ALIGNMENT_DEFAULTS.bandwidth, (x) => (Number.isInteger(x) && x >= 4 && x <= 64 ? null : 'must be an integer in [4, 64]')),
      maxShift: num(alignment, 'maxShift', 'alignment.', ALIGNMENT_DEFAULTS.maxShift, nonNegative),
      mpiRanks: num(alignment, 'mpiRanks', 'alignment.', 2, (x) => (Number.isInteger(x) && x >= 1 && x <= MAX_RANKS ? null : `must be an integer from 1 to ${MAX_RANKS}`)),
    },
    mask: { edge: num(mask, 'edge', 'mask.', ALIGNMENT_DEFAULTS.maskEdge, nonNegative) },
    initialLowpass: num(input, 'initialLowpass', '', 60, positive),
    initialPoses: str(input, 'initialPoses', '', 'random') as InitialPoses,
    seed: num(input, 'seed', '', 1, (x) => (Number.isInteger(x) && x >= 0 && x <= 0xffffffff ? null : 'must be an integer in [0, 2³²)')),
  };
  if (!INITIAL_POSES.includes(config.initialPoses)) {
    throw new ConfigError('initialPoses', `must be one of ${INITIAL_POSES.join(', ')}, got '${config.initialPoses}'`);
  }
  if (config.initialPoses === 'star' && data.kind !== 'star') {
    throw new ConfigError('initialPoses', "'star' takes the poses of your particle list: give data.star (a simulated set starts reference-free)");
  }
  if (alignment.angularRange !== undefined) {
    if (config.initialPoses !== 'star') throw new ConfigError('alignment.angularRange', "refines locally around known poses: it needs initialPoses: star");
    config.alignment.angularRange = num(alignment, 'angularRange', 'alignment.', undefined, (x) => (x > 0 && x <= 180 ? null : 'must be in (0, 180] degrees'));
  }
  if (input.reference !== undefined) config.reference = str(input, 'reference', '');
  if (input.classification !== undefined) config.classification = parseClassification(obj(input, 'classification', ''));
  if (input.ctf !== undefined) {
    if (typeof input.ctf !== 'boolean') throw new ConfigError('ctf', `must be true or false, got ${JSON.stringify(input.ctf)}`);
    // Stored only when false: the default keeps existing configs' content hash.
    if (!input.ctf) config.ctf = false;
  }
  if (input.symmetry !== undefined) {
    let group;
    try {
      group = parseSymmetryName(str(input, 'symmetry', ''));
    } catch (err) {
      throw new ConfigError('symmetry', (err as Error).message);
    }
    // Stored only when it does something, so C1 configs keep their content hash (and workflow ids).
    if (group.order > 1) config.symmetry = group.name;
  }
  // Without data.size (particles from a STAR file) the default radius waits for their box: the workflow applies it.
  if (mask.radius !== undefined || size !== undefined) {
    const radius = num(mask, 'radius', 'mask.', size === undefined ? undefined : defaultMaskRadius(size, config.mask.edge), positive);
    if (size !== undefined && radius > size / 2) throw new ConfigError('mask.radius', `must fit in the ${size}³ box (≤ ${size / 2} voxels), got ${radius}`);
    config.mask = { radius, edge: config.mask.edge };
  }
  const sag = parseSag(obj(alignment, 'sag', 'alignment.'));
  if (sag) config.alignment.sag = sag;
  if (alignment.hostfile !== undefined) config.alignment.hostfile = str(alignment, 'hostfile', 'alignment.');
  const mpi = parseMpi(obj(alignment, 'mpi', 'alignment.'));
  if (mpi) config.alignment.mpi = mpi;
  parseExecutor(alignment, config);
  const register = input.registerHalves;
  if (register !== undefined && typeof register !== 'boolean') {
    throw new ConfigError('registerHalves', `must be true or false, got ${JSON.stringify(register)}`);
  }
  // Stored only when on, so configs without it keep their content hash (and their workflow ids).
  if (register) config.registerHalves = true;
  if (!SAFE_NAME.test(config.name)) {
    throw new ConfigError('name', `must start with a letter or digit and contain only letters, digits, '.', '_' and '-' (it names files), got '${config.name}'`);
  }
  return config;
}
