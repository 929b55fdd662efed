/**
 * Shared set-up of the pipeline integration tests: tiny step params (the campaign tests' tiny data set), the
 * 5-node DAG with two parallel branches, and reading a pipeline's node states and activity attempts.
 */
import type { Client } from '@temporalio/client';
import type { PipelineSpec } from '../../model/pipeline.ts';
import { pipelineStatusQuery, type NodeStatus, type PipelineStatus, type pipeline } from '../../workflows/pipeline.ts';
import { TINY_ALIGNMENT, TINY_DATA } from './campaign.ts';

/** An align node's params on the tiny data set. */
export const TINY_ALIGN = { ...TINY_ALIGNMENT, lowpass: 60 };

/**
 * data (simulate) → alignSag → average → fsc, and data → alignLm: five nodes, two branches that run in
 * parallel once the data is there.
 */
export function fiveNodeSpec(workdir: string, overrides: { alignLm?: Record<string, unknown>; name?: string } = {}): PipelineSpec {
  return {
    name: overrides.name ?? 'five',
    workdir,
    nodes: {
      data: { type: 'simulate', params: { ...TINY_DATA } },
      alignSag: { type: 'align', inputs: { particles: 'data.particles', reference: 'data.reference' }, params: { ...TINY_ALIGN, method: 'sag' } },
      average: { type: 'average', inputs: { particles: 'data', alignment: 'alignSag' } },
      fsc: { type: 'fsc', inputs: { halfMaps: 'average.halfMaps' } },
      alignLm: { type: 'align', inputs: { particles: 'data.particles', reference: 'data.reference' }, params: { ...TINY_ALIGN, method: 'lm', ...overrides.alignLm } },
    },
  };
}

/** Node name → state. */
export function states(status: PipelineStatus): Record<string, string> {
  return Object.fromEntries(status.nodes.map((n) => [n.name, n.state]));
}

export function node(status: PipelineStatus, name: string): NodeStatus {
  const n = status.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name} in ${status.nodes.map((x) => x.name).join(', ')}`);
  return n;
}

/** Polls the pipeline's status query until `until` holds. */
export async function waitForPipeline(client: Client, workflowId: string, until: (s: PipelineStatus) => boolean, timeoutMs = 120_000): Promise<PipelineStatus> {
  const handle = client.workflow.getHandle<typeof pipeline>(workflowId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await handle.query(pipelineStatusQuery).catch(() => null);
    if (s && until(s)) return s;
    if (Date.now() > deadline) throw new Error(`pipeline ${workflowId}: condition not met in ${timeoutMs} ms (last: ${JSON.stringify(s && states(s))})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Activity id → attempts it took, over the pipeline's history (`<node>.<step>`). */
export async function activityAttempts(client: Client, workflowId: string): Promise<Record<string, number>> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const ids = new Map<string, string>();
  const attempts: Record<string, number> = {};
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) ids.set(String(e.eventId), scheduled.activityId ?? '?');
    const started = e.activityTaskStartedEventAttributes;
    if (started) attempts[ids.get(String(started.scheduledEventId))!] = started.attempt ?? 1;
  }
  return attempts;
}
