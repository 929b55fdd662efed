/**
 * A Temporal dev server (started, or reused when one is already listening) with the cpu and mpi campaign
 * workers running in this process: what `npm run demo` and bench/paper.ts need to run campaigns end to end
 * from one command. stop() shuts down what was started and leaves a reused server running.
 */
import type { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { startServer } from '../infra/temporal.ts';
import { bundleCampaignWorkflows, createCampaignWorker } from '../workers/campaign.ts';
import { connectClient } from './campaignClient.ts';

export interface EmbeddedCampaignRunner {
  client: Client;
  address: string;
  uiUrl: string | null;
  serverReused: boolean;
  stop: () => Promise<void>;
}

export async function startEmbeddedCampaignRunner(port: number): Promise<EmbeddedCampaignRunner> {
  const server = await startServer({ port });
  // ERROR: the callers report progress themselves; SDK warnings (e.g. that the mpi worker hosts no workflows) are noise here.
  Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
  const workerConnection = await NativeConnection.connect({ address: server.address });
  const workflowBundle = await bundleCampaignWorkflows();
  const workers = await Promise.all((['cpu', 'mpi'] as const).map((role) =>
    createCampaignWorker({ connection: workerConnection, role, workflowBundle })));
  const running = workers.map((w) => w.run());
  const { client, close } = await connectClient({ address: server.address, namespace: 'default' });
  return {
    client,
    address: server.address,
    uiUrl: server.uiUrl,
    serverReused: server.reused,
    stop: async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.allSettled(running);
      await close();
      await workerConnection.close();
      if (!server.reused) await server.stop();
    },
  };
}
