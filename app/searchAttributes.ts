/**
 * Client side of the search attributes (model/searchAttributes.ts): whether a server indexes subtomo's runs,
 * the attributes a run starts with (which tell the workflow it may upsert them: workflows/searchAttributes.ts),
 * and list queries by workflow type and a user's filter, with a line per run from what it is indexed by.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import { SUBTOMO_SEARCH_ATTRIBUTES, type SubtomoIndex } from '../model/searchAttributes.ts';
import { SEARCH_ATTRIBUTE_KEYS, searchAttributePairs } from '../workflows/searchAttributes.ts';

const registered = new WeakMap<Client, Promise<boolean>>();

/** Whether the namespace of `client` has every subtomo search attribute (asked once per client). */
export function serverIndexes(client: Client): Promise<boolean> {
  let known = registered.get(client);
  if (!known) {
    known = client.connection.operatorService.listSearchAttributes({ namespace: client.options.namespace }).then(
      (r) => Object.values(SUBTOMO_SEARCH_ATTRIBUTES).every((a) => a.name in (r.customAttributes ?? {})),
      // A cluster that does not let this client ask (no operator permission) is treated as not indexing.
      () => false,
    );
    registered.set(client, known);
  }
  return known;
}

/** The typed search attributes a run of `index` starts with, or undefined where the server does not index them. */
export async function startAttributes(client: Client, index: SubtomoIndex): Promise<SearchAttributePair[] | undefined> {
  return (await serverIndexes(client)) ? searchAttributePairs({ ...index, state: index.state ?? 'running' }) : undefined;
}

/**
 * The list query of runs of `workflowType` that also match the user's `filter` (Temporal's list filter syntax,
 * e.g. `SubtomoBestResolution < 30 AND SubtomoMethod = 'sag'`); a campaign that continued as new is listed once,
 * by its latest run.
 */
export function listQuery(workflowType: string, filter?: string): string {
  // a run that continued as new is a link of its campaign's chain, listed through its latest run
  const type = `WorkflowType = '${workflowType}' AND ExecutionStatus != 'ContinuedAsNew'`;
  return filter && filter.trim() !== '' ? `${type} AND (${filter})` : type;
}

const angstrom = (x: number | undefined) => (x === undefined ? '' : `${x.toFixed(1)} Å`);

/** One line per listed run: id, status, start (and close), and what it is indexed by. */
export function listLine(w: WorkflowExecutionInfo): string {
  const a = w.typedSearchAttributes;
  const K = SEARCH_ATTRIBUTE_KEYS;
  const indexed = [
    a.get(K.method),
    a.get(K.dataSource),
    a.get(K.iteration) === undefined ? undefined : `iteration ${a.get(K.iteration)}`,
    a.get(K.bestResolution) === undefined ? undefined : `best ${angstrom(a.get(K.bestResolution))}`,
    a.get(K.state),
  ].filter((x): x is string => x !== undefined);
  return `${w.workflowId}  ${w.status.name.padEnd(16)} started ${w.startTime.toISOString()}` +
    (w.closeTime ? `  closed ${w.closeTime.toISOString()}` : '') + (indexed.length > 0 ? `  ${indexed.join(', ')}` : '');
}

/**
 * One line per run of `workflowType` matching `filter`, newest first; a filter the server refuses is an error
 * quoting the server's reason.
 */
export async function listRuns(client: Client, workflowType: string, filter?: string): Promise<string[]> {
  const lines: string[] = [];
  try {
    for await (const w of client.workflow.list({ query: listQuery(workflowType, filter) })) lines.push(listLine(w));
  } catch (err) {
    // The server's reason (an unknown attribute, a syntax error) is in the gRPC error behind the SDK's.
    const cause = (err as Error).cause as { details?: string; message?: string; code?: number } | undefined;
    const INVALID_ARGUMENT = 3;
    if (filter && cause?.code === INVALID_ARGUMENT) {
      throw new Error(`--query ${JSON.stringify(filter)} is not a valid list filter: ${cause.details ?? cause.message}`);
    }
    throw err;
  }
  return lines;
}
