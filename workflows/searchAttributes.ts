/**
 * The typed search attributes of model/searchAttributes.ts as Temporal keys, and how a workflow keeps its own
 * up to date.
 *
 * Upserting an attribute the server does not know fails the workflow task over and over, so a workflow
 * upserts only when its starter set SubtomoState at start: starters do so only after checking that the server
 * has the attributes (app/searchAttributes.ts), and a parent passes them on to its children. Continue-as-new
 * keeps them. The memo (no registration needed) is always written.
 */
import { SearchAttributeType, defineSearchAttributeKey, type SearchAttributePair } from '@temporalio/common';
import { upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { SUBTOMO_SEARCH_ATTRIBUTES as A, type SubtomoIndex } from '../model/searchAttributes.ts';

export const SEARCH_ATTRIBUTE_KEYS = {
  name: defineSearchAttributeKey(A.name.name, SearchAttributeType.KEYWORD),
  method: defineSearchAttributeKey(A.method.name, SearchAttributeType.KEYWORD),
  dataSource: defineSearchAttributeKey(A.dataSource.name, SearchAttributeType.KEYWORD),
  iteration: defineSearchAttributeKey(A.iteration.name, SearchAttributeType.INT),
  bestResolution: defineSearchAttributeKey(A.bestResolution.name, SearchAttributeType.DOUBLE),
  state: defineSearchAttributeKey(A.state.name, SearchAttributeType.KEYWORD),
} as const;

/** The typed pairs of the values `index` sets (an unset or non-finite value is left out). */
export function searchAttributePairs(index: SubtomoIndex): SearchAttributePair[] {
  const K = SEARCH_ATTRIBUTE_KEYS;
  const pairs: SearchAttributePair[] = [];
  if (index.name !== undefined) pairs.push({ key: K.name, value: index.name });
  if (index.method !== undefined) pairs.push({ key: K.method, value: index.method });
  if (index.dataSource !== undefined) pairs.push({ key: K.dataSource, value: index.dataSource });
  if (index.iteration !== undefined && Number.isInteger(index.iteration)) pairs.push({ key: K.iteration, value: index.iteration });
  if (index.bestResolution !== undefined && Number.isFinite(index.bestResolution)) pairs.push({ key: K.bestResolution, value: index.bestResolution });
  if (index.state !== undefined) pairs.push({ key: K.state, value: index.state });
  return pairs;
}

/** Whether this run is indexed: its starter set SubtomoState, which it does only where the server has the attributes. */
export function isIndexed(): boolean {
  return workflowInfo().typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.state) !== undefined;
}

/** Upserts `index` into this run's search attributes (when indexed) and `summary` into its memo. */
export function updateIndex(index: SubtomoIndex, summary: Record<string, unknown>): void {
  if (isIndexed()) {
    const pairs = searchAttributePairs(index);
    if (pairs.length > 0) upsertSearchAttributes(pairs);
  }
  upsertMemo({ subtomo: summary });
}
