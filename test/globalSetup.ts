/**
 * Vitest globalSetup: ONE Temporal dev server for the whole run, on a free port with a throw-away SQLite
 * file, stopped at teardown. Tests get its address through `inject('temporalAddress')` (see
 * test/temporal-env.ts) and the TEMPORAL_ADDRESS environment variable. Without the Temporal CLI the run
 * still goes ahead: only tests that need the server fail, naming the missing binary.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort, startServer, stopServer, temporalBinary, type RunningServer } from '../infra/temporal.ts';
import { processAlive } from '../os/process.ts';

const STATE_PREFIX = 'subtomo-temporal-test-';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the shared dev server, or '' if it could not be started. */
    temporalAddress: string;
    /** Why there is no server ('' if there is one). */
    temporalUnavailable: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bin = temporalBinary();
  if (!existsSync(bin)) {
    const reason = `Temporal CLI not found at ${bin}: run infra/install.sh, or set SUBTOMO_TEMPORAL_BIN`;
    console.warn(`[globalSetup] ${reason}; tests that need Temporal will fail`);
    project.provide('temporalAddress', '');
    project.provide('temporalUnavailable', reason);
    return async () => {};
  }
  await reapOrphanedServers();
  const stateDir = await mkdtemp(join(tmpdir(), STATE_PREFIX));
  await writeFile(join(stateDir, 'owner.pid'), `${process.pid}\n`);
  let server: RunningServer | undefined;
  // A free port can be taken between probing and binding by a parallel run: try a few.
  for (let attempt = 0; !server; attempt++) {
    try {
      server = await startServer({
        port: await freePort(),
        ui: false,
        stateDir,
        dbFile: join(stateDir, 'db', 'temporal.sqlite'),
        readyTimeoutMs: 90_000,
      });
    } catch (err) {
      if (attempt >= 2 || !String(err).includes('already in use')) {
        await rm(stateDir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  console.log(`[globalSetup] Temporal dev server ${server.address} (pid ${server.pid}) ready in ${Math.round(server.startupMs)} ms`);
  project.provide('temporalAddress', server.address);
  project.provide('temporalUnavailable', '');
  process.env.TEMPORAL_ADDRESS = server.address;
  const running = server;
  return async () => {
    await running.stop({ graceMs: 0 }); // the database is thrown away: no need for a clean shutdown
    await rm(stateDir, { recursive: true, force: true });
  };
}

/**
 * A killed vitest (Ctrl-C twice, a closed pipe) never runs teardown and its detached server lives on: stop
 * servers of earlier runs whose owning vitest process is gone.
 */
async function reapOrphanedServers(): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (!name.startsWith(STATE_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const owner = Number(await readFile(join(dir, 'owner.pid'), 'utf8').catch(() => 'NaN'));
    if (!Number.isInteger(owner) || processAlive(owner)) continue;
    await stopServer(dir);
    await rm(dir, { recursive: true, force: true });
  }
}
