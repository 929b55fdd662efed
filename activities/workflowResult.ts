/**
 * The result of a workflow that already exists, read through the worker's client: how a pipeline adopts a
 * child that completed in an earlier run (resume, rerun) instead of running it again, keeping the original
 * child's history (and its measured wall times). Workflows cannot read another workflow's result themselves.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { invalidInput } from './common.ts';

/** Failure type while the workflow is still running: the caller retries later (with backoff) rather than wait here. */
export const STILL_RUNNING = 'StillRunning';

/**
 * The result of the completed workflow `workflowId` (its latest run). While it runs this fails with a
 * retryable StillRunning failure instead of waiting, so a worker slot is never held by a wait (the workflow
 * waited for may need that very slot); one that ended otherwise is InvalidInput.
 */
export async function workflowResult(input: { workflowId: string }): Promise<unknown> {
  const handle = Context.current().client.workflow.getHandle(input.workflowId);
  const state = (await handle.describe()).status.name;
  if (state === 'COMPLETED') return handle.result();
  if (state === 'RUNNING' || state === 'CONTINUED_AS_NEW') throw ApplicationFailure.retryable(`workflow ${input.workflowId} is still running`, STILL_RUNNING);
  throw invalidInput(`workflow ${input.workflowId} ended ${state.toLowerCase().replace(/_/g, ' ')}: resume the pipeline to run it again`);
}
