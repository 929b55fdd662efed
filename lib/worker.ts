/**
 * `subtomo/worker`: workers that register every subtomo activity and workflow (or your workflows module) on
 * the given task queues, with your own activities beside subtomo's.
 *
 *   import { NativeConnection } from '@temporalio/worker';
 *   import { createSubtomoWorkers } from 'subtomo/worker';
 *   const connection = await NativeConnection.connect({ address: 'localhost:7233' });
 *   const workers = await createSubtomoWorkers({ connection, workflowsPath: fileURLToPath(new URL('./workflows.ts', import.meta.url)) });
 *   await workers.run();
 */
export { createSubtomoWorkers, type SubtomoWorkerOptions, type SubtomoWorkers } from '../workers/subtomo.ts';
export { bundleCampaignWorkflows as bundleSubtomoWorkflows, type ActivityFunction } from '../workers/campaign.ts';
export { DEFAULT_QUEUES, type QueueRole, type Queues } from '../workflows/queues.ts';
