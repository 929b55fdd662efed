/**
 * `npx tsx infra/server.ts start|stop|status [options]` — manage the local Temporal dev server.
 *
 *   start  [--port 7233] [--ui-port PORT+1000] [--headless] [--ip 127.0.0.1 [--insecure-remote]] [--db FILE] [--state-dir DIR]
 *   stop   [--state-dir DIR]
 *   status [--state-dir DIR]      exit code 0 if serving, 1 otherwise
 */
import { Args, UsageError } from '../os/args.ts';
import { defaultStateDir, serverStatus, startServer, stopServer } from './temporal.ts';

const USAGE =
  'infra/server.ts start [--port 7233] [--ui-port N] [--headless] [--ip 127.0.0.1 [--insecure-remote]] [--db FILE] [--state-dir DIR]\n' +
  '       infra/server.ts stop|status [--state-dir DIR]';

async function main(argv: string[]): Promise<number> {
  const args = new Args(argv, {
    values: ['port', 'ui-port', 'ip', 'db', 'state-dir'],
    switches: ['headless', 'insecure-remote'],
  });
  const [action] = args.positional;
  const stateDir = args.string('state-dir', defaultStateDir());
  switch (action) {
    case 'start': {
      const s = await startServer({
        port: args.int('port', 7233),
        uiPort: args.has('ui-port') ? args.int('ui-port') : undefined,
        ui: !args.has('headless'),
        ip: args.string('ip', '127.0.0.1'),
        insecureRemote: args.has('insecure-remote'),
        dbFile: args.optionalString('db'),
        stateDir,
      });
      const how = s.reused ? 'already running' : `started in ${(s.startupMs / 1000).toFixed(2)} s`;
      process.stdout.write(
        `Temporal dev server ${how}\n  address  ${s.address}\n  web UI   ${s.uiUrl ?? '(headless)'}\n` +
          `  pid      ${s.pid}\n  database ${s.dbFile}\n  state    ${s.stateDir}\n`,
      );
      return 0;
    }
    case 'stop': {
      const wasRunning = await stopServer(stateDir);
      process.stdout.write(wasRunning ? 'Temporal dev server stopped\n' : `no Temporal dev server recorded in ${stateDir}\n`);
      return 0;
    }
    case 'status': {
      const st = await serverStatus(stateDir);
      if (!st.record || !st.running) {
        process.stdout.write(`not running (state dir ${st.stateDir})\n`);
        return 1;
      }
      const r = st.record;
      process.stdout.write(
        `${st.serving ? 'serving' : 'running but not answering'} at ${r.address} (pid ${r.pid}, since ${r.startedAt})\n` +
          `  web UI   ${r.uiPort === null ? '(headless)' : `http://${r.address.split(':')[0]}:${r.uiPort}`}\n  database ${r.dbFile}\n`,
      );
      return st.serving ? 0 : 1;
    }
    default:
      throw new UsageError(action ? `unknown action '${action}'` : 'missing action');
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`infra/server.ts: ${err.message}\nusage: ${USAGE}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`infra/server.ts: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
