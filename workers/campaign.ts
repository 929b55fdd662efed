/**
 * subtomo's workers: a `cpu` worker runs the workflows (campaigns, pipelines) and every in-process activity, an
 * `mpi` worker the activities that launch mpirun (workflows/queues.ts decides which is which). One process may
 * host both. A user's own activities (pipeline `activity` nodes) can be registered beside subtomo's.
 */
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, Worker, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import * as activities from '../activities/index.ts';
import { DEFAULT_QUEUES, roleOf, type QueueRole, type Queues } from '../workflows/queues.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/**
 * Bundles the workflow code once per process; pass the bundle to every cpu worker of the process.
 * `workflowsPath`: a module of your own workflows instead of subtomo's (it may re-export them:
 * `export { campaign, pipeline, pipelineNode } from 'subtomo/workflows'`).
 */
export function bundleCampaignWorkflows(workflowsPath: string = WORKFLOWS_PATH): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
}

/** An activity function as a worker registers it. */
export type ActivityFunction = (...args: never[]) => Promise<unknown>;

/** The activities a worker of `role` registers. */
export function activitiesFor(role: QueueRole): Record<string, ActivityFunction> {
  return Object.fromEntries(Object.entries(activities).filter(([name]) => roleOf(name) === role));
}

export interface CampaignWorkerOptions {
  connection: NativeConnection;
  role: QueueRole;
  queues?: Partial<Queues>;
  /** Required for a cpu worker (it runs the workflows). */
  workflowBundle?: WorkflowBundleWithSourceMap;
  namespace?: string;
  /** Activities of your own (e.g. pipeline `activity` nodes), registered beside subtomo's; a name may not clash. */
  activities?: Record<string, ActivityFunction>;
}

export async function createCampaignWorker(opts: CampaignWorkerOptions): Promise<Worker> {
  const queues = { ...DEFAULT_QUEUES, ...opts.queues };
  if (opts.role === 'cpu' && !opts.workflowBundle) throw new Error('a cpu worker runs the workflows: pass workflowBundle');
  const own = activitiesFor(opts.role);
  const clash = Object.keys(opts.activities ?? {}).find((name) => name in activities);
  if (clash) throw new Error(`activity '${clash}' is one of subtomo's: give yours another name`);
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: queues[opts.role],
    activities: { ...own, ...opts.activities },
    ...(opts.role === 'cpu' ? { workflowBundle: opts.workflowBundle } : {}),
    // Campaign activities use every core they get (FRM, averaging in-process; mpirun across ranks): one at a
    // time per worker keeps heartbeats timely; run more workers for more throughput.
    maxConcurrentActivityTaskExecutions: 1,
    // Short steps finish on SIGTERM; a long MPI refinement is cancelled (its ranks killed) and retried elsewhere.
    shutdownGraceTime: '10 seconds',
    // Heartbeats carry cancellation requests back: send them at least every few seconds even when the
    // heartbeat timeout (dead-worker detection) is long.
    maxHeartbeatThrottleInterval: '3 seconds',
  });
}
