/**
 * Pipelines: a DAG of subtomo steps declared in YAML or JSON (docs/pipelines.md), its validation and its
 * expansion into the plan the `pipeline` workflow runs. Pure and deterministic, so the CLI refuses a broken
 * pipeline before anything starts and the workflow plans the very same nodes from its input.
 *
 * Everything is checked before the first step: the file's shape, unknown node types, inputs that are missing,
 * unknown or of the wrong type, cycles, every node's params (each sweep member's on its own) and names that
 * would collide. Every error names the node (and the field) it is about.
 *
 * A node with a `matrix` is a sweep: one member per combination of the matrix's values, each run as a child
 * workflow, and a fan-in node (with the sweep's name) that collects their results into a comparison table.
 */
import { SAFE_NAME } from './campaign.ts';
import {
  DATA_TYPES,
  NODE_TYPES,
  NodeFieldError,
  isBuiltinNodeType,
  type BuiltinNodeType,
  type CampaignParams,
  type DataType,
  type Raw,
} from './pipelineNodes.ts';

/** A pipeline as written (YAML/JSON parsed), once validated: paths absolute, fields known. */
export interface PipelineSpec {
  name: string;
  /** The artifact store, reports and campaigns of every node. */
  workdir: string;
  /** Directory of the pipeline file: activity nodes resolve their own relative paths against it. */
  baseDir?: string;
  nodes: Record<string, NodeSpec>;
}

export interface NodeSpec {
  type: string;
  /** Input port → `node.output`, or `node` when that node has one output of the port's type. */
  inputs?: Record<string, string>;
  params?: Raw;
  /**
   * Sweep axes: a params path (`alignment.method`) → its values, or an axis name → mappings that each set
   * several params paths at once (`- { name: tilt40, data.tilt: 40, registerHalves: true }`).
   */
  matrix?: Record<string, unknown[]>;
  /** Nodes this one runs after although it takes nothing from them (e.g. not to compete for cores another measures). */
  after?: string[];
  /** A sweep's members running at once (default: all). */
  parallel?: number;
  /** `activity` nodes: the activity a worker registered (workers/subtomo.ts `activities`), its queue and outputs. */
  activity?: string;
  queue?: 'cpu' | 'mpi';
  outputs?: Record<string, DataType>;
}

export type NodeKind = BuiltinNodeType | 'activity' | 'sweep';

export interface InputRef {
  node: string;
  output: string;
  type: DataType;
}

export interface SweepMember {
  /** The sweep (fan-in node) this member belongs to. */
  sweep: string;
  /** `method=sag,tilt=60`: the member's matrix values, for names and tables. */
  label: string;
  /** Axis → the value (or the name of the mapping) this member takes. */
  values: Record<string, string | number | boolean>;
}

export interface PlannedNode {
  /** The node's name; a sweep member's is `<sweep>[<label>]`. */
  name: string;
  type: NodeKind;
  /** Normalised params (model/pipelineNodes.ts); for an activity node, as written. */
  params: unknown;
  inputs: Record<string, InputRef>;
  /** Every node this one waits for: its inputs' nodes, `after`, and for a fan-in its members. */
  deps: string[];
  outputs: Record<string, DataType>;
  member?: SweepMember;
  /** For a fan-in node: its members (in matrix order), axes and how many run at once. */
  sweep?: { members: string[]; axes: string[]; parallel: number };
  activity?: { name: string; queue: 'cpu' | 'mpi' };
  /** For a campaign node: the campaign's name (unique in the workdir: it names its report directory). */
  campaignName?: string;
}

export interface PipelinePlan {
  name: string;
  workdir: string;
  baseDir?: string;
  /** In an order where every node comes after the nodes it waits for. */
  nodes: PlannedNode[];
}

/** A pipeline problem, naming the node (and field) it is about. */
export class PipelineError extends Error {
  constructor(readonly node: string | null, readonly field: string | null, detail: string) {
    super(node === null ? `pipeline${field ? ` field '${field}'` : ''}: ${detail}` : `pipeline node '${node}'${field ? `, field '${field}'` : ''}: ${detail}`);
    this.name = 'PipelineError';
  }
}

/** Node names: identifiers (they appear in `node.output` references, activity ids and file names). */
export const NODE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** More sweep members than this is a typo in a matrix, not an experiment. */
export const MAX_SWEEP_MEMBERS = 256;

const NODE_FIELDS = ['type', 'inputs', 'params', 'matrix', 'after', 'parallel', 'activity', 'queue', 'outputs'];
const ACTIVITY_ONLY = ['activity', 'queue', 'outputs'];
const TOP_FIELDS = ['name', 'workdir', 'baseDir', 'nodes', 'description'];

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The known node types, for messages. */
export function nodeTypeNames(): string[] {
  return [...Object.keys(NODE_TYPES), 'activity'];
}

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

function closest(word: string, known: readonly string[]): string {
  const best = [...known].sort((x, y) => distance(word, x) - distance(word, y))[0];
  return best !== undefined && distance(word, best) <= Math.max(2, Math.floor(best.length / 3)) ? `; did you mean '${best}'?` : '';
}

const describeType = (t: DataType) => `${/^[aeiou]/i.test(t) ? 'an' : 'a'} ${t} (${DATA_TYPES[t]})`;

// ------------------------------------------------------------------------------------------ the file's shape

/** Checks the shape of a parsed pipeline file; returns it typed (params and paths are checked by planPipeline). */
export function parsePipelineSpec(input: unknown): PipelineSpec {
  if (!isObject(input)) throw new PipelineError(null, null, 'the file must be a mapping with name, workdir and nodes');
  for (const k of Object.keys(input)) {
    if (!TOP_FIELDS.includes(k)) throw new PipelineError(null, k, `is not a known field (known: ${TOP_FIELDS.join(', ')})`);
  }
  const name = input.name;
  if (typeof name !== 'string' || !SAFE_NAME.test(name)) {
    throw new PipelineError(null, 'name', `must start with a letter or digit and contain only letters, digits, '.', '_' and '-' (it names files), got ${JSON.stringify(name)}`);
  }
  if (typeof input.workdir !== 'string' || input.workdir === '') throw new PipelineError(null, 'workdir', 'is required: the directory of the artifact store and reports');
  if (input.baseDir !== undefined && typeof input.baseDir !== 'string') throw new PipelineError(null, 'baseDir', 'must be a directory');
  if (!isObject(input.nodes) || Object.keys(input.nodes).length === 0) throw new PipelineError(null, 'nodes', 'must map node names to nodes ({ type, inputs, params })');
  const nodes: Record<string, NodeSpec> = {};
  for (const [node, raw] of Object.entries(input.nodes)) nodes[node] = parseNode(node, raw);
  return { name, workdir: input.workdir, ...(input.baseDir !== undefined && { baseDir: input.baseDir as string }), nodes };
}

function parseNode(node: string, raw: unknown): NodeSpec {
  if (!NODE_NAME.test(node)) {
    throw new PipelineError(node, null, 'a node name starts with a letter and contains only letters, digits, _ and - (it appears in references like node.output)');
  }
  if (!isObject(raw)) throw new PipelineError(node, null, 'must be a mapping ({ type, inputs, params })');
  for (const k of Object.keys(raw)) {
    if (!NODE_FIELDS.includes(k)) throw new PipelineError(node, k, `is not a known field of a node (known: ${NODE_FIELDS.join(', ')})`);
  }
  const { type } = raw;
  if (typeof type !== 'string') throw new PipelineError(node, 'type', `is required (one of ${nodeTypeNames().join(', ')})`);
  if (!isBuiltinNodeType(type) && type !== 'activity') {
    throw new PipelineError(node, 'type', `unknown node type '${type}' (known: ${nodeTypeNames().join(', ')})${closest(type, nodeTypeNames())}`);
  }
  const spec: NodeSpec = { type };
  if (raw.inputs !== undefined) {
    if (!isObject(raw.inputs)) throw new PipelineError(node, 'inputs', 'must map input names to references (node.output)');
    for (const [port, ref] of Object.entries(raw.inputs)) {
      if (typeof ref !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_]*)?$/.test(ref)) {
        throw new PipelineError(node, `inputs.${port}`, `must be a reference node.output (or node), got ${JSON.stringify(ref)}`);
      }
    }
    spec.inputs = raw.inputs as Record<string, string>;
  }
  if (raw.params !== undefined) {
    if (!isObject(raw.params)) throw new PipelineError(node, 'params', 'must be a mapping');
    spec.params = raw.params;
  }
  if (raw.matrix !== undefined) {
    if (!isObject(raw.matrix) || Object.keys(raw.matrix).length === 0) throw new PipelineError(node, 'matrix', 'must map params paths to lists of values');
    for (const [axis, values] of Object.entries(raw.matrix)) {
      if (!Array.isArray(values) || values.length === 0) throw new PipelineError(node, `matrix.${axis}`, 'must be a non-empty list of values');
    }
    spec.matrix = raw.matrix as Record<string, unknown[]>;
  }
  if (raw.after !== undefined) {
    const after = typeof raw.after === 'string' ? [raw.after] : raw.after;
    if (!Array.isArray(after) || after.some((a) => typeof a !== 'string')) throw new PipelineError(node, 'after', 'must be a node name or a list of them');
    spec.after = after as string[];
  }
  if (raw.parallel !== undefined) {
    if (spec.matrix === undefined) throw new PipelineError(node, 'parallel', 'limits how many members of a sweep run at once: it needs a matrix');
    if (!Number.isInteger(raw.parallel) || (raw.parallel as number) < 1) throw new PipelineError(node, 'parallel', `must be a positive integer, got ${JSON.stringify(raw.parallel)}`);
    spec.parallel = raw.parallel as number;
  }
  if (type === 'activity') {
    if (typeof raw.activity !== 'string' || !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(raw.activity)) {
      throw new PipelineError(node, 'activity', 'is required: the name of an activity your worker registers');
    }
    spec.activity = raw.activity;
    const queue = raw.queue ?? 'cpu';
    if (queue !== 'cpu' && queue !== 'mpi') throw new PipelineError(node, 'queue', `must be cpu or mpi, got ${JSON.stringify(queue)}`);
    spec.queue = queue;
    const outputs = raw.outputs ?? {};
    if (!isObject(outputs)) throw new PipelineError(node, 'outputs', 'must map output names to types');
    for (const [name, t] of Object.entries(outputs)) {
      if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new PipelineError(node, `outputs.${name}`, 'an output name is an identifier');
      if (typeof t !== 'string' || !(t in DATA_TYPES)) {
        throw new PipelineError(node, `outputs.${name}`, `unknown type ${JSON.stringify(t)} (types: ${Object.keys(DATA_TYPES).join(', ')})`);
      }
    }
    spec.outputs = outputs as Record<string, DataType>;
  } else {
    for (const k of ACTIVITY_ONLY) if (raw[k] !== undefined) throw new PipelineError(node, k, "belongs to nodes of type 'activity'");
  }
  return spec;
}

// ------------------------------------------------------------------------------------------ inputs and the DAG

/** The outputs a node offers to others: a sweep offers only its table. */
function offeredOutputs(spec: NodeSpec): Record<string, DataType> {
  if (spec.matrix) return { table: 'table' };
  if (spec.type === 'activity') return spec.outputs ?? {};
  return { ...NODE_TYPES[spec.type as BuiltinNodeType].outputs };
}

function inputPorts(spec: NodeSpec): Record<string, { type: DataType | null; optional: boolean; doc: string }> {
  if (spec.type === 'activity') {
    // A user's activity declares no ports: it takes whatever it is given, of any type.
    return Object.fromEntries(Object.keys(spec.inputs ?? {}).map((p) => [p, { type: null, optional: true, doc: '' }]));
  }
  return Object.fromEntries(Object.entries(NODE_TYPES[spec.type as BuiltinNodeType].inputs).map(([p, s]) => [p, { type: s.type, optional: Boolean(s.optional), doc: s.doc }]));
}

function resolveInputs(node: string, spec: NodeSpec, nodes: Record<string, NodeSpec>): Record<string, InputRef> {
  const ports = inputPorts(spec);
  const given = spec.inputs ?? {};
  const resolved: Record<string, InputRef> = {};
  for (const [port, ref] of Object.entries(given)) {
    const field = `inputs.${port}`;
    const p = ports[port];
    if (!p) throw new PipelineError(node, field, `is not an input of a ${spec.type} node (inputs: ${Object.keys(ports).join(', ') || 'none'})`);
    const [target, output] = ref.split('.');
    if (target === node) throw new PipelineError(node, field, `refers to the node itself (${ref}): a pipeline is acyclic`);
    const other = nodes[target];
    if (!other) throw new PipelineError(node, field, `refers to '${ref}', but there is no node '${target}' (nodes: ${Object.keys(nodes).join(', ')})${closest(target, Object.keys(nodes))}`);
    const offered = offeredOutputs(other);
    const sweepNote = other.matrix ? ` ('${target}' is a sweep: it offers its comparison table)` : '';
    let name = output;
    if (name === undefined) {
      const matching = Object.entries(offered).filter(([, t]) => p.type === null || t === p.type).map(([n]) => n);
      if (matching.length !== 1) {
        throw new PipelineError(node, field, matching.length === 0
          ? `'${target}' has no output ${p.type ? `of type ${p.type}` : ''} (outputs: ${Object.entries(offered).map(([n, t]) => `${n}: ${t}`).join(', ') || 'none'})${sweepNote}`
          : `'${target}' has several outputs of type ${p.type} (${matching.join(', ')}): name one, e.g. ${target}.${matching[0]}`);
      }
      name = matching[0];
    }
    const type = offered[name];
    if (type === undefined) {
      throw new PipelineError(node, field, `'${target}' has no output '${name}' (outputs: ${Object.keys(offered).join(', ') || 'none'})${sweepNote}`);
    }
    if (p.type !== null && type !== p.type) {
      throw new PipelineError(node, field, `'${target}.${name}' is ${describeType(type)}; this input takes ${describeType(p.type)}`);
    }
    resolved[port] = { node: target, output: name, type };
  }
  for (const [port, p] of Object.entries(ports)) {
    if (!p.optional && !resolved[port]) {
      throw new PipelineError(node, `inputs.${port}`, `is required: ${p.doc}, ${describeType(p.type!)}`);
    }
  }
  return resolved;
}

/** The first cycle among the nodes' dependencies, as a path that starts and ends at the same node, or null. */
function findCycle(deps: ReadonlyMap<string, readonly string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === 'done') return null;
    if (state.get(n) === 'open') return [...path.slice(path.indexOf(n)), n];
    state.set(n, 'open');
    path.push(n);
    for (const d of deps.get(n) ?? []) {
      const cycle = visit(d);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of deps.keys()) {
    const cycle = visit(n);
    if (cycle) return cycle;
  }
  return null;
}

/** Nodes in dependency order; among ready nodes the one declared first (a deterministic order). */
function topologicalOrder(names: readonly string[], deps: ReadonlyMap<string, readonly string[]>): string[] {
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < names.length) {
    const next = names.find((n) => !done.has(n) && (deps.get(n) ?? []).every((d) => done.has(d)));
    if (next === undefined) throw new Error('topologicalOrder: the dependencies have a cycle');
    done.add(next);
    order.push(next);
  }
  return order;
}

// ------------------------------------------------------------------------------------------ sweeps

interface Member {
  label: string;
  values: Record<string, string | number | boolean>;
  /** Params path → value this member sets. */
  sets: Record<string, unknown>;
}

const isScalar = (v: unknown): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** The members of a matrix: every combination of its axes' values, the first axis outermost. */
export function expandMatrix(node: string, matrix: Record<string, unknown[]>): Member[] {
  const axes = Object.entries(matrix).map(([axis, values]) => {
    const entries = values.map((v, k) => {
      const field = `matrix.${axis}[${k}]`;
      if (isScalar(v)) return { shown: v, sets: { [axis]: v } };
      if (!isObject(v)) throw new PipelineError(node, field, `must be a value or a mapping of params paths to values, got ${JSON.stringify(v)}`);
      const { name, ...sets } = v;
      if (Object.keys(sets).length === 0) throw new PipelineError(node, field, 'sets no params');
      if (name !== undefined && !isScalar(name)) throw new PipelineError(node, `${field}.name`, 'must be a short label');
      const shown = name ?? Object.values(sets).map((x) => (isScalar(x) ? String(x) : JSON.stringify(x))).join('-');
      return { shown: shown as string | number | boolean, sets };
    });
    return { axis, entries };
  });
  const lastSegments = axes.map((a) => a.axis.split('.').pop()!);
  const short = axes.map((a, i) => (lastSegments.filter((s) => s === lastSegments[i]).length > 1 ? a.axis : lastSegments[i]));
  let members: Member[] = [{ label: '', values: {}, sets: {} }];
  axes.forEach((a, i) => {
    members = members.flatMap((m) => a.entries.map((e) => ({
      label: m.label === '' ? `${short[i]}=${e.shown}` : `${m.label},${short[i]}=${e.shown}`,
      values: { ...m.values, [a.axis]: e.shown },
      sets: { ...m.sets, ...e.sets },
    })));
  });
  if (members.length > MAX_SWEEP_MEMBERS) throw new PipelineError(node, 'matrix', `expands to ${members.length} members, more than ${MAX_SWEEP_MEMBERS}`);
  const labels = new Set<string>();
  for (const m of members) {
    if (labels.has(m.label)) throw new PipelineError(node, 'matrix', `two members have the same values (${m.label}); give the mappings distinct names`);
    labels.add(m.label);
  }
  return members;
}

/** `params` (deep-copied) with each dotted path of `sets` set, creating mappings on the way. */
export function withSettings(node: string, params: Raw, sets: Record<string, unknown>): Raw {
  const out = JSON.parse(JSON.stringify(params)) as Raw;
  for (const [path, value] of Object.entries(sets)) {
    const keys = path.split('.');
    let at: Raw = out;
    for (const [i, k] of keys.slice(0, -1).entries()) {
      if (at[k] === undefined) at[k] = {};
      if (!isObject(at[k])) throw new PipelineError(node, `matrix.${path}`, `params.${keys.slice(0, i + 1).join('.')} is not a mapping`);
      at = at[k] as Raw;
    }
    at[keys[keys.length - 1]] = value;
  }
  return out;
}

/** A member label as part of a file name: its values, joined by '-', unsafe characters replaced. */
function nameSlug(member: Member): string {
  return Object.values(member.values).map((v) => String(v).replace(/[^A-Za-z0-9._-]+/g, '_')).join('-');
}

// ------------------------------------------------------------------------------------------ the plan

function validParams(node: string, type: BuiltinNodeType, raw: Raw, connected: ReadonlySet<string>): unknown {
  try {
    return NODE_TYPES[type].params(raw, connected);
  } catch (err) {
    if (err instanceof NodeFieldError) throw new PipelineError(node, err.field, err.message);
    throw err;
  }
}

/** Values at a dotted path of raw params (a string or a list of them), for the path fields of a node type. */
export function pathsAt(params: Raw, path: string): string[] {
  let v: unknown = params;
  for (const k of path.split('.')) v = isObject(v) ? v[k] : undefined;
  return typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function assertAbsolute(node: string | null, field: string, path: string): void {
  if (!path.startsWith('/')) throw new PipelineError(node, field, `must be an absolute path when a pipeline starts, got '${path}' (subtomo pipeline run resolves paths against the file)`);
}

/**
 * Validates a pipeline (parsed file or PipelineSpec) and expands its sweeps into the nodes the workflow runs.
 * File paths must be absolute (app/pipelineClient.ts resolves them against the file).
 */
export function planPipeline(input: unknown): PipelinePlan {
  const spec = parsePipelineSpec(input);
  assertAbsolute(null, 'workdir', spec.workdir);
  if (spec.baseDir !== undefined) assertAbsolute(null, 'baseDir', spec.baseDir);
  const names = Object.keys(spec.nodes);
  const inputs = new Map<string, Record<string, InputRef>>();
  const deps = new Map<string, string[]>();
  for (const node of names) {
    const s = spec.nodes[node];
    const resolved = resolveInputs(node, s, spec.nodes);
    for (const a of s.after ?? []) {
      if (!spec.nodes[a]) throw new PipelineError(node, 'after', `there is no node '${a}'${closest(a, names)}`);
      if (a === node) throw new PipelineError(node, 'after', 'a node cannot run after itself');
    }
    inputs.set(node, resolved);
    deps.set(node, [...new Set([...Object.values(resolved).map((r) => r.node), ...(s.after ?? [])])]);
  }
  const cycle = findCycle(deps);
  if (cycle) throw new PipelineError(cycle[0], 'inputs', `depends on itself: ${cycle.join(' → ')}; a pipeline is a DAG`);

  const planned = new Map<string, PlannedNode>();
  const campaignNames = new Map<string, string>();
  const claimCampaignName = (node: string, name: string) => {
    const other = campaignNames.get(name);
    if (other) throw new PipelineError(node, 'params.name', `gives the campaign name '${name}', which '${other}' has too (it names the campaign's report directory)`);
    campaignNames.set(name, node);
  };
  for (const node of topologicalOrder(names, deps)) {
    const s = spec.nodes[node];
    const connected = new Set(Object.keys(inputs.get(node)!));
    const base: Omit<PlannedNode, 'name' | 'params'> = {
      type: s.type as NodeKind,
      inputs: inputs.get(node)!,
      deps: deps.get(node)!,
      outputs: offeredOutputsOfRun(s),
      ...(s.type === 'activity' && { activity: { name: s.activity!, queue: s.queue ?? 'cpu' } }),
    };
    const build = (name: string, raw: Raw, member?: Member): PlannedNode => {
      const n: PlannedNode = { ...base, name, params: raw };
      if (isBuiltinNodeType(s.type)) {
        const type = s.type;
        for (const path of NODE_TYPES[type].paths) for (const p of pathsAt(raw, path)) assertAbsolute(name, `params.${path}`, p);
        n.params = validParams(name, type, raw, connected);
        if (type === 'campaign') {
          const prefix = (n.params as CampaignParams).name ?? `${spec.name}-${node}`;
          n.campaignName = member ? `${prefix}-${nameSlug(member)}` : prefix;
          if (!SAFE_NAME.test(n.campaignName)) {
            throw new PipelineError(name, 'params.name', `gives the campaign name '${n.campaignName}', which is not a safe file name (at most 100 letters, digits, '.', '_', '-')`);
          }
          claimCampaignName(name, n.campaignName);
        }
      }
      return n;
    };
    if (!s.matrix) {
      planned.set(node, build(node, s.params ?? {}));
      continue;
    }
    const members = expandMatrix(node, s.matrix);
    const memberNames = members.map((m) => `${node}[${m.label}]`);
    members.forEach((m, k) => {
      const p = build(memberNames[k], withSettings(node, s.params ?? {}, m.sets), m);
      planned.set(p.name, { ...p, member: { sweep: node, label: m.label, values: m.values } });
    });
    planned.set(node, {
      name: node, type: 'sweep', params: {}, inputs: {}, deps: memberNames, outputs: { table: 'table' },
      sweep: { members: memberNames, axes: Object.keys(s.matrix), parallel: s.parallel ?? members.length },
    });
  }
  // A sweep's dependants wait for its fan-in, which the loop above planned after its members.
  const order: PlannedNode[] = [];
  const seen = new Set<string>();
  const add = (n: PlannedNode) => {
    if (seen.has(n.name)) return;
    for (const d of n.deps) add(planned.get(d)!);
    seen.add(n.name);
    order.push(n);
  };
  for (const n of planned.values()) add(n);
  return { name: spec.name, workdir: spec.workdir, ...(spec.baseDir !== undefined && { baseDir: spec.baseDir }), nodes: order };
}

/** What the node itself produces when it runs (for a sweep member: the node type's outputs). */
function offeredOutputsOfRun(spec: NodeSpec): Record<string, DataType> {
  return spec.type === 'activity' ? spec.outputs ?? {} : { ...NODE_TYPES[spec.type as BuiltinNodeType].outputs };
}

/** The params paths of a node's type that hold file paths (the loader resolves them, and matrix values set at them). */
export function pathFieldsOf(spec: NodeSpec): readonly string[] {
  return isBuiltinNodeType(spec.type) ? NODE_TYPES[spec.type].paths : [];
}
