/**
 * subtomo as a library: a scratch project that depends on subtomo by path (a `file:` dependency) imports
 * `subtomo/worker` and `subtomo/workflows` by name, type-checks against them, and runs one subtomo step from
 * its own workflow on the shared dev server — under tsx, as a user's project would.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { temporalAddress } from './temporal-env.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
let scratch: string;

const WORKFLOWS = `import { subtomoStep, type Queues } from 'subtomo/workflows';

/** My own workflow: one subtomo step, its outputs typed by the step. */
export async function mySimulation(workdir: string, queues: Queues): Promise<{ count: number; set: string }> {
  const data = await subtomoStep('simulate', {
    workdir, queues, params: { particles: 4, size: 16, voxel: 12, resolution: 30, tiltStep: 5, snr: 1, maxShift: 1, seed: 3 },
  });
  return { count: data.particles.count, set: data.particles.set.path };
}
`;

const MAIN = `import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createSubtomoWorkers } from 'subtomo/worker';
import type { mySimulation } from './workflows.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });
const [address, queue, workdir] = process.argv.slice(2);
const queues = { cpu: queue + '-cpu', mpi: queue + '-mpi' };
const workers = await createSubtomoWorkers({
  connection: await NativeConnection.connect({ address }),
  queues,
  roles: ['cpu'],
  workflowsPath: fileURLToPath(new URL('./workflows.ts', import.meta.url)),
});
const running = workers.run();
const client = new Client({ connection: await Connection.connect({ address }) });
const result = await client.workflow.execute<typeof mySimulation>('mySimulation', {
  taskQueue: queues.cpu, workflowId: queue, args: [workdir, queues],
});
workers.shutdown();
await running;
process.stdout.write(JSON.stringify(result) + '\\n');
`;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'subtomo-scratch-'));
  await writeFile(join(scratch, 'package.json'), JSON.stringify({
    name: 'scratch', private: true, type: 'module',
    dependencies: { subtomo: `file:${REPO}`, '@temporalio/client': '1.24.0', '@temporalio/worker': '1.24.0', '@temporalio/workflow': '1.24.0' },
    devDependencies: { tsx: '4.20.3', typescript: '5.8.3', '@types/node': '20.19.1' },
  }, null, 2));
  // What `npm install` makes of these dependencies, without the network: the `file:` dependency as a symlink
  // to the checkout, the others linked to the checkout's installed copies (one copy of @temporalio/* in the
  // workflow bundle, as npm's deduplication would leave it).
  await mkdir(join(scratch, 'node_modules', '@types'), { recursive: true });
  await symlink(REPO, join(scratch, 'node_modules', 'subtomo'), 'dir');
  for (const dep of ['@temporalio', 'tsx', 'typescript', '@types/node']) await symlink(join(REPO, 'node_modules', dep), join(scratch, 'node_modules', dep), 'dir');
  await writeFile(join(scratch, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', strict: true, noEmit: true, skipLibCheck: true,
      // subtomo ships its TypeScript sources, which import each other with their .ts extensions.
      allowImportingTsExtensions: true, types: ['node'],
    },
    include: ['*.ts'],
  }, null, 2));
  await writeFile(join(scratch, 'workflows.ts'), WORKFLOWS);
  await writeFile(join(scratch, 'main.ts'), MAIN);
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

test('the scratch project type-checks against subtomo/worker and subtomo/workflows; misusing them is a type error', async () => {
  await writeFile(join(scratch, 'wrong.ts'), "import { subtomoStep } from 'subtomo/workflows';\nexport const x = () => subtomoStep('simulat', { workdir: '/w' });\n");
  const tsc = await run(process.execPath, [join(scratch, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', scratch], { cwd: scratch })
    .then(() => ({ stdout: '' }), (e: { stdout: string }) => e);
  await rm(join(scratch, 'wrong.ts'));
  // The project's own files, that is; subtomo's sources are checked by subtomo's own type check.
  const ours = tsc.stdout.split('\n').filter((l) => /^[\w-]+\.ts\(/.test(l));
  expect(ours.filter((l) => !l.startsWith('wrong.ts'))).toEqual([]);
  expect(ours.join('\n')).toMatch(/wrong\.ts.*'"simulat"' is not assignable/);
});

test('its own workflow runs a subtomo step on a worker made by subtomo/worker', async () => {
  const workdir = join(scratch, 'work');
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'main.ts', temporalAddress(), `scratch-${randomUUID().slice(0, 8)}`, workdir], { cwd: scratch });
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as { count: number; set: string };
  expect(result.count).toBe(4);
  expect(result.set.startsWith(join(workdir, 'work'))).toBe(true);
  expect(existsSync(result.set)).toBe(true);
  expect(JSON.parse(await readFile(result.set, 'utf8'))).toMatchObject({ boxSize: 16, voxelSize: 12 });
});
