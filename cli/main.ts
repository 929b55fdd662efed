/**
 * `subtomo <command> …` — each command lives in cli/commands/<name>.ts and is registered here. Started by
 * the `subtomo` bin (cli/subtomo.js, so `npx subtomo` works from the repo) or `npx tsx cli/main.ts`.
 */
import { Args, UsageError } from '../os/args.ts';
import type { Command } from './command.ts';

const commands: Record<string, () => Promise<Command>> = {
  simulate: async () => (await import('./commands/simulate.ts')).default,
  mask: async () => (await import('./commands/mask.ts')).default,
  align: async () => (await import('./commands/align.ts')).default,
  average: async () => (await import('./commands/average.ts')).default,
  campaign: async () => (await import('./commands/campaign.ts')).default,
};

const HELP = new Set(['--help', '-h', 'help']);

async function overview(): Promise<string> {
  const lines = await Promise.all(Object.entries(commands).map(async ([n, l]) => `  ${n.padEnd(10)} ${(await l()).summary}`));
  return `usage: subtomo <command> [options]   (subtomo <command> --help for its options)\n\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || HELP.has(name)) {
    process.stdout.write(await overview());
    return;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`subtomo: unknown command '${name}'\n${await overview()}`);
    process.exitCode = 2;
    return;
  }
  const cmd = await load();
  if (rest.some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(`${cmd.summary}\nusage: ${cmd.usage}\n`);
    return;
  }
  try {
    await cmd.run(new Args(rest));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`subtomo ${name}: ${err.message}\nusage: ${cmd.usage}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`subtomo ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv.slice(2));
