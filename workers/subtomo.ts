/**
 * The worker factory of the library (`subtomo/worker`): every subtomo activity and workflow — or your own
 * workflows module — on the given task queues, with your own activities beside subtomo's, in one call.
 *
 *   const connection = await NativeConnection.connect({ address: 'localhost:7233' });
 *   const workflowsPath = fileURLToPath(new URL('./workflows.ts', import.meta.url));
 *   const workers = await createSubtomoWorkers({ connection, workflowsPath, activities: { myStep } });
 *   await workers.run();
 */
import type { NativeConnection, Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { DEFAULT_QUEUES, type QueueRole, type Queues } from '../workflows/queues.ts';
import { type ActivityFunction, bundleCampaignWorkflows, createCampaignWorker } from './campaign.ts';

export interface SubtomoWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  /** Task queues of the in-process work and of the MPI jobs (default 'cpu' and 'mpi'). */
  queues?: Partial<Queues>;
  /** Which queues this process serves (default both; the mpi one needs mpirun and the hostfile's hosts). */
  roles?: readonly QueueRole[];
  /**
   * Your workflows module, bundled instead of subtomo's; re-export subtomo's from it to run those too
   * (`export { campaign, pipeline, pipelineNode } from 'subtomo/workflows'`). Default: subtomo's workflows.
   */
  workflowsPath?: string;
  /** An existing bundle (bundleCampaignWorkflows) instead of bundling here; several processes' workers can share one. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Activities of your own, registered on every queue this process serves beside subtomo's. */
  activities?: Record<string, ActivityFunction>;
}

export interface SubtomoWorkers {
  workers: Worker[];
  queues: Queues;
  /** Runs every worker until they are shut down (or one fails, which stops the others). */
  run(): Promise<void>;
  /** Asks every running worker to stop (in-flight activities get their grace time); run() then resolves. */
  shutdown(): void;
}

/** Creates the workers of `roles` (each on its task queue); a cpu worker runs the workflows. */
export async function createSubtomoWorkers(opts: SubtomoWorkerOptions): Promise<SubtomoWorkers> {
  const queues: Queues = { ...DEFAULT_QUEUES, ...opts.queues };
  const roles = opts.roles ?? (['cpu', 'mpi'] as const);
  const workflowBundle = roles.includes('cpu') ? (opts.workflowBundle ?? (await bundleCampaignWorkflows(opts.workflowsPath))) : undefined;
  const workers: Worker[] = [];
  for (const role of roles) {
    workers.push(await createCampaignWorker({
      connection: opts.connection, role, queues, workflowBundle, ...(opts.namespace && { namespace: opts.namespace }),
      ...(opts.activities && { activities: opts.activities }),
    }));
  }
  const shutdown = () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  return {
    workers,
    queues,
    run: async () => {
      // A worker that fails takes the others down with it: half a worker process serves nobody well.
      const settled = await Promise.allSettled(workers.map((w) => w.run().catch((err: unknown) => {
        shutdown();
        throw err;
      })));
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    shutdown,
  };
}
