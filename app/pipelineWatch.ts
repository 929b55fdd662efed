/**
 * Following a pipeline from a client: its DAG as text with each node's state (done, reused, running, failed …)
 * and what it produced, a live progress bar with the running steps' heartbeats, a line whenever a node
 * finishes, and the summary of a closed pipeline. Shared by `subtomo pipeline` and bench/paper.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Progress } from '../activities/common.ts';
import { FINISHED_STATES } from '../model/pipelineDag.ts';
import { ProgressBar } from '../os/progress.ts';
import { statusQuery } from '../workflows/campaign.ts';
import { pipelineNodeStatusQuery, pipelineStatusQuery, type NodeStatus, type PipelineStatus, type pipeline } from '../workflows/pipeline.ts';
import { decodePayload } from './campaignClient.ts';
import { failureCause, isOpen, progressText } from './campaignWatch.ts';

const out = (line = '') => process.stdout.write(`${line}\n`);

const shown = (v: string | number) => (typeof v === 'number' ? String(Number(v.toFixed(3))) : v);

/** What a node did (its headline numbers, or its error), or does (`running` adds the live detail). */
export function nodeDetail(n: NodeStatus, live?: string): string {
  if (n.state === 'failed') return n.error ?? 'failed';
  if (n.state === 'running') return live ?? n.step ?? '';
  const numbers = Object.entries(n.headline ?? {}).map(([k, v]) => `${k} ${shown(v)}`).join(', ');
  const steps = n.steps.reused + n.steps.computed > 0 ? `${n.steps.reused} of ${n.steps.reused + n.steps.computed} steps reused` : '';
  return [numbers, steps, n.adopted ? 'completed child adopted' : ''].filter(Boolean).join('; ');
}

/** What a node waits for, as the DAG's text shows it: its inputs' nodes, or a sweep's member count (listed above it). */
export function inputsText(n: { type: string; deps: readonly string[]; member?: unknown }): string {
  if (n.member || n.deps.length === 0) return '';
  return n.type === 'sweep' ? `← its ${n.deps.length} members` : `← ${n.deps.join(', ')}`;
}

/** The DAG as text: a line per node (sweep members indented under their sweep) with its state, type, inputs and result. */
export function dagText(status: PipelineStatus, live: ReadonlyMap<string, string> = new Map()): string {
  const rows = status.nodes.map((n) => [
    n.state,
    `${n.member ? '  ' : ''}${n.name}`,
    n.type,
    inputsText(n),
    nodeDetail(n, live.get(n.name)),
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => `  ${r.map((c, i) => (i < 4 ? c.padEnd(widths[i]) : c)).join('  ')}`.trimEnd()).join('\n');
}

function counts(status: PipelineStatus): string {
  const finished = status.nodes.filter((n) => FINISHED_STATES.includes(n.state)).length;
  return `${finished} of ${status.nodes.length} nodes finished; steps: ${status.steps.reused} reused from the artifact store, ${status.steps.computed} computed`;
}

export function pipelineSummary(status: PipelineStatus, workflowId: string): string {
  return [
    `pipeline ${status.name} (${workflowId}): ${status.state} — ${counts(status)}`,
    dagText(status),
    ...(status.report ? [`report: ${status.report}`] : []),
  ].join('\n');
}

/** Live details of the running nodes: their activity's heartbeat, or what their child workflow is doing. */
async function liveDetails(client: Client, handle: WorkflowHandle, status: PipelineStatus): Promise<Map<string, string>> {
  const live = new Map<string, string>();
  const running = status.nodes.filter((n) => n.state === 'running');
  if (running.length === 0) return live;
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  for (const n of running) {
    if (n.workflowId && n.step !== 'adopt') {
      const child = client.workflow.getHandle(n.workflowId);
      if (n.type === 'campaign') {
        const s = await child.query(statusQuery).catch(() => null);
        if (s) live.set(n.name, `campaign ${progressText(s)}, ${s.step}`);
      } else {
        const s = await child.query(pipelineNodeStatusQuery).catch(() => null);
        if (s?.step) live.set(n.name, s.step);
      }
      continue;
    }
    const activity = pending.find((a) => a.activityId === n.activityId);
    const beat = decodePayload<Progress>(activity?.heartbeatDetails?.payloads?.[0]);
    if (n.step) live.set(n.name, `${n.step}${beat ? ` ${beat.done}/${beat.total}${beat.detail ? ` ${beat.detail}` : ''}` : ''}`);
  }
  return live;
}

/** Follows a pipeline until it closes, printing each node as it finishes; returns its final status if it completed. */
export async function watchPipeline(client: Client, workflowId: string, intervalMs = 1000): Promise<PipelineStatus | null> {
  const handle = client.workflow.getHandle<typeof pipeline>(workflowId);
  let bar: ProgressBar | null = null;
  const reported = new Set<string>();
  const report = (s: PipelineStatus) => {
    for (const n of s.nodes) {
      if (!FINISHED_STATES.includes(n.state) || reported.has(n.name)) continue;
      reported.add(n.name);
      out(`node ${n.name} (${n.type}): ${n.state}${nodeDetail(n) ? ` — ${nodeDetail(n)}` : ''}`);
    }
  };
  for (;;) {
    const d = await handle.describe();
    if (!isOpen(d.status.name)) break;
    const status = await handle.query(pipelineStatusQuery).catch(() => null);
    if (status) {
      report(status);
      bar ??= new ProgressBar(`pipeline ${status.name}`, status.nodes.length);
      const live = await liveDetails(client, handle, status).catch(() => new Map<string, string>());
      bar.update(reported.size, [...live].map(([node, what]) => `${node}: ${what}`).join(' | '));
    }
    await sleep(intervalMs);
  }
  const final = await handle.describe();
  if (final.status.name !== 'COMPLETED') {
    out(`pipeline ${workflowId} ${final.status.name.toLowerCase()}: ${await failureCause(client, workflowId)}`);
    return null;
  }
  const result = await handle.result();
  report(result);
  return result;
}
