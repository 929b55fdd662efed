#!/usr/bin/env -S npx tsx
/** `subtomo <command> …` — each command lives in cli/commands/<name>.ts and is registered here. */
import { Args, UsageError } from './args.ts';

export interface Command {
  summary: string;
  usage: string;
  run(args: Args): Promise<void>;
}

const commands: Record<string, () => Promise<Command>> = {
  simulate: async () => (await import('./commands/simulate.ts')).default,
  mask: async () => (await import('./commands/mask.ts')).default,
  align: async () => (await import('./commands/align.ts')).default,
  average: async () => (await import('./commands/average.ts')).default,
  campaign: async () => (await import('./commands/campaign.ts')).default,
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const load = name ? commands[name] : undefined;
  if (!load) {
    const lines = await Promise.all(
      Object.entries(commands).map(async ([n, l]) => `  ${n.padEnd(10)} ${(await l()).summary}`),
    );
    process.stderr.write(`usage: subtomo <command> [options]\n\n${lines.join('\n')}\n`);
    process.exitCode = name ? 2 : 0;
    return;
  }
  const cmd = await load();
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
