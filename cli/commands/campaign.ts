/**
 * `subtomo campaign start|list|status|watch|history|resume|cancel|stop`: durable reference-free averaging
 * campaigns (workflows/campaign.ts) on a Temporal server (--address, else TEMPORAL_ADDRESS, else
 * 127.0.0.1:7233). Workers must be running: `npx tsx workers/main.ts` (or `npm run demo`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Command } from '../main.ts';
import { Args, UsageError } from '../args.ts';
import { ProgressBar } from '../progress.ts';
import type { Progress } from '../../activities/common.ts';
import {
  ITERATION_STEPS,
  SETUP_STEPS,
  statusQuery,
  stopSignal,
  type campaign,
  type CampaignResult,
  type CampaignStatus,
  type IterationSummary,
} from '../../workflows/campaign.ts';
import {
  CAMPAIGN_WORKFLOW,
  campaignRuns,
  connectClient,
  decodePayload,
  loadCampaignConfig,
  resumeCampaign,
  startCampaign,
  temporalAddress,
  webUiUrl,
} from '../campaignClient.ts';
import { campaignTimeline, formatTimeline } from '../campaignHistory.ts';

const usage = [
  'subtomo campaign start --config FILE [--id ID] [--watch] [--cpu-queue cpu] [--mpi-queue mpi] [--address HOST:PORT]',
  '       subtomo campaign list | status ID | watch ID | history ID | resume ID [--no-wait] | cancel ID | stop ID',
].join('\n');

const out = (line = '') => process.stdout.write(`${line}\n`);
const angstrom = (x: number) => `${x.toFixed(1)} Å`;

export function iterationLine(h: IterationSummary): string {
  const what = h.iteration === 0 ? 'iteration 0 (start, initial poses)' : `iteration ${h.iteration}`;
  return `${what}: resolution ${angstrom(h.resolution0143)} (FSC 0.143), ${angstrom(h.resolution05)} (FSC 0.5)` +
    (h.meanCcc === undefined ? '' : `, mean CCC ${h.meanCcc.toFixed(3)}`) +
    `, ${h.reusedSteps} of ${h.reusedSteps + h.computedSteps} steps reused`;
}

/** Position of the campaign in its step sequence (setup steps, then 6 per iteration). */
function stepsDone(s: CampaignStatus): number {
  if (s.step === 'done') return SETUP_STEPS.length + s.maxIterations * ITERATION_STEPS.length;
  if (s.iteration === 0) return Math.max(0, SETUP_STEPS.indexOf(s.step));
  // The optional half registration counts as part of averaging: the bar's length does not depend on the config.
  const step = s.step === 'register' ? 'average' : s.step;
  return SETUP_STEPS.length + (s.iteration - 1) * ITERATION_STEPS.length + Math.max(0, ITERATION_STEPS.indexOf(step));
}

const OPEN = new Set(['RUNNING', 'CONTINUED_AS_NEW']);

/**
 * Live progress of a campaign (a progress bar from its `status` query and its running activity's heartbeat)
 * until it closes; prints each finished iteration and returns the result if it completed.
 */
export async function watchCampaign(client: Client, workflowId: string, intervalMs = 1000): Promise<CampaignResult | null> {
  const handle = client.workflow.getHandle<typeof campaign>(workflowId);
  let bar: ProgressBar | null = null;
  let printed = 0;
  for (;;) {
    const d = await handle.describe();
    if (!OPEN.has(d.status.name)) break;
    const status = await handle.query(statusQuery).catch(() => null);
    if (status) {
      for (; printed < status.history.length; printed++) out(iterationLine(status.history[printed]));
      bar ??= new ProgressBar(`campaign ${status.name}`, SETUP_STEPS.length + status.maxIterations * ITERATION_STEPS.length);
      // The running activity's heartbeat, if it is the step the query reports (describe and query race).
      const pending = d.raw.pendingActivities?.find((a) => a.activityId === `${status.iteration}.${status.step}`);
      const running = decodePayload<Progress>(pending?.heartbeatDetails?.payloads?.[0]);
      const activity = running ? ` ${running.done}/${running.total}` : '';
      bar.update(stepsDone(status), `iteration ${status.iteration} ${status.step}${activity}`);
    }
    await sleep(intervalMs);
  }
  const final = await handle.describe();
  if (final.status.name !== 'COMPLETED') {
    out(`campaign ${workflowId} ${final.status.name.toLowerCase()}`);
    return null;
  }
  const result = await handle.result();
  for (; printed < result.iterations.length; printed++) out(iterationLine(result.iterations[printed]));
  return result;
}

export function resultSummary(r: CampaignResult): string {
  return [
    `campaign ${r.name} finished (${r.stoppedBecause}) after ${r.iterations.filter((i) => i.iteration > 0).length} iteration(s): ` +
      `final ${angstrom(r.finalResolution)}, best ${angstrom(r.bestResolution)} (FSC 0.143)`,
    `steps: ${r.steps.reused} reused from the artifact store, ${r.steps.computed} computed`,
    `report: ${r.artifacts.reportPath}`,
  ].join('\n');
}

function printStatus(s: CampaignStatus, state: string): void {
  out(`campaign ${s.name}: ${state}, iteration ${s.iteration} of ${s.maxIterations}, step ${s.step}` +
    (s.stopRequested ? ' (stop requested)' : '') + (s.run > 0 ? `, run ${s.run + 1} (continued as new)` : ''));
  for (const h of s.history) out(`  ${iterationLine(h)}`);
  out(`  steps: ${s.steps.reused} reused, ${s.steps.computed} computed`);
  if (s.artifacts.reportPath) out(`  report: ${s.artifacts.reportPath}`);
}

function requireId(args: Args, action: string): string {
  const id = args.positional[1];
  if (!id) throw new UsageError(`campaign ${action} needs a workflow ID`);
  return id;
}

async function run(args: Args): Promise<void> {
  const action = args.positional[0];
  const address = temporalAddress(args.optionalString('address'));
  if (action === 'start') {
    // Validate everything before connecting: a bad config never starts a workflow.
    const config = await loadCampaignConfig(args.string('config'));
    const { client, close } = await connectClient(address);
    try {
      const queues = { cpu: args.string('cpu-queue', 'cpu'), mpi: args.string('mpi-queue', 'mpi') };
      const handle = await startCampaign(client, config, { workflowId: args.optionalString('id'), queues });
      out(`started campaign ${config.name}: workflow ID ${handle.workflowId}`);
      out(`Web UI: ${webUiUrl(address, handle.workflowId)}`);
      out(`follow it with: subtomo campaign watch ${handle.workflowId}`);
      if (args.has('watch')) {
        const result = await watchCampaign(client, handle.workflowId);
        if (result) out(resultSummary(result));
      }
    } finally {
      await close();
    }
    return;
  }
  if (!['list', 'status', 'watch', 'history', 'resume', 'cancel', 'stop'].includes(action ?? '')) {
    throw new UsageError(action ? `unknown campaign action '${action}'` : 'missing campaign action');
  }
  const id = action === 'list' ? '' : requireId(args, action);
  const { client, close } = await connectClient(address);
  try {
    const handle = client.workflow.getHandle<typeof campaign>(id);
    switch (action) {
      case 'list': {
        for await (const w of client.workflow.list({ query: `WorkflowType = '${CAMPAIGN_WORKFLOW}'` })) {
          out(`${w.workflowId}  ${w.status.name.padEnd(16)} started ${w.startTime.toISOString()}` +
            (w.closeTime ? `  closed ${w.closeTime.toISOString()}` : ''));
        }
        break;
      }
      case 'status': {
        const d = await handle.describe();
        if (OPEN.has(d.status.name)) printStatus(await handle.query(statusQuery), d.status.name.toLowerCase());
        else if (d.status.name === 'COMPLETED') out(resultSummary(await handle.result()));
        else out(`campaign ${id}: ${d.status.name.toLowerCase()}; see: subtomo campaign history ${id}`);
        out(`Web UI: ${webUiUrl(address, id)}`);
        break;
      }
      case 'watch': {
        const result = await watchCampaign(client, id);
        if (result) out(resultSummary(result));
        break;
      }
      case 'history':
        out(formatTimeline(campaignTimeline(await campaignRuns(client, id))));
        break;
      case 'resume': {
        const { handle: resumed, resumedFrom } = await resumeCampaign(client, id);
        out(`resumed campaign ${id} (previous run ${resumedFrom}) as run ${resumed.firstExecutionRunId}`);
        out(`Web UI: ${webUiUrl(address, id)}`);
        if (!args.has('no-wait')) {
          const result = await watchCampaign(client, id);
          if (result) out(resultSummary(result));
        }
        break;
      }
      case 'cancel':
      case 'stop': {
        const state = (await handle.describe()).status.name;
        if (!OPEN.has(state)) throw new Error(`campaign ${id} is ${state.toLowerCase()}; only a running campaign can be ${action === 'stop' ? 'stopped' : 'cancelled'}`);
        if (action === 'cancel') {
          await handle.cancel();
          out(`cancellation of campaign ${id} requested (its running MPI ranks are killed); resume it with: subtomo campaign resume ${id}`);
        } else {
          await handle.signal(stopSignal);
          out(`campaign ${id} will stop after its current iteration`);
        }
        break;
      }
    }
  } finally {
    await close();
  }
}

const command: Command = {
  summary: 'durable reference-free averaging campaigns on Temporal (start, watch, history, resume, …)',
  usage,
  run,
};

export default command;
