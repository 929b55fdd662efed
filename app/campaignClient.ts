/**
 * Client side of campaigns, shared by `subtomo campaign`, the demo and the tests: reading a config file,
 * starting and resuming campaign workflows, and reading a campaign's runs back from the Temporal history.
 */
import { randomUUID } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Client, Connection, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { parse as parseYaml } from 'yaml';
import { simulationConfigOf } from '../activities/data.ts';
import type { ConnectionSettings } from '../infra/connection.ts';
import { modelsOf, validateConfig, type CampaignConfig } from '../model/campaign.ts';
import type { campaign, CampaignInput } from '../workflows/campaign.ts';
import { campaignStartIndex } from '../workflows/campaignIndex.ts';
import { DEFAULT_QUEUES, type Queues } from '../workflows/queues.ts';
import { startAttributes } from './searchAttributes.ts';

export const CAMPAIGN_WORKFLOW = 'campaign';

/** Web UI of the dev server at `address` (infra/temporal.ts serves it on the gRPC port + 1000). */
export function webUiUrl(address: string, workflowId?: string): string {
  const [host, port] = address.split(':');
  const base = `http://${host}:${Number(port) + 1000}/namespaces/default/workflows`;
  return workflowId ? `${base}/${encodeURIComponent(workflowId)}` : base;
}

/** A client of the server `settings` describe (address, namespace, TLS, API key: infra/connection.ts). */
export async function connectClient(settings: ConnectionSettings): Promise<{ client: Client; close: () => Promise<void> }> {
  const { address, namespace, tls, apiKey } = settings;
  const connection = await Connection.connect({ address, ...(tls && { tls }), ...(apiKey && { apiKey }) }).catch((err: Error) => {
    throw new Error(`cannot reach Temporal at ${address} (${err.message}); start a local one with npm run server, or see docs/security.md for a remote cluster`);
  });
  return { client: new Client({ connection, namespace }), close: () => connection.close() };
}

/**
 * Reads a campaign config (YAML or JSON), validates it and resolves its paths (workdir, data.star, data.pdb,
 * alignment.hostfile) against the config file's directory; input files must exist and simulation parameters
 * must be possible. Every problem names the file and the field.
 */
export async function loadCampaignConfig(path: string): Promise<CampaignConfig> {
  const file = resolve(path);
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`config ${file}: ${(err as Error).message}`);
  }
  const base = dirname(file);
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  try {
    const config = validateConfig(raw);
    config.workdir = at(config.workdir);
    if (config.alignment.hostfile) config.alignment.hostfile = at(config.alignment.hostfile);
    if (config.reference) config.reference = at(config.reference);
    if (config.data.kind === 'star') {
      config.data.star = at(config.data.star);
      if (config.data.tomograms) config.data.tomograms = config.data.tomograms.map(at);
    }
    else {
      if (typeof config.data.pdb === 'string') config.data.pdb = at(config.data.pdb);
      else if (config.data.pdb) config.data.pdb = config.data.pdb.map(at);
      simulationConfigOf(config.data);
    }
    const inputs: [string, string | undefined][] = [
      ['data.star', config.data.kind === 'star' ? config.data.star : undefined],
      ...(config.data.kind === 'star' ? (config.data.tomograms ?? []).map((t): [string, string] => ['data.tomograms', t]) : []),
      ...(config.data.kind === 'simulate' ? modelsOf(config.data).map((m): [string, string | undefined] => ['data.pdb', m.pdb]) : []),
      ['alignment.hostfile', config.alignment.hostfile],
      ['reference', config.reference],
    ];
    for (const [field, p] of inputs) {
      if (p) await access(p).catch(() => {
        throw new Error(`config field '${field}': ${p} does not exist`);
      });
    }
    return config;
  } catch (err) {
    throw new Error(`config ${file}: ${(err as Error).message}`);
  }
}

export interface StartOptions {
  workflowId?: string;
  /** Start even if a campaign with this workflow id completed before (its steps come from the store). */
  rerun?: boolean;
  queues?: Partial<Queues>;
  heartbeatTimeout?: string;
  continueAsNewEvery?: number;
}

export function newCampaignId(config: CampaignConfig): string {
  return `campaign-${config.name}-${randomUUID().slice(0, 8)}`;
}

/**
 * Why a workflow could not be started under `workflowId`: a run of that id exists (what to do about it, for a
 * `kind` of the subtomo command: campaign or pipeline); any other error is returned as it is.
 */
export async function alreadyStarted(client: Client, err: unknown, kind: 'campaign' | 'pipeline', workflowId: string): Promise<unknown> {
  if (!(err instanceof WorkflowExecutionAlreadyStartedError)) return err;
  const state = (await client.workflow.getHandle(workflowId).describe()).status.name.toLowerCase();
  return new Error(
    state === 'running'
      ? `${kind} ${workflowId} is running; follow it with: subtomo ${kind} watch ${workflowId}`
      : `${kind} ${workflowId} already ${state === 'completed' ? 'completed' : `exists (${state})`}; ` +
        'give --rerun to run it again (its steps come from the artifact store), or choose another --id',
  );
}

/**
 * Starts a campaign workflow on the cpu queue (its workers run the workflows). A workflow id that a completed
 * (or running) campaign already has is refused, unless `rerun` asks to run a completed one again; failed or
 * cancelled ones are continued with `resumeCampaign`.
 */
export async function startCampaign(client: Client, config: CampaignConfig, opts: StartOptions = {}): Promise<WorkflowHandleWithFirstExecutionRunId<typeof campaign>> {
  const queues = { ...DEFAULT_QUEUES, ...opts.queues };
  const input: CampaignInput = { config, queues, heartbeatTimeout: opts.heartbeatTimeout, continueAsNewEvery: opts.continueAsNewEvery };
  const workflowId = opts.workflowId ?? newCampaignId(config);
  const typedSearchAttributes = await startAttributes(client, campaignStartIndex(config));
  try {
    return await client.workflow.start<typeof campaign>(CAMPAIGN_WORKFLOW, {
      taskQueue: queues.cpu,
      workflowId,
      workflowIdReusePolicy: opts.rerun ? 'ALLOW_DUPLICATE' : 'ALLOW_DUPLICATE_FAILED_ONLY',
      args: [input],
      ...(typedSearchAttributes && { typedSearchAttributes }),
    });
  } catch (err) {
    throw await alreadyStarted(client, err, 'campaign', workflowId);
  }
}

export type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** One run of a workflow: its history and the input it started with. */
export interface WorkflowRun<I> {
  runId: string;
  events: HistoryEvent[];
  input: I;
}

export type CampaignRun = WorkflowRun<CampaignInput>;

export function decodePayload<T>(payload: Payload | null | undefined): T | undefined {
  return payload ? defaultPayloadConverter.fromPayload<T>(payload) : undefined;
}

/** One run of a workflow; `kind` and `accepts` refuse a workflow of another type, naming it. */
export async function fetchWorkflowRun<I>(
  client: Client,
  workflowId: string,
  runId: string,
  kind: string,
  accepts: (input: I | undefined) => boolean,
): Promise<WorkflowRun<I>> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const events = history.events ?? [];
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  if (!started) throw new Error(`workflow ${workflowId} has no start event`);
  const input = decodePayload<I>(started.input?.payloads?.[0]);
  if (!accepts(input)) throw new Error(`workflow ${workflowId} is not a ${kind} (type ${started.workflowType?.name})`);
  return { runId, events, input: input! };
}

/** Every run of a workflow, oldest first: from the latest run back through `previous` (the run it continued or resumed). */
export async function workflowRuns<I>(
  client: Client,
  workflowId: string,
  kind: string,
  accepts: (input: I | undefined) => boolean,
  previous: (run: WorkflowRun<I>) => string | undefined,
): Promise<WorkflowRun<I>[]> {
  const runs: WorkflowRun<I>[] = [];
  let next: string | undefined = (await client.workflow.getHandle(workflowId).describe()).runId;
  while (next) {
    const run = await fetchWorkflowRun(client, workflowId, next, kind, accepts);
    runs.unshift(run);
    next = previous(run);
  }
  return runs;
}

const isCampaignInput = (input: CampaignInput | undefined) => Boolean(input?.config);

/**
 * Every run of a campaign, oldest first: the continue-as-new chain of the latest run and, through
 * `resumedFrom`, the chains of the runs it resumed.
 */
export function campaignRuns(client: Client, workflowId: string): Promise<CampaignRun[]> {
  return workflowRuns(client, workflowId, 'campaign', isCampaignInput, (run) => {
    const started = run.events[0].workflowExecutionStartedEventAttributes!;
    return started.continuedExecutionRunId || run.input.resumedFrom || undefined;
  });
}

const RESUMABLE = new Set(['FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']);

/**
 * Starts a failed, cancelled, terminated or timed-out campaign again under the same workflow id, from its
 * original config: steps whose results are in the artifact store are reused, not recomputed.
 */
export async function resumeCampaign(client: Client, workflowId: string): Promise<{ handle: WorkflowHandleWithFirstExecutionRunId<typeof campaign>; resumedFrom: string }> {
  const latest = await client.workflow.getHandle(workflowId).describe();
  if (!RESUMABLE.has(latest.status.name)) {
    throw new Error(`campaign ${workflowId} is ${latest.status.name}; only a failed, cancelled, terminated or timed-out campaign can be resumed`);
  }
  const { input } = await fetchWorkflowRun(client, workflowId, latest.runId, 'campaign', isCampaignInput);
  const { carried: _carried, ...fresh } = input;
  const typedSearchAttributes = await startAttributes(client, campaignStartIndex(fresh.config));
  const handle = await client.workflow.start<typeof campaign>(CAMPAIGN_WORKFLOW, {
    taskQueue: latest.taskQueue,
    workflowId,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    args: [{ ...fresh, resumedFrom: latest.runId }],
    ...(typedSearchAttributes && { typedSearchAttributes }),
  });
  return { handle, resumedFrom: latest.runId };
}
