/**
 * The node types of a pipeline (docs/pipelines.md): what each takes (typed input ports), what it gives (typed
 * outputs) and how its params are validated and filled with defaults. Pure, so the CLI checks a pipeline
 * before anything starts and the workflow checks it again; workflows/pipelineSteps.ts holds what each type
 * runs. A new node type is an entry here and a runner there (the compiler asks for both).
 *
 * The settings a node shares with campaigns (data, alignment, mask, symmetry, seed) are validated as the
 * matching section of a campaign config (model/campaign.ts), the one home of their checks and defaults, so a
 * node and a campaign with the same settings do the same thing and share cached steps.
 */
import {
  ConfigError,
  SAFE_NAME,
  mpiRanksOf,
  validateConfig,
  type CampaignConfig,
  type ClassificationConfig,
  type SimulatedData,
  type StarData,
} from './campaign.ts';
import { POSTPROCESS_DEFAULTS } from './defaults.ts';
import type { MpiRanks } from './jobs.ts';
import { parseSymmetryName } from './symmetry.ts';

/** What flows along an edge of the DAG; an input port accepts one type. */
export const DATA_TYPES = {
  particles: 'a particle set split into gold-standard half-sets (simulate, load, extract)',
  map: 'a map (MRC), e.g. a reference',
  halfMaps: 'odd and even half maps and their combined map (average, campaign)',
  alignment: 'a pose per particle (align)',
  fsc: 'a gold-standard FSC curve and its resolutions (fsc, campaign)',
  postprocess: 'a sharpened map with its FSC, Guinier plot and RELION postprocess.star (postprocess)',
  campaign: 'the summary of a campaign (campaign)',
  table: 'a comparison table, one row per member of a sweep (a node with a matrix)',
  classes: 'class maps, sizes, resolutions and the assignment of each particle (classify)',
  file: 'a file written by an activity node',
} as const;

export type DataType = keyof typeof DATA_TYPES;

/** A problem with one field of a node (`params.method`, `inputs.reference`, `matrix`…), relative to the node. */
export class NodeFieldError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'NodeFieldError';
  }
}

export interface PortSpec {
  type: DataType;
  optional?: boolean;
  doc: string;
}

export type Raw = Record<string, unknown>;

export interface NodeTypeSpec<P = unknown> {
  summary: string;
  inputs: Readonly<Record<string, PortSpec>>;
  outputs: Readonly<Record<string, DataType>>;
  /**
   * The params validated and normalised (defaults filled); `connected` are the input ports given. A problem
   * throws a NodeFieldError naming the field.
   */
  params(raw: Raw, connected: ReadonlySet<string>): P;
  /** Dotted fields of the raw params that hold file paths: resolved against the pipeline file by the loader. */
  paths: readonly string[];
  /** `campaign`: the node is a campaign workflow; `activities`: subtomo activities the pipeline calls. */
  runs: 'activities' | 'campaign';
}

// ------------------------------------------------------------------------------------------ param checks

/** The campaign validator's message without its `config field '…':` prefix, and the field it named. */
function configProblem(err: ConfigError): { field: string; message: string } {
  const prefix = `config field '${err.field}': `;
  return { field: err.field, message: err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message };
}

/**
 * Validates `config` as a campaign config; a problem becomes a NodeFieldError on the node field that
 * `fieldOf` maps the campaign field to.
 */
function asCampaign(config: Raw, fieldOf: (campaignField: string) => string): CampaignConfig {
  try {
    return validateConfig(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const { field, message } = configProblem(err);
    throw new NodeFieldError(fieldOf(field), message);
  }
}

/** Refuses params fields the node type does not know, listing the ones it does. */
function rejectUnknown(raw: Raw, known: readonly string[]): void {
  for (const k of Object.keys(raw)) {
    if (!known.includes(k)) throw new NodeFieldError(`params.${k}`, `is not a known field (known: ${known.join(', ')})`);
  }
}

/** A campaign field moved under the node's params: `data.size` → `params.size` for `data.`, else `params.<field>`. */
const underParams = (strip: string) => (field: string) => `params.${field.startsWith(strip) ? field.slice(strip.length) : field}`;

/** Settings a campaign would need but a single step does not: stand-ins that satisfy the campaign validator. */
const STEP_ONLY = { workdir: '/', name: 'step' } as const;

/** A user's list standing in for data in configs validated only for their alignment, mask or symmetry sections. */
const ANY_LIST = { star: '/' } as const;

function symmetryOf(raw: Raw): string | undefined {
  if (raw.symmetry === undefined) return undefined;
  if (typeof raw.symmetry !== 'string') throw new NodeFieldError('params.symmetry', `must be C1, Cn or Dn, got ${JSON.stringify(raw.symmetry)}`);
  try {
    const group = parseSymmetryName(raw.symmetry);
    return group.order > 1 ? group.name : undefined;
  } catch (err) {
    throw new NodeFieldError('params.symmetry', (err as Error).message);
  }
}

function optionalNumber(raw: Raw, key: string, check: (x: number) => boolean, rule: string): number | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) throw new NodeFieldError(`params.${key}`, `must be ${rule}, got ${JSON.stringify(v)}`);
  return v;
}

// ------------------------------------------------------------------------------------------ node types

export interface SimulateParams {
  data: SimulatedData;
}

export interface ListParams {
  data: StarData;
}

export interface AlignParams {
  alignment: CampaignConfig['alignment'];
  mpi: MpiRanks;
  /** Radius absent: the default of the particles' box (model/defaults.ts). */
  mask: CampaignConfig['mask'];
  symmetry?: string;
  seed: number;
  /** The reference is low-passed to this resolution (Å) first; the refinement runs binned to the box that holds it. */
  lowpass: number;
}

export interface AverageParams {
  mpi: MpiRanks;
  symmetry?: string;
}

export interface FscParams {
  mask: CampaignConfig['mask'];
}

export interface PostprocessParams {
  /** A mask file (MRC or EM, values in [0, 1]): the FSC is then mask-corrected (core/postprocess.ts). */
  mask?: string;
  symmetry?: string;
  /** B-factor in Å² (negative sharpens) or fitted to the Guinier plot. */
  bfactor: number | 'auto';
  fitFrom?: number;
  fitTo?: number;
  seed: number;
  /** Å; absent: where the unmasked FSC drops below 0.8 (RELION). */
  randomiseFrom?: number;
}

export interface ClassifyParams {
  /** The campaign sections the classification uses (validated as a campaign's: model/campaign.ts). */
  config: Pick<CampaignConfig, 'alignment' | 'symmetry' | 'seed'> & { classification: ClassificationConfig };
  mpi: MpiRanks;
  /** Radius absent: the default of the particles' box. */
  mask: CampaignConfig['mask'];
}

export interface CampaignParams {
  /** Prefix of the campaign's name (default `<pipeline>-<node>`); a sweep member appends its matrix values. */
  name?: string;
  config: Omit<CampaignConfig, 'name' | 'workdir'>;
}

const SIMULATE_FIELDS = ['particles', 'size', 'voxel', 'snr', 'tilt', 'tiltMin', 'tiltMax', 'tiltStep', 'seed', 'pdb', 'fractions', 'assembly', 'resolution', 'maxShift',
  'defocus', 'astigmatism', 'dose', 'specimen', 'particlesPerTomogram'];
const LIST_FIELDS = ['star', 'tomograms', 'tiltRange', 'pixelSize', 'classNumber'];
const MPI_FIELDS = ['mpiRanks', 'hostfile', 'mpi', 'executor', 'slurm'];
const ALIGNMENT_FIELDS = ['method', 'candidates', 'bandwidth', 'maxShift', 'angularRange', 'sag', ...MPI_FIELDS];
const CLASSIFICATION_FIELDS = ['classes', 'iterations', 'minClassSize', 'temperature', 'cooling', 'stopChanged', 'initialLowpass', 'lowpass', 'merge', 'refine'];

/** Picks `keys` of `raw` that are set. */
function pick(raw: Raw, keys: readonly string[]): Raw {
  return Object.fromEntries(keys.filter((k) => raw[k] !== undefined).map((k) => [k, raw[k]]));
}

const simulate = {
  summary: 'simulate subtomograms of a model (or the built-in GroEL-like phantom) with known poses',
  inputs: {},
  outputs: { particles: 'particles', reference: 'map' },
  params(raw) {
    rejectUnknown(raw, SIMULATE_FIELDS);
    const config = asCampaign({ ...STEP_ONLY, data: { kind: 'simulate', ...raw } }, underParams('data.'));
    return { data: config.data as SimulatedData };
  },
  paths: ['pdb'],
  runs: 'activities',
} satisfies NodeTypeSpec<SimulateParams>;

const load = {
  summary: 'read your particles: a RELION 4/5 or Warp STAR, or a Dynamo table, with their subtomograms',
  inputs: {},
  outputs: { particles: 'particles' },
  params(raw) {
    rejectUnknown(raw, LIST_FIELDS);
    const config = asCampaign({ ...STEP_ONLY, data: { kind: 'star', ...raw } }, underParams('data.'));
    return { data: config.data as StarData };
  },
  paths: ['star', 'tomograms'],
  runs: 'activities',
} satisfies NodeTypeSpec<ListParams>;

const extract = {
  summary: 'cut the particles of a list out of their tomograms (RELION 5, Warp, Dynamo .tbl + .vll)',
  inputs: {},
  outputs: { particles: 'particles' },
  params(raw) {
    rejectUnknown(raw, [...LIST_FIELDS, 'box', 'binning']);
    if (raw.box === undefined) throw new NodeFieldError('params.box', 'is required: the box of the extracted subtomograms, in voxels');
    const data = { kind: 'star', ...pick(raw, LIST_FIELDS), extract: pick(raw, ['box', 'binning']) };
    const config = asCampaign({ ...STEP_ONLY, data }, (f) => `params.${f.replace(/^data\.(extract\.)?/, '')}`);
    return { data: config.data as StarData };
  },
  paths: ['star', 'tomograms'],
  runs: 'activities',
} satisfies NodeTypeSpec<ListParams>;

export interface MapParams {
  path: string;
}

const map = {
  summary: 'a map file of yours (MRC, or EM in the particles\' voxel size), e.g. a reference: copied into the artifact store',
  inputs: {},
  outputs: { map: 'map' },
  params(raw) {
    rejectUnknown(raw, ['path']);
    if (typeof raw.path !== 'string' || raw.path === '') throw new NodeFieldError('params.path', 'is required: the map file');
    return { path: raw.path };
  },
  paths: ['path'],
  runs: 'activities',
} satisfies NodeTypeSpec<MapParams>;

const align = {
  summary: "align particles to a reference: FRM candidates, then SAG/LM/Chen refinement on MPI ranks (the paper's Algorithm 3)",
  inputs: {
    particles: { type: 'particles', doc: 'the particles to align' },
    reference: { type: 'map', doc: 'the reference (resampled to the particles, low-passed to params.lowpass, masked)' },
    priors: { type: 'alignment', optional: true, doc: 'poses to refine around (with params.angularRange)' },
  },
  outputs: { alignment: 'alignment' },
  params(raw, connected) {
    rejectUnknown(raw, [...ALIGNMENT_FIELDS, 'mask', 'symmetry', 'seed', 'lowpass']);
    if (raw.angularRange !== undefined && !connected.has('priors')) {
      throw new NodeFieldError('params.angularRange', "refines around known poses: connect the input 'priors' (an alignment)");
    }
    // As a campaign starting from the list's poses, so that angularRange (a local search) is allowed.
    const config = asCampaign({
      ...STEP_ONLY, data: ANY_LIST, initialPoses: 'star', alignment: pick(raw, ALIGNMENT_FIELDS),
      ...pick(raw, ['mask', 'symmetry', 'seed']), ...(raw.lowpass !== undefined && { initialLowpass: raw.lowpass }),
    }, (f) => (f === 'initialLowpass' ? 'params.lowpass' : underParams('alignment.')(f)));
    return {
      alignment: config.alignment, mpi: mpiRanksOf(config.alignment), mask: config.mask, seed: config.seed, lowpass: config.initialLowpass,
      ...(config.symmetry && { symmetry: config.symmetry }),
    };
  },
  paths: ['hostfile'],
  runs: 'activities',
} satisfies NodeTypeSpec<AlignParams>;

const average = {
  summary: 'average aligned particles into odd/even half maps and their combined map, on MPI ranks',
  inputs: {
    particles: { type: 'particles', doc: 'the particles (their half-sets are kept)' },
    alignment: { type: 'alignment', doc: 'a pose per particle' },
  },
  outputs: { halfMaps: 'halfMaps', map: 'map' },
  params(raw) {
    rejectUnknown(raw, [...MPI_FIELDS, 'symmetry']);
    const config = asCampaign({ ...STEP_ONLY, data: ANY_LIST, alignment: pick(raw, MPI_FIELDS) }, underParams('alignment.'));
    const symmetry = symmetryOf(raw);
    return { mpi: mpiRanksOf(config.alignment), ...(symmetry && { symmetry }) };
  },
  paths: ['hostfile'],
  runs: 'activities',
} satisfies NodeTypeSpec<AverageParams>;

const fsc = {
  summary: 'gold-standard FSC of two half maps inside a soft sphere mask; resolution at 0.143 and 0.5',
  inputs: { halfMaps: { type: 'halfMaps', doc: 'the half maps' } },
  outputs: { fsc: 'fsc' },
  params(raw) {
    rejectUnknown(raw, ['mask']);
    const config = asCampaign({ ...STEP_ONLY, data: ANY_LIST, ...pick(raw, ['mask']) }, underParams(''));
    return { mask: config.mask };
  },
  paths: [],
  runs: 'activities',
} satisfies NodeTypeSpec<FscParams>;

const postprocess = {
  summary: 'sharpen the half maps as RELION does: (mask-corrected) FSC, B-factor, FSC weighting, low-pass at the resolution',
  inputs: { halfMaps: { type: 'halfMaps', doc: 'the half maps' } },
  outputs: { postprocess: 'postprocess', map: 'map' },
  params(raw) {
    rejectUnknown(raw, ['mask', 'symmetry', 'bfactor', 'fitFrom', 'fitTo', 'seed', 'randomiseFrom']);
    if (raw.mask !== undefined && (typeof raw.mask !== 'string' || raw.mask === '')) throw new NodeFieldError('params.mask', 'must be the path of a mask file');
    const bfactor = raw.bfactor ?? 'auto';
    if (bfactor !== 'auto' && !(typeof bfactor === 'number' && Number.isFinite(bfactor))) {
      throw new NodeFieldError('params.bfactor', `must be 'auto' or a B-factor in Å² (negative sharpens), got ${JSON.stringify(bfactor)}`);
    }
    const fitFrom = optionalNumber(raw, 'fitFrom', (x) => x > 0, 'a positive resolution in Å');
    const fitTo = optionalNumber(raw, 'fitTo', (x) => x > 0, 'a positive resolution in Å');
    if (bfactor !== 'auto' && (fitFrom !== undefined || fitTo !== undefined)) {
      throw new NodeFieldError('params.fitFrom', "sets the Guinier fit of bfactor: auto; it does nothing with a given B-factor");
    }
    if (fitFrom !== undefined && fitTo !== undefined && !(fitFrom > fitTo)) {
      throw new NodeFieldError('params.fitFrom', `must be a coarser resolution (more Å) than fitTo (${fitTo}), got ${fitFrom}`);
    }
    const randomiseFrom = optionalNumber(raw, 'randomiseFrom', (x) => x > 0, 'a positive resolution in Å');
    if (randomiseFrom !== undefined && raw.mask === undefined) throw new NodeFieldError('params.randomiseFrom', 'applies to a masked FSC: give params.mask too');
    const seed = optionalNumber(raw, 'seed', (x) => Number.isInteger(x) && x >= 0, 'an integer ≥ 0') ?? POSTPROCESS_DEFAULTS.seed;
    const symmetry = symmetryOf(raw);
    return {
      bfactor, seed,
      ...(raw.mask !== undefined && { mask: raw.mask as string }),
      ...(symmetry && { symmetry }),
      ...(fitFrom !== undefined && { fitFrom }),
      ...(fitTo !== undefined && { fitTo }),
      ...(randomiseFrom !== undefined && { randomiseFrom }),
    };
  },
  paths: ['mask'],
  runs: 'activities',
} satisfies NodeTypeSpec<PostprocessParams>;

const classify = {
  summary: 'classify aligned particles into K classes by multi-reference alignment (MCO-A), each class averaged per half-set',
  inputs: {
    particles: { type: 'particles', doc: 'the particles (their half-sets are kept)' },
    alignment: { type: 'alignment', doc: 'the poses to start from: K random subsets of each half-set are averaged with them' },
  },
  outputs: { classes: 'classes' },
  params(raw) {
    const alignmentFields = ALIGNMENT_FIELDS.filter((f) => f !== 'angularRange');
    rejectUnknown(raw, [...alignmentFields, ...CLASSIFICATION_FIELDS, 'mask', 'symmetry', 'seed']);
    if (raw.classes === undefined) throw new NodeFieldError('params.classes', 'is required: the number of classes K');
    const config = asCampaign({
      ...STEP_ONLY, data: ANY_LIST, alignment: pick(raw, alignmentFields), classification: pick(raw, CLASSIFICATION_FIELDS),
      ...pick(raw, ['mask', 'symmetry', 'seed']),
    }, (f) => (f.startsWith('classification.') ? `params.${f.slice('classification.'.length)}` : underParams('alignment.')(f)));
    const { alignment, seed, mask } = config;
    return {
      config: { alignment, seed, classification: config.classification!, ...(config.symmetry && { symmetry: config.symmetry }) },
      mpi: mpiRanksOf(alignment),
      mask,
    };
  },
  paths: ['hostfile'],
  runs: 'activities',
} satisfies NodeTypeSpec<ClassifyParams>;

const campaign = {
  summary: 'a reference-free averaging campaign (docs/campaigns.md), run as a child workflow',
  inputs: { reference: { type: 'map', optional: true, doc: "the campaign's starting map (its config field 'reference')" } },
  outputs: { campaign: 'campaign', halfMaps: 'halfMaps', map: 'map', fsc: 'fsc' },
  params(raw, connected) {
    for (const field of ['workdir']) {
      if (raw[field] !== undefined) throw new NodeFieldError(`params.${field}`, "is the pipeline's: a campaign node works in the pipeline's workdir");
    }
    if (raw.reference !== undefined && connected.has('reference')) {
      throw new NodeFieldError('params.reference', "is given twice: by params.reference and by the input 'reference'");
    }
    const { name, ...rest } = raw;
    if (name !== undefined && (typeof name !== 'string' || !SAFE_NAME.test(name))) {
      throw new NodeFieldError('params.name', `must start with a letter or digit and contain only letters, digits, '.', '_' and '-', got ${JSON.stringify(name)}`);
    }
    const { name: _name, workdir: _workdir, ...config } = asCampaign({ ...rest, ...STEP_ONLY }, (f) => `params.${f}`);
    return { ...(name !== undefined && { name: name as string }), config };
  },
  paths: ['data.star', 'data.pdb', 'data.tomograms', 'alignment.hostfile', 'reference'],
  runs: 'campaign',
} satisfies NodeTypeSpec<CampaignParams>;

/** Every node type but `activity` (a user's activity, declared in the pipeline file: model/pipeline.ts). */
export const NODE_TYPES = { simulate, load, extract, map, align, average, fsc, postprocess, classify, campaign } as const;

export type BuiltinNodeType = keyof typeof NODE_TYPES;

/** The params type of each built-in node type, as its spec returns them. */
export type ParamsOf<T extends BuiltinNodeType> = ReturnType<(typeof NODE_TYPES)[T]['params']>;

export function isBuiltinNodeType(type: string): type is BuiltinNodeType {
  return Object.prototype.hasOwnProperty.call(NODE_TYPES, type);
}
