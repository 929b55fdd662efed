/**
 * A Temporal dev server (started, or reused when one is already listening) with the cpu and mpi workers
 * running in this process: what `npm run demo` and bench/paper.ts need to run campaigns and pipelines end to
 * end from one command. stop() shuts down what was started and leaves a reused server running.
 */
import type { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { startServer } from '../infra/temporal.ts';
import type { ActivityFunction } from '../workers/campaign.ts';
import { createSubtomoWorkers } from '../workers/subtomo.ts';
import { connectClient } from './campaignClient.ts';

export interface EmbeddedCampaignRunner {
  client: Client;
  address: string;
  uiUrl: string | null;
  serverReused: boolean;
  stop: () => Promise<void>;
}

/** `activities`: your own, registered beside subtomo's (pipeline `activity` nodes, e.g. the paper's). */
export async function startEmbeddedCampaignRunner(port: number, activities?: Record<string, ActivityFunction>): Promise<EmbeddedCampaignRunner> {
  const server = await startServer({ port });
  // ERROR: the callers report progress themselves; SDK warnings (e.g. that the mpi worker hosts no workflows) are noise here.
  Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
  const workerConnection = await NativeConnection.connect({ address: server.address });
  const workers = await createSubtomoWorkers({ connection: workerConnection, ...(activities && { activities }) });
  const running = workers.run();
  const { client, close } = await connectClient({ address: server.address, namespace: 'default' });
  return {
    client,
    address: server.address,
    uiUrl: server.uiUrl,
    serverReused: server.reused,
    stop: async () => {
      workers.shutdown();
      await running.catch(() => undefined);
      await close();
      await workerConnection.close();
      if (!server.reused) await server.stop();
    },
  };
}
