/**
 * A campaign's story from its Temporal history: per run and iteration, the resolutions (from the fsc
 * activity's result), the wall time, how many steps were reused from the artifact store, and the events that
 * matter to a user — retried attempts and why, signals, cancellation, continue-as-new, failures.
 */
import type { ClassSummary } from '../activities/classify.ts';
import { mergeText } from '../core/classMerge.ts';
import type { CampaignRun, HistoryEvent } from './campaignClient.ts';
import { decodePayload } from './campaignClient.ts';

export interface StepEntry {
  run: number;
  iteration: number;
  step: string;
  activity: string;
  scheduledMs: number;
  endMs?: number;
  outcome: 'running' | 'completed' | 'failed' | 'timed out' | 'cancelled';
  /** Attempt that produced the outcome (> 1: earlier attempts failed or timed out). */
  attempt: number;
  /** Why the attempt before it failed. */
  retriedAfter?: string;
  result?: Record<string, unknown>;
  failure?: string;
}

export interface IterationRow {
  run: number;
  iteration: number;
  resolution0143?: number;
  resolution05?: number;
  meanCcc?: number;
  startMs: number;
  endMs?: number;
  steps: string[];
  reused: number;
  computed: number;
  notes: string[];
}

export interface RunSummary {
  run: number;
  runId: string;
  startMs: number;
  endMs?: number;
  outcome: string;
}

export interface CampaignTimeline {
  runs: RunSummary[];
  steps: StepEntry[];
  iterations: IterationRow[];
}

/** When an event happened, ms since the epoch. */
export function eventMs(e: HistoryEvent): number {
  const t = e.eventTime;
  return t ? Number(String(t.seconds ?? 0)) * 1000 + (t.nanos ?? 0) / 1e6 : 0;
}

/** A failure's message with its cause's. */
export function failureText(f: { message?: string | null; cause?: unknown } | null | undefined): string {
  if (!f) return 'unknown failure';
  const cause = f.cause as { message?: string | null } | null | undefined;
  return cause?.message ? `${f.message}: ${cause.message}` : (f.message ?? 'unknown failure');
}

/** Parses every run's events into steps and per-iteration rows. */
export function campaignTimeline(runs: readonly CampaignRun[]): CampaignTimeline {
  const timeline: CampaignTimeline = { runs: [], steps: [], iterations: [] };
  runs.forEach((r, k) => {
    const run = k + 1;
    const byScheduled = new Map<string, StepEntry>();
    const summary: RunSummary = { run, runId: r.runId, startMs: eventMs(r.events[0]), outcome: 'running' };
    const runNotes: { ms: number; text: string }[] = [];
    if (r.input.resumedFrom && !r.events[0].workflowExecutionStartedEventAttributes?.continuedExecutionRunId) {
      runNotes.push({ ms: summary.startMs, text: 'resumed (cached steps reused)' });
    }
    for (const e of r.events) {
      const id = String(e.eventId);
      const ms = eventMs(e);
      const scheduled = e.activityTaskScheduledEventAttributes;
      if (scheduled) {
        const [iteration, step] = (scheduled.activityId ?? '').split('.');
        const entry: StepEntry = {
          run, iteration: Number(iteration), step: step ?? '?', activity: scheduled.activityType?.name ?? '?',
          scheduledMs: ms, outcome: 'running', attempt: 1,
        };
        byScheduled.set(id, entry);
        timeline.steps.push(entry);
        continue;
      }
      const started = e.activityTaskStartedEventAttributes;
      if (started) {
        const entry = byScheduled.get(String(started.scheduledEventId));
        if (entry) {
          entry.attempt = started.attempt ?? 1;
          if (started.lastFailure) entry.retriedAfter = failureText(started.lastFailure);
        }
        continue;
      }
      const done = e.activityTaskCompletedEventAttributes;
      if (done) {
        const entry = byScheduled.get(String(done.scheduledEventId));
        if (entry) Object.assign(entry, { outcome: 'completed', endMs: ms, result: decodePayload(done.result?.payloads?.[0]) });
        continue;
      }
      const ended = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
      if (ended) {
        const entry = byScheduled.get(String(ended.scheduledEventId));
        if (entry) {
          entry.outcome = e.activityTaskFailedEventAttributes ? 'failed' : 'timed out';
          entry.endMs = ms;
          entry.failure = failureText(ended.failure);
        }
        continue;
      }
      const cancelled = e.activityTaskCanceledEventAttributes;
      if (cancelled) {
        const entry = byScheduled.get(String(cancelled.scheduledEventId));
        if (entry) Object.assign(entry, { outcome: 'cancelled', endMs: ms });
        continue;
      }
      if (e.workflowExecutionSignaledEventAttributes) runNotes.push({ ms, text: `signal '${e.workflowExecutionSignaledEventAttributes.signalName}'` });
      else if (e.workflowExecutionCancelRequestedEventAttributes) runNotes.push({ ms, text: 'cancel requested' });
      else if (e.workflowExecutionContinuedAsNewEventAttributes) Object.assign(summary, { outcome: 'continued as new', endMs: ms });
      else if (e.workflowExecutionCompletedEventAttributes) Object.assign(summary, { outcome: 'completed', endMs: ms });
      else if (e.workflowExecutionFailedEventAttributes) {
        Object.assign(summary, { outcome: `failed: ${failureText(e.workflowExecutionFailedEventAttributes.failure)}`, endMs: ms });
      } else if (e.workflowExecutionCanceledEventAttributes) Object.assign(summary, { outcome: 'cancelled', endMs: ms });
      else if (e.workflowExecutionTerminatedEventAttributes) Object.assign(summary, { outcome: 'terminated', endMs: ms });
      else if (e.workflowExecutionTimedOutEventAttributes) Object.assign(summary, { outcome: 'timed out', endMs: ms });
    }
    timeline.runs.push(summary);

    const rows = new Map<number, IterationRow>();
    for (const s of timeline.steps.filter((x) => x.run === run)) {
      let row = rows.get(s.iteration);
      if (!row) {
        row = { run, iteration: s.iteration, startMs: s.scheduledMs, steps: [], reused: 0, computed: 0, notes: [] };
        rows.set(s.iteration, row);
      }
      row.steps.push(s.step);
      row.endMs = s.endMs ?? row.endMs;
      if (s.outcome === 'completed') {
        if (s.result?.reused) row.reused++;
        else row.computed++;
      } else {
        row.notes.push(`${s.step} ${s.outcome}${s.failure ? `: ${s.failure}` : ''}`);
      }
      if (s.attempt > 1) row.notes.push(`${s.step} attempt ${s.attempt}${s.retriedAfter ? ` after: ${s.retriedAfter}` : ''}`);
      if (s.step === 'fsc' && s.result) {
        row.resolution0143 = s.result.resolution0143 as number;
        row.resolution05 = s.result.resolution05 as number;
      }
      if (s.step === 'refine' && s.result) row.meanCcc = s.result.meanCcc as number;
      if (s.step === 'assign' && s.result) {
        row.meanCcc = s.result.meanCcc as number;
        row.notes.push(`class sizes ${(s.result.sizes as number[]).join(' ')}, ${(100 * (s.result.changed as number)).toFixed(1)} % changed class`);
      }
      if (s.step === 'class-average' && s.result) {
        for (const k of s.result.classes as ClassSummary[]) {
          if (k.mergedInto !== undefined) row.notes.push(mergeText({ class: k.index, into: k.mergedInto, similarity: k.similarity! }));
        }
      }
    }
    const ordered = [...rows.values()].sort((a, b) => a.iteration - b.iteration);
    // A workflow-level event belongs to the iteration that was running when it happened.
    for (const note of runNotes) {
      const row = [...ordered].reverse().find((x) => x.startMs <= note.ms) ?? ordered[0];
      row?.notes.push(note.text);
    }
    if (summary.outcome !== 'running' && ordered.length > 0) ordered[ordered.length - 1].notes.push(`run ${summary.outcome}`);
    timeline.iterations.push(...ordered);
  });
  return timeline;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const angstrom = (x: number | undefined) => (x === undefined ? '-' : `${x.toFixed(1)} Å`);

export function formatTimeline(t: CampaignTimeline): string {
  const header = ['run', 'iter', 'FSC 0.143', 'FSC 0.5', 'mean CCC', 'time', 'reused/computed', 'events'];
  const rows = t.iterations.map((r) => [
    String(r.run),
    r.iteration === 0 ? '0 (setup)' : String(r.iteration),
    angstrom(r.resolution0143),
    angstrom(r.resolution05),
    r.meanCcc === undefined ? '-' : r.meanCcc.toFixed(3),
    r.endMs === undefined ? 'running' : seconds(r.endMs - r.startMs),
    `${r.reused}/${r.computed}`,
    r.notes.join('; '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  const runs = t.runs.map((r) =>
    `run ${r.run}: ${r.runId} ${r.outcome}${r.endMs !== undefined ? ` after ${seconds(r.endMs - r.startMs)}` : ''}`);
  return [...runs, '', line(header), ...rows.map(line)].join('\n');
}
