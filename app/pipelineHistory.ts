/**
 * A pipeline's story from its Temporal history: per run and node, when it started and ended, its steps (the
 * activities `<node>.<step>`) or its child workflow, how many steps came from the artifact store, and what a
 * user needs to know — retries and why, failures, adopted children, cancellation, resumption.
 */
import { decodePayload } from './campaignClient.ts';
import { eventMs, failureText } from './campaignHistory.ts';
import type { PipelineRun } from './pipelineClient.ts';

export interface NodeRow {
  run: number;
  node: string;
  startMs: number;
  endMs?: number;
  /** Steps (activities) of the node in this run, in order. */
  steps: string[];
  /** The child workflow it ran as. */
  child?: string;
  reused: number;
  computed: number;
  outcome: 'running' | 'completed' | 'failed' | 'cancelled';
  notes: string[];
  /** Steps (or its child) scheduled but not closed yet. */
  open: number;
}

export interface PipelineTimeline {
  runs: { run: number; runId: string; startMs: number; endMs?: number; outcome: string }[];
  nodes: NodeRow[];
}

/** `<node>.<step>` → [node, step]; a member's name may hold dots (`sweep[snr=0.1]`), a step name does not. */
function splitActivityId(id: string): [string, string] {
  const dot = id.lastIndexOf('.');
  return dot < 0 ? [id, '?'] : [id.slice(0, dot), id.slice(dot + 1)];
}

/** Parses every run's events into one row per node and run. */
export function pipelineTimeline(runs: readonly PipelineRun[]): PipelineTimeline {
  const timeline: PipelineTimeline = { runs: [], nodes: [] };
  runs.forEach((r, k) => {
    const run = k + 1;
    const rows = new Map<string, NodeRow>();
    const row = (node: string, ms: number): NodeRow => {
      let x = rows.get(node);
      if (!x) {
        x = { run, node, startMs: ms, steps: [], reused: 0, computed: 0, outcome: 'running', notes: [], open: 0 };
        rows.set(node, x);
      }
      return x;
    };
    const activities = new Map<string, { row: NodeRow; step: string }>();
    const children = new Map<string, NodeRow>();
    const summary: PipelineTimeline['runs'][number] = { run, runId: r.runId, startMs: eventMs(r.events[0]), outcome: 'running' };
    const parentId = r.events[0].workflowExecutionStartedEventAttributes?.workflowId;
    for (const e of r.events) {
      const id = String(e.eventId);
      const ms = eventMs(e);
      const scheduled = e.activityTaskScheduledEventAttributes;
      if (scheduled) {
        const [node, step] = splitActivityId(scheduled.activityId ?? '');
        if (node === '_pipeline') continue;
        const x = row(node, ms);
        x.steps.push(step);
        x.open++;
        activities.set(id, { row: x, step });
        continue;
      }
      const started = e.activityTaskStartedEventAttributes;
      if (started) {
        const a = activities.get(String(started.scheduledEventId));
        if (a && (started.attempt ?? 1) > 1) {
          a.row.notes.push(`${a.step} attempt ${started.attempt}${started.lastFailure ? ` after: ${failureText(started.lastFailure)}` : ''}`);
        }
        continue;
      }
      const done = e.activityTaskCompletedEventAttributes;
      if (done) {
        const a = activities.get(String(done.scheduledEventId));
        if (!a) continue;
        const result = decodePayload<{ reused?: boolean }>(done.result?.payloads?.[0]);
        if (a.step !== 'adopt' && a.step !== 'box') {
          if (result?.reused) a.row.reused++;
          else a.row.computed++;
        }
        a.row.endMs = ms;
        a.row.open--;
        continue;
      }
      const ended = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
      if (ended) {
        const a = activities.get(String(ended.scheduledEventId));
        if (a) {
          a.row.notes.push(`${a.step} ${e.activityTaskFailedEventAttributes ? 'failed' : 'timed out'}: ${failureText(ended.failure)}`);
          Object.assign(a.row, { outcome: 'failed', endMs: ms, open: a.row.open - 1 });
        }
        continue;
      }
      if (e.activityTaskCanceledEventAttributes) {
        const a = activities.get(String(e.activityTaskCanceledEventAttributes.scheduledEventId));
        if (a) Object.assign(a.row, { outcome: 'cancelled', endMs: ms, open: a.row.open - 1 });
        continue;
      }
      const initiated = e.startChildWorkflowExecutionInitiatedEventAttributes;
      if (initiated) {
        const child = initiated.workflowId ?? '';
        const node = parentId && child.startsWith(`${parentId}/`) ? child.slice(parentId.length + 1) : child;
        const x = row(node, ms);
        x.child = child;
        x.open++;
        children.set(id, x);
        continue;
      }
      const startFailed = e.startChildWorkflowExecutionFailedEventAttributes;
      if (startFailed) {
        const x = children.get(String(startFailed.initiatedEventId));
        if (x) {
          x.notes.push('a completed child of an earlier run adopted');
          x.open--;
        }
        continue;
      }
      const childDone = e.childWorkflowExecutionCompletedEventAttributes;
      if (childDone) {
        const x = children.get(String(childDone.initiatedEventId));
        const result = decodePayload<{ steps?: { reused: number; computed: number } }>(childDone.result?.payloads?.[0]);
        if (x) {
          x.reused += result?.steps?.reused ?? 0;
          x.computed += result?.steps?.computed ?? 0;
          x.endMs = ms;
          x.open--;
        }
        continue;
      }
      const childEnded = e.childWorkflowExecutionFailedEventAttributes ?? e.childWorkflowExecutionCanceledEventAttributes
        ?? e.childWorkflowExecutionTerminatedEventAttributes ?? e.childWorkflowExecutionTimedOutEventAttributes;
      if (childEnded) {
        const x = children.get(String(childEnded.initiatedEventId));
        const failure = e.childWorkflowExecutionFailedEventAttributes?.failure;
        if (x) {
          const failed = e.childWorkflowExecutionFailedEventAttributes !== null && e.childWorkflowExecutionFailedEventAttributes !== undefined;
          if (failed) x.notes.push(`child failed: ${failureText(failure)}`);
          Object.assign(x, { outcome: failed ? 'failed' : 'cancelled', endMs: ms, open: x.open - 1 });
        }
        continue;
      }
      if (e.workflowExecutionCancelRequestedEventAttributes) summary.outcome = 'cancel requested';
      else if (e.workflowExecutionCompletedEventAttributes) Object.assign(summary, { outcome: 'completed', endMs: ms });
      else if (e.workflowExecutionFailedEventAttributes) {
        Object.assign(summary, { outcome: `failed: ${failureText(e.workflowExecutionFailedEventAttributes.failure)}`, endMs: ms });
      } else if (e.workflowExecutionCanceledEventAttributes) Object.assign(summary, { outcome: 'cancelled', endMs: ms });
      else if (e.workflowExecutionTerminatedEventAttributes) Object.assign(summary, { outcome: 'terminated', endMs: ms });
      else if (e.workflowExecutionTimedOutEventAttributes) Object.assign(summary, { outcome: 'timed out', endMs: ms });
    }
    if (r.input.resumedFrom) summary.outcome = `${summary.outcome} (resumed ${r.input.resumedFrom}: cached steps reused)`;
    for (const x of rows.values()) {
      // While the pipeline runs, a node between two of its steps looks completed here: `pipeline status` is the live view.
      if (x.outcome === 'running' && x.open === 0 && x.endMs !== undefined) x.outcome = 'completed';
      if (x.outcome === 'running' && summary.endMs !== undefined) x.outcome = 'cancelled';
    }
    timeline.runs.push(summary);
    timeline.nodes.push(...rows.values());
  });
  return timeline;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function formatPipelineTimeline(t: PipelineTimeline): string {
  const header = ['run', 'node', 'outcome', 'time', 'reused/computed', 'steps', 'events'];
  const rows = t.nodes.map((r) => [
    String(r.run),
    r.node,
    r.outcome,
    r.endMs === undefined ? '-' : seconds(r.endMs - r.startMs),
    `${r.reused}/${r.computed}`,
    r.child ? `child ${r.child}` : r.steps.join(', '),
    r.notes.join('; '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  const runs = t.runs.map((r) => `run ${r.run}: ${r.runId} ${r.outcome}${r.endMs !== undefined ? ` after ${seconds(r.endMs - r.startMs)}` : ''}`);
  return [...runs, '', line(header), ...rows.map(line)].join('\n');
}
