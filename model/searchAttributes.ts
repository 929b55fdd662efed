/**
 * The search attributes campaigns and pipelines are indexed by, so `subtomo campaign list --query
 * "SubtomoBestResolution < 30 AND SubtomoMethod = 'sag'"` and the Web UI's filter find runs among hundreds.
 * One list, plain data: infra/ registers it when the dev server starts, workflows/ upserts it, app/ queries it.
 * Types are spelled as the Temporal CLI spells them (`--search-attribute NAME=TYPE`).
 */

export type SearchAttributeTypeName = 'Keyword' | 'Int' | 'Double';

export const SUBTOMO_SEARCH_ATTRIBUTES = {
  /** The campaign's or pipeline's `name`. */
  name: { name: 'SubtomoName', type: 'Keyword' },
  /** Refinement method (model/methods.ts); a pipeline sets it only when all its alignments use one. */
  method: { name: 'SubtomoMethod', type: 'Keyword' },
  /** Where the particles come from: DataSource below. */
  dataSource: { name: 'SubtomoDataSource', type: 'Keyword' },
  /** A campaign's last completed iteration (0: its start). */
  iteration: { name: 'SubtomoIteration', type: 'Int' },
  /** Best gold-standard (FSC 0.143) resolution so far, Å. */
  bestResolution: { name: 'SubtomoBestResolution', type: 'Double' },
  /** RunState below. */
  state: { name: 'SubtomoState', type: 'Keyword' },
} as const satisfies Record<string, { name: string; type: SearchAttributeTypeName }>;

export type SubtomoSearchAttribute = keyof typeof SUBTOMO_SEARCH_ATTRIBUTES;

/**
 * `simulated`: particles simulated from a model; `list`: a user's subtomograms (STAR or Dynamo table);
 * `tomograms`: cut out of tomograms first; `mixed`: a pipeline drawing on several.
 */
export type DataSource = 'simulated' | 'list' | 'tomograms' | 'mixed';

/**
 * `running` until the end; a campaign then says why it stopped (`converged`, `max-iterations`, `stopped` by the
 * stop signal), a pipeline `completed`; either may end `failed` or `cancelled`.
 */
export type RunState = 'running' | 'converged' | 'max-iterations' | 'stopped' | 'completed' | 'failed' | 'cancelled';

/** The values a run is indexed by (each optional: a run sets what it knows). */
export interface SubtomoIndex {
  name?: string;
  method?: string;
  dataSource?: DataSource;
  iteration?: number;
  bestResolution?: number;
  state?: RunState;
}
