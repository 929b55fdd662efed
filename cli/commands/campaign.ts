/**
 * `subtomo campaign start|list|status|watch|history|resume|cancel|stop`: durable reference-free averaging
 * campaigns (workflows/campaign.ts) on a Temporal server (--address, else TEMPORAL_ADDRESS, else
 * 127.0.0.1:7233). Workers must be running: `npm run worker` (or `npm run demo`).
 */
import type { Client } from '@temporalio/client';
import {
  CAMPAIGN_WORKFLOW,
  campaignRuns,
  connectClient,
  loadCampaignConfig,
  resumeCampaign,
  startCampaign,
  webUiUrl,
} from '../../app/campaignClient.ts';
import { campaignTimeline, formatTimeline } from '../../app/campaignHistory.ts';
import { isOpen, resultSummary, statusSummary, watchCampaign } from '../../app/campaignWatch.ts';
import { listRuns } from '../../app/searchAttributes.ts';
import { CONNECTION_FLAGS, CONNECTION_USAGE, connectionSettings } from '../../infra/connection.ts';
import { type Args, UsageError } from '../../os/args.ts';
import { statusQuery, stopSignal, type campaign } from '../../workflows/campaign.ts';
import { DEFAULT_QUEUES } from '../../workflows/queues.ts';
import type { Command } from '../command.ts';

const usage = [
  'subtomo campaign start --config FILE [--id ID [--rerun]] [--watch] [--cpu-queue cpu] [--mpi-queue mpi]',
  '       subtomo campaign list [--query "SubtomoBestResolution < 30 AND SubtomoMethod = \'sag\'"]',
  '       subtomo campaign status ID | watch ID | history ID | resume ID [--no-wait] | cancel ID | stop ID',
  `       connection: ${CONNECTION_USAGE}`,
].join('\n');

const out = (line = '') => process.stdout.write(`${line}\n`);

/** Follows a campaign to its end; one that did not complete is an error (exit code 1) giving its cause. */
async function watchToEnd(client: Client, id: string): Promise<void> {
  const result = await watchCampaign(client, id);
  if (!result) throw new Error(`campaign ${id} did not complete (see: subtomo campaign history ${id})`);
  out(resultSummary(result));
}

function requireId(args: Args, action: string): string {
  const id = args.positional[1];
  if (!id) throw new UsageError(`campaign ${action} needs a workflow ID`);
  return id;
}

async function run(args: Args): Promise<void> {
  const action = args.positional[0];
  const connection = connectionSettings(args);
  const { address } = connection;
  if (action === 'start') {
    if (args.has('rerun') && !args.has('id')) throw new UsageError('--rerun goes with --id (the campaign to run again)');
    // Validate everything before connecting: a bad config never starts a workflow.
    const config = await loadCampaignConfig(args.string('config'));
    const { client, close } = await connectClient(connection);
    try {
      const queues = { cpu: args.string('cpu-queue', DEFAULT_QUEUES.cpu), mpi: args.string('mpi-queue', DEFAULT_QUEUES.mpi) };
      const handle = await startCampaign(client, config, { workflowId: args.optionalString('id'), rerun: args.has('rerun'), queues });
      out(`started campaign ${config.name}: workflow ID ${handle.workflowId}`);
      out(`Web UI: ${webUiUrl(address, handle.workflowId)}`);
      out(`follow it with: subtomo campaign watch ${handle.workflowId}`);
      if (args.has('watch')) await watchToEnd(client, handle.workflowId);
    } finally {
      await close();
    }
    return;
  }
  if (!['list', 'status', 'watch', 'history', 'resume', 'cancel', 'stop'].includes(action ?? '')) {
    throw new UsageError(action ? `unknown campaign action '${action}'` : 'missing campaign action');
  }
  const id = action === 'list' ? '' : requireId(args, action);
  const { client, close } = await connectClient(connection);
  try {
    const handle = client.workflow.getHandle<typeof campaign>(id);
    switch (action) {
      case 'list':
        for (const line of await listRuns(client, CAMPAIGN_WORKFLOW, args.optionalString('query'))) out(line);
        break;
      case 'status': {
        const d = await handle.describe();
        if (isOpen(d.status.name)) out(statusSummary(await handle.query(statusQuery), d.status.name.toLowerCase()));
        else if (d.status.name === 'COMPLETED') out(resultSummary(await handle.result()));
        else out(`campaign ${id}: ${d.status.name.toLowerCase()}; see: subtomo campaign history ${id}`);
        out(`Web UI: ${webUiUrl(address, id)}`);
        break;
      }
      case 'watch': {
        await watchToEnd(client, id);
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
          await watchToEnd(client, id);
        }
        break;
      }
      case 'cancel':
      case 'stop': {
        const state = (await handle.describe()).status.name;
        if (!isOpen(state)) throw new Error(`campaign ${id} is ${state.toLowerCase()}; only a running campaign can be ${action === 'stop' ? 'stopped' : 'cancelled'}`);
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
  flags: { values: ['config', 'id', 'cpu-queue', 'mpi-queue', 'query', ...CONNECTION_FLAGS], switches: ['watch', 'no-wait', 'rerun'] },
  run,
};

export default command;
