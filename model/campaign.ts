/**
 * Campaign configuration: its shape, defaults and validation. Pure (no I/O) so the CLI validates before
 * anything starts and the workflow can re-check what it is given. A validated config is plain JSON data
 * (it travels in Temporal payloads) and validating it again returns it unchanged. Defaults shared with the
 * CLI come from model/defaults.ts; those below are the campaign's own.
 */
import { ALIGNMENT_DEFAULTS, MAX_BOX, SIMULATION_DEFAULTS, defaultMaskRadius } from './defaults.ts';
import type { SagSettings } from './jobs.ts';
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
  /** Atomic model (PDB/mmCIF); absent → the built-in GroEL-like phantom. */
  pdb?: string;
  resolution: number;
  maxShift: number;
  /** CTF underfocus in µm (the design's default is 6 µm: first CTF zero near 34 Å). */
  defocus: number;
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
  top: ['name', 'workdir', 'data', 'maxIterations', 'patience', 'alignment', 'mask', 'initialLowpass', 'initialPoses', 'reference', 'symmetry', 'seed', 'registerHalves'],
  simulate: ['kind', 'simulate', 'particles', 'size', 'voxel', 'snr', 'tilt', 'tiltMin', 'tiltMax', 'tiltStep', 'seed', 'pdb', 'resolution', 'maxShift', 'defocus'],
  star: ['kind', 'star', 'tomograms', 'tiltRange', 'pixelSize', 'classNumber', 'extract'],
  extract: ['box', 'binning'],
  alignment: ['method', 'candidates', 'bandwidth', 'maxShift', 'angularRange', 'sag', 'mpiRanks', 'hostfile', 'mpi'],
  mpi: ['mca', 'args', 'readyTimeout', 'stallTimeout'],
  sag: ['batchSize', 'maxEpochs', 'tolerance', 'lambda'],
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
    defocus: num(data, 'defocus', p, SIMULATION_DEFAULTS.defocusMicron, positive),
  };
  if (data.pdb !== undefined) out.pdb = str(data, 'pdb', p);
  return out;
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
  if (raw.lambda !== undefined) sag.lambda = num(raw, 'lambda', p, undefined, nonNegative);
  return Object.keys(sag).length > 0 ? sag : undefined;
}

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
    ['data.pdb', config.data.kind === 'simulate' ? config.data.pdb : undefined],
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
