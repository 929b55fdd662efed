/**
 * Following a campaign from a client: a live progress bar from the workflow's `status` query and its running
 * activity's heartbeat, a line per finished iteration, and the summary of a completed campaign. Shared by
 * `subtomo campaign`, the demo and the paper reproduction.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Progress } from '../activities/common.ts';
import { mergeText } from '../core/classMerge.ts';
import { halvesWarning } from '../model/campaign.ts';
import { ProgressBar } from '../os/progress.ts';
import {
  CLASS_ITERATION_STEPS,
  statusQuery,
  type campaign,
  type CampaignArtifacts,
  type CampaignResult,
  type CampaignStatus,
  type IterationSummary,
} from '../workflows/campaign.ts';
import type { ClassIterationSummary } from '../workflows/classification.ts';
import { decodePayload } from './campaignClient.ts';

const out = (line = '') => process.stdout.write(`${line}\n`);
const angstrom = (x: number) => `${x.toFixed(1)} Å`;
const degrees = (rad: number) => `${((rad * 180) / Math.PI).toFixed(1)}°`;

export function iterationLine(h: IterationSummary): string {
  const what = h.iteration === 0 ? 'iteration 0 (start, initial poses)' : `iteration ${h.iteration}`;
  const warning = halvesWarning(h.halvesAngle);
  return `${what}: resolution ${angstrom(h.resolution0143)} (FSC 0.143), ${angstrom(h.resolution05)} (FSC 0.5)` +
    (h.meanCcc === undefined ? '' : `, mean CCC ${h.meanCcc.toFixed(3)}`) +
    (h.halvesAngle === undefined ? '' : `, half maps ${degrees(h.halvesAngle)} apart`) +
    `, ${h.reusedSteps} of ${h.reusedSteps + h.computedSteps} steps reused` +
    (warning ? `\n  ${warning}` : '');
}

/** Steps of the averaging part: setup, then every iteration's steps. */
function averagingSteps(s: CampaignStatus): number {
  return s.setupSteps.length + s.maxIterations * s.iterationSteps.length;
}

/** Number of steps of the whole campaign (averaging, then its classification: a start and its iterations). */
function totalSteps(s: CampaignStatus): number {
  const classes = s.classificationIterations === undefined ? 0 : 1 + s.classificationIterations * CLASS_ITERATION_STEPS.length;
  return averagingSteps(s) + classes;
}

/** Position of the campaign in its step sequence. */
function stepsDone(s: CampaignStatus): number {
  if (s.step === 'done') return totalSteps(s);
  if (s.classification) {
    const done = s.classification.history.length;
    return averagingSteps(s) + Math.min(done, 1) + Math.max(0, done - 1) * CLASS_ITERATION_STEPS.length + Math.max(0, CLASS_ITERATION_STEPS.indexOf(s.step));
  }
  if (s.iteration === 0) return Math.max(0, s.setupSteps.indexOf(s.step));
  return s.setupSteps.length + (s.iteration - 1) * s.iterationSteps.length + Math.max(0, s.iterationSteps.indexOf(s.step));
}

/** A classification iteration's line: class sizes and resolutions, changes, and the Rand index when the truth is known. */
export function classIterationLine(h: ClassIterationSummary): string {
  const what = h.classIteration === 0 ? `iteration ${h.iteration} (starting classes)` : `iteration ${h.iteration} (classification ${h.classIteration})`;
  const classes = h.classes.map((k) => `${k.index + 1}: ${k.size} at ${angstrom(k.resolution)}`).join(', ');
  return `${what}: ${h.classes.length} classes (${classes})` +
    (h.changed === undefined ? '' : `, ${(100 * h.changed).toFixed(1)} % changed class`) +
    (h.meanCcc === undefined ? '' : `, mean CCC ${h.meanCcc.toFixed(3)}`) +
    (h.dropped && h.dropped.length > 0 ? `, dropped ${h.dropped.map((k) => k + 1).join(' ')}` : '') +
    (h.merged ?? []).map((m) => `, ${mergeText(m)}`).join('') +
    (h.ari === undefined ? '' : `, adjusted Rand index ${h.ari.toFixed(3)}`);
}

const OPEN = new Set(['RUNNING', 'CONTINUED_AS_NEW']);

export function isOpen(state: string): boolean {
  return OPEN.has(state);
}

/**
 * Live progress of a campaign until it closes; prints each finished iteration and returns the result if it
 * completed.
 */
export async function watchCampaign(client: Client, workflowId: string, intervalMs = 1000): Promise<CampaignResult | null> {
  const handle = client.workflow.getHandle<typeof campaign>(workflowId);
  let bar: ProgressBar | null = null;
  let printed = 0;
  let printedClasses = 0;
  for (;;) {
    const d = await handle.describe();
    if (!OPEN.has(d.status.name)) break;
    const status = await handle.query(statusQuery).catch(() => null);
    if (status) {
      for (; printed < status.history.length; printed++) out(iterationLine(status.history[printed]));
      const classes = status.classification?.history ?? [];
      for (; printedClasses < classes.length; printedClasses++) out(classIterationLine(classes[printedClasses]));
      bar ??= new ProgressBar(`campaign ${status.name}`, totalSteps(status));
      // The running activity's heartbeat, if it is the step the query reports (describe and query race).
      const pending = d.raw.pendingActivities?.find((a) => a.activityId === `${status.iteration}.${status.step}`);
      const running = decodePayload<Progress>(pending?.heartbeatDetails?.payloads?.[0]);
      // The heartbeat's detail: the particle in hand, or where a Slurm job is (queued, running, for how long).
      const activity = running ? ` ${running.done}/${running.total}${running.detail ? ` ${running.detail}` : ''}` : '';
      bar.update(stepsDone(status), `iteration ${status.iteration} ${status.step}${activity}`);
    }
    await sleep(intervalMs);
  }
  const final = await handle.describe();
  if (final.status.name !== 'COMPLETED') {
    out(`campaign ${workflowId} ${final.status.name.toLowerCase()}: ${await failureCause(client, workflowId)}`);
    return null;
  }
  const result = await handle.result();
  for (; printed < result.iterations.length; printed++) out(iterationLine(result.iterations[printed]));
  const classes = result.classification?.iterations ?? [];
  for (; printedClasses < classes.length; printedClasses++) out(classIterationLine(classes[printedClasses]));
  return result;
}

/**
 * Why a closed campaign did not complete: the failed step's own message (e.g. which file changed or which host
 * did not answer: the first application failure in the chain of causes), or how it was cancelled or terminated.
 */
export async function failureCause(client: Client, workflowId: string): Promise<string> {
  const error = await client.workflow.getHandle(workflowId).result().then(() => null, (err: unknown) => err);
  if (!(error instanceof Error)) return 'no failure recorded';
  let cause: Error = error;
  while (!(cause instanceof ApplicationFailure) && cause.cause instanceof Error) cause = cause.cause;
  return cause.message || cause.name;
}

/** Where the campaign's latest maps, FSC curve and report are: what a user opens next. */
function outputLines(artifacts: CampaignArtifacts, history: readonly IterationSummary[], indent = ''): string[] {
  const { averages, reportPath } = artifacts;
  const last = history[history.length - 1];
  return [
    ...(averages ? [
      `${indent}combined map: ${averages.combined.path}`,
      `${indent}half maps: ${averages.odd.path} ${averages.even.path}`,
    ] : []),
    ...(last ? [`${indent}FSC curve: ${last.fsc.path}`] : []),
    ...(reportPath ? [`${indent}report: ${reportPath}`] : []),
  ];
}

export function resultSummary(r: CampaignResult): string {
  return [
    `campaign ${r.name} finished (${r.stoppedBecause}) after ${r.iterations.filter((i) => i.iteration > 0).length} iteration(s): ` +
      `final ${angstrom(r.finalResolution)}, best ${angstrom(r.bestResolution)} (FSC 0.143)`,
    `steps: ${r.steps.reused} reused from the artifact store, ${r.steps.computed} computed`,
    ...outputLines(r.artifacts, r.iterations),
    ...(r.classification ? [
      `classification finished (${r.classification.stoppedBecause}): ${r.classification.classes.length} classes`,
      ...r.classification.classes.map((k) => `  class ${k.index + 1}: ${k.size} particles, ${angstrom(k.resolution)}: ${k.maps.combined.path}`),
    ] : []),
  ].join('\n');
}

/** Where a campaign is: its averaging iteration of the most it may run, or its classification iteration. */
export function progressText(s: CampaignStatus): string {
  if (s.step === 'initial-classes') return 'starting classes';
  if (!s.classificationIterations || !CLASS_ITERATION_STEPS.includes(s.step)) return `iteration ${s.iteration} of ${s.maxIterations}`;
  return `classification iteration ${s.classification?.history.length ?? 0} of ${s.classificationIterations}`;
}

export function statusSummary(s: CampaignStatus, state: string): string {
  return [
    `campaign ${s.name}: ${state}, ${progressText(s)}, step ${s.step}` +
      (s.stopRequested ? ' (stop requested)' : '') + (s.run > 0 ? `, run ${s.run + 1} (continued as new)` : ''),
    ...s.history.map((h) => `  ${iterationLine(h)}`),
    ...(s.classification?.history ?? []).map((h) => `  ${classIterationLine(h)}`),
    `  steps: ${s.steps.reused} reused, ${s.steps.computed} computed`,
    ...outputLines(s.artifacts, s.history, '  '),
  ].join('\n');
}
