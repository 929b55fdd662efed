/**
 * `subtomo pipeline run|check|list|status|watch|history|resume|cancel`: DAGs of subtomo steps, sweeps and
 * campaigns declared in a pipeline file (docs/pipelines.md), run by the `pipeline` workflow on a Temporal server
 * (--address, else TEMPORAL_ADDRESS, else 127.0.0.1:7233). Workers must be running: `npm run worker`.
 */
import type { Client } from '@temporalio/client';
import { connectClient, webUiUrl } from '../../app/campaignClient.ts';
import { failureCause, isOpen } from '../../app/campaignWatch.ts';
import { PIPELINE_WORKFLOW, loadPipelineSpec, pipelineRuns, resumePipeline, startPipeline } from '../../app/pipelineClient.ts';
import { formatPipelineTimeline, pipelineTimeline } from '../../app/pipelineHistory.ts';
import { dagText, inputsText, pipelineSummary, watchPipeline } from '../../app/pipelineWatch.ts';
import { listRuns } from '../../app/searchAttributes.ts';
import { CONNECTION_FLAGS, CONNECTION_USAGE, connectionSettings } from '../../infra/connection.ts';
import { planPipeline } from '../../model/pipeline.ts';
import { type Args, UsageError } from '../../os/args.ts';
import { pipelineStatusQuery, type PipelineStatus, type pipeline } from '../../workflows/pipeline.ts';
import { DEFAULT_QUEUES } from '../../workflows/queues.ts';
import type { Command } from '../command.ts';

const usage = [
  'subtomo pipeline run FILE [--id ID [--rerun]] [--watch] [--cpu-queue cpu] [--mpi-queue mpi]',
  '       subtomo pipeline check FILE      (validate it and print its nodes; nothing starts)',
  '       subtomo pipeline list [--query "SubtomoBestResolution < 30"] | status ID | watch ID | history ID | resume ID [--no-wait] | cancel ID',
  `       connection: ${CONNECTION_USAGE}`,
].join('\n');

const out = (line = '') => process.stdout.write(`${line}\n`);

/** Follows a pipeline to its end; one that did not complete is an error (exit code 1) giving its cause. */
async function watchToEnd(client: Client, id: string): Promise<void> {
  const result = await watchPipeline(client, id);
  if (!result) throw new Error(`pipeline ${id} did not complete (see: subtomo pipeline status ${id}, subtomo pipeline history ${id})`);
  out(pipelineSummary(result, id));
}

function argument(args: Args, action: string, what: string): string {
  const value = args.positional[1];
  if (!value) throw new UsageError(`pipeline ${action} needs ${what}`);
  return value;
}

async function run(args: Args): Promise<void> {
  const action = args.positional[0];
  const connection = connectionSettings(args);
  const { address } = connection;
  if (action === 'run' || action === 'check') {
    if (args.has('rerun') && !args.has('id')) throw new UsageError('--rerun goes with --id (the pipeline to run again)');
    // Validate everything before connecting: a broken pipeline never starts a workflow.
    const spec = await loadPipelineSpec(argument(args, action, 'a pipeline file'));
    if (action === 'check') {
      const plan = planPipeline(spec);
      out(`pipeline ${spec.name}: ${plan.nodes.length} nodes, workdir ${spec.workdir}`);
      for (const n of plan.nodes) out(`  ${n.member ? '  ' : ''}${n.name}  ${n.type}${inputsText(n) ? `  ${inputsText(n)}` : ''}`);
      return;
    }
    const { client, close } = await connectClient(connection);
    try {
      const queues = { cpu: args.string('cpu-queue', DEFAULT_QUEUES.cpu), mpi: args.string('mpi-queue', DEFAULT_QUEUES.mpi) };
      const handle = await startPipeline(client, spec, { workflowId: args.optionalString('id'), rerun: args.has('rerun'), queues });
      out(`started pipeline ${spec.name}: workflow ID ${handle.workflowId}`);
      out(`Web UI: ${webUiUrl(address, handle.workflowId)}`);
      out(`follow it with: subtomo pipeline watch ${handle.workflowId}`);
      if (args.has('watch')) await watchToEnd(client, handle.workflowId);
    } finally {
      await close();
    }
    return;
  }
  if (!['list', 'status', 'watch', 'history', 'resume', 'cancel'].includes(action ?? '')) {
    throw new UsageError(action ? `unknown pipeline action '${action}'` : 'missing pipeline action');
  }
  const id = action === 'list' ? '' : argument(args, action ?? '', 'a workflow ID');
  const { client, close } = await connectClient(connection);
  try {
    const handle = client.workflow.getHandle<typeof pipeline>(id);
    switch (action) {
      case 'list':
        for (const line of await listRuns(client, PIPELINE_WORKFLOW, args.optionalString('query'))) out(line);
        break;
      case 'status': {
        const state = (await handle.describe()).status.name;
        // A completed pipeline's result is its final status; a running one answers the query.
        const status: PipelineStatus | null = state === 'COMPLETED' ? await handle.result()
          : isOpen(state) ? await handle.query(pipelineStatusQuery).catch(() => null) : null;
        if (status) {
          out(`pipeline ${status.name} (${id}): ${state.toLowerCase()}`);
          out(dagText(status));
          if (status.report) out(`report: ${status.report}`);
        } else {
          out(`pipeline ${id}: ${state.toLowerCase()}${isOpen(state) ? '' : `: ${await failureCause(client, id)}`}; node by node: subtomo pipeline history ${id}`);
        }
        out(`Web UI: ${webUiUrl(address, id)}`);
        break;
      }
      case 'watch':
        await watchToEnd(client, id);
        break;
      case 'history':
        out(formatPipelineTimeline(pipelineTimeline(await pipelineRuns(client, id))));
        break;
      case 'resume': {
        const { handle: resumed, resumedFrom } = await resumePipeline(client, id);
        out(`resumed pipeline ${id} (previous run ${resumedFrom}) as run ${resumed.firstExecutionRunId}: completed steps come from the artifact store`);
        out(`Web UI: ${webUiUrl(address, id)}`);
        if (!args.has('no-wait')) await watchToEnd(client, id);
        break;
      }
      case 'cancel': {
        const state = (await handle.describe()).status.name;
        if (!isOpen(state)) throw new Error(`pipeline ${id} is ${state.toLowerCase()}; only a running pipeline can be cancelled`);
        await handle.cancel();
        out(`cancellation of pipeline ${id} requested (its running steps and children are cancelled); resume it with: subtomo pipeline resume ${id}`);
        break;
      }
    }
  } finally {
    await close();
  }
}

const command: Command = {
  summary: 'DAGs of subtomo steps, sweeps and campaigns from a pipeline file, run durably on Temporal (run, watch, resume, …)',
  usage,
  flags: { values: ['id', 'cpu-queue', 'mpi-queue', 'query', ...CONNECTION_FLAGS], switches: ['watch', 'no-wait', 'rerun'] },
  run,
};

export default command;
