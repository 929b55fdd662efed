/**
 * Entry point of `subtomo <command> …`: started by the `subtomo` bin (cli/subtomo.js, so `npx subtomo` works
 * from the repo) or `npx tsx cli/main.ts`. A closed stdout (e.g. `subtomo … | head -1`) ends it quietly.
 */
import { runCli } from './run.ts';

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
process.exitCode = await runCli(process.argv.slice(2));
