/**
 * What flows along the edges of a pipeline: one small JSON value per output, tagged with its DataType
 * (model/pipelineNodes.ts). Artifact references and numbers only — maps, particles and tables stay in the
 * artifact store — so a node's outputs travel in Temporal payloads and its results are visible in the history.
 */
import type { ArtifactRef } from '../io/artifacts.ts';
import type { DataType } from '../model/pipelineNodes.ts';
import type { StopReason } from './campaign.ts';

export interface ParticlesValue {
  type: 'particles';
  /** The particle set with its half-sets (activities/particles.ts). */
  set: ArtifactRef;
  /** The particle list it was loaded from. */
  list: ArtifactRef;
  count: number;
  boxSize: number;
  voxelSize: number;
}

export interface MapValue {
  type: 'map';
  map: ArtifactRef;
}

export interface HalfMapsValue {
  type: 'halfMaps';
  odd: ArtifactRef;
  even: ArtifactRef;
  combined: ArtifactRef;
  boxSize: number;
}

export interface AlignmentValue {
  type: 'alignment';
  /** ParticleAlignment[] JSON (model/jobs.ts). */
  alignment: ArtifactRef;
  /** The winning poses as RELION STAR. */
  star: ArtifactRef;
  meanCcc: number;
}

export interface FscValue {
  type: 'fsc';
  /** FscFile JSON (activities/references.ts). */
  curve: ArtifactRef;
  resolution0143: number;
  resolution05: number;
}

export interface PostprocessValue {
  type: 'postprocess';
  map: ArtifactRef;
  maskedMap?: ArtifactRef;
  star: ArtifactRef;
  fscCsv: ArtifactRef;
  fscSvg: ArtifactRef;
  guinierSvg: ArtifactRef;
  resolution: number;
  bFactor: number;
  warnings: string[];
}

export interface CampaignValue {
  type: 'campaign';
  workflowId: string;
  name: string;
  stoppedBecause: StopReason;
  /** Aligned iterations run. */
  iterations: number;
  bestResolution: number;
  finalResolution: number;
  steps: { reused: number; computed: number };
  /** The campaign's published report (index.html), when it wrote one. */
  reportPath?: string;
  /** A classifying campaign's final class sizes and adjusted Rand index (when the particles have true classes). */
  classification?: { sizes: number[]; ari?: number };
}

export interface TableValue {
  type: 'table';
  /** SweepTableFile JSON (activities/sweepTable.ts). */
  json: ArtifactRef;
  markdown: ArtifactRef;
  csv: ArtifactRef;
  rows: number;
}

export interface ClassesValue {
  type: 'classes';
  /** The final assignment (activities/classify.ts AssignmentFile JSON: a class per particle of the set). */
  assignment: ArtifactRef;
  /** Each final class: its 0-based number, size, resolution (Å) and maps. */
  classes: { index: number; size: number; resolution: number; odd: ArtifactRef; even: ArtifactRef; combined: ArtifactRef }[];
  /** Classification iterations run, and why it stopped. */
  iterations: number;
  stoppedBecause: string;
  /** Adjusted Rand index of the last iteration against the true classes, when the particles have them. */
  ari?: number;
}

export interface FileValue {
  type: 'file';
  file: ArtifactRef;
}

export type NodeValue =
  | ParticlesValue
  | MapValue
  | HalfMapsValue
  | AlignmentValue
  | FscValue
  | PostprocessValue
  | CampaignValue
  | TableValue
  | ClassesValue
  | FileValue;

export type ValueOf<T extends DataType> = Extract<NodeValue, { type: T }>;

export type NodeOutputs = Record<string, NodeValue>;

/** The headline numbers of a value, for the status line of its node and the rows of a sweep's table. */
export function headline(value: NodeValue): Record<string, string | number> {
  switch (value.type) {
    case 'particles':
      return { particles: value.count, box: value.boxSize, 'voxel (Å)': value.voxelSize };
    case 'alignment':
      return { 'mean CCC': value.meanCcc };
    case 'fsc':
      return { 'FSC 0.143 (Å)': value.resolution0143, 'FSC 0.5 (Å)': value.resolution05 };
    case 'postprocess':
      return { 'resolution (Å)': value.resolution, 'B-factor (Å²)': value.bFactor };
    case 'campaign':
      return {
        'best (Å)': value.bestResolution, 'final (Å)': value.finalResolution, iterations: value.iterations, stopped: value.stoppedBecause,
        'steps reused': value.steps.reused, 'steps computed': value.steps.computed,
        ...(value.classification && { 'class sizes': value.classification.sizes.join(' ') }),
        ...(value.classification?.ari !== undefined && { ARI: value.classification.ari }),
      };
    case 'table':
      return { rows: value.rows };
    case 'classes':
      return { classes: value.classes.length, sizes: value.classes.map((k) => k.size).join(' '), ...(value.ari !== undefined && { ARI: value.ari }) };
    default:
      return {};
  }
}

/** Every artifact a value names, for the report's links: output name → file. */
export function filesOf(value: NodeValue): Record<string, ArtifactRef> {
  switch (value.type) {
    case 'particles':
      return { list: value.list, set: value.set };
    case 'map':
      return { map: value.map };
    case 'halfMaps':
      return { odd: value.odd, even: value.even, combined: value.combined };
    case 'alignment':
      return { star: value.star, alignment: value.alignment };
    case 'fsc':
      return { fsc: value.curve };
    case 'postprocess':
      return { map: value.map, star: value.star, 'fsc.svg': value.fscSvg, 'guinier.svg': value.guinierSvg };
    case 'table':
      return { 'table.md': value.markdown, 'table.csv': value.csv };
    case 'file':
      return { file: value.file };
    case 'classes':
      return { assignment: value.assignment, ...Object.fromEntries(value.classes.map((k) => [`class ${k.index + 1}`, k.combined])) };
    case 'campaign':
      return {};
  }
}

/** Input of a user's activity run as a pipeline node (`type: activity`). */
export interface ActivityNodeInput {
  /** The pipeline's workdir (its artifact store). */
  workdir: string;
  /** Directory of the pipeline file, to resolve relative paths of `params` against. */
  baseDir?: string;
  /** The node's name (a sweep member's is `<sweep>[<label>]`). */
  node: string;
  params: Record<string, unknown>;
  inputs: NodeOutputs;
}

/** What a user's activity returns: a value for every output the node declares, and whether it reused earlier work. */
export interface ActivityNodeResult {
  outputs: NodeOutputs;
  reused?: boolean;
}
