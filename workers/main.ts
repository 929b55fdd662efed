/**
 * Worker process: `npm run worker -- [--queue cpu|mpi|all] [--cpu-queue NAME] [--mpi-queue NAME]` plus the
 * connection flags of infra/connection.ts (--address, --namespace, --tls-ca, --tls-cert/--tls-key,
 * --tls-server-name, --api-key). The address defaults to TEMPORAL_ADDRESS, else 127.0.0.1:7233.
 * SIGINT/SIGTERM shut the workers down gracefully (in-flight activities get 10 s, then are cancelled).
 */
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { CONNECTION_FLAGS, connectionSettings } from '../infra/connection.ts';
import { Args, UsageError } from '../os/args.ts';
import { DEFAULT_QUEUES, type QueueRole } from '../workflows/queues.ts';
import { bundleCampaignWorkflows, createCampaignWorker } from './campaign.ts';

async function main(argv: string[]): Promise<void> {
  const args = new Args(argv, { values: ['queue', 'cpu-queue', 'mpi-queue', ...CONNECTION_FLAGS] });
  const which = args.string('queue', 'all');
  if (which !== 'cpu' && which !== 'mpi' && which !== 'all') throw new UsageError(`--queue must be cpu, mpi or all, got '${which}'`);
  const roles: QueueRole[] = which === 'all' ? ['cpu', 'mpi'] : [which];
  const { address, namespace, tls, apiKey } = connectionSettings(args);
  const queues = { cpu: args.string('cpu-queue', DEFAULT_QUEUES.cpu), mpi: args.string('mpi-queue', DEFAULT_QUEUES.mpi) };
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const connection = await NativeConnection.connect({ address, ...(tls && { tls }), ...(apiKey && { apiKey }) });
  const workflowBundle = roles.includes('cpu') ? await bundleCampaignWorkflows() : undefined;
  const workers: Worker[] = [];
  for (const role of roles) {
    workers.push(await createCampaignWorker({ connection, role, queues, workflowBundle, namespace }));
  }
  process.stdout.write(`worker ready: ${roles.map((r) => `${r} queue '${queues[r]}'`).join(', ')} at ${address} (pid ${process.pid})\n`);
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await connection.close();
  }
  process.stdout.write('worker stopped\n');
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`workers/main.ts: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
