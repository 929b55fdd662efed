/**
 * The `subtomo <command> …` dispatcher: looks the command up, checks its flags against what it declares,
 * runs it, and turns failures into a message and an exit code (2 for usage errors, 1 otherwise, 0 for help).
 */
import { Args, UsageError } from '../os/args.ts';
import { Interrupted } from '../os/interrupt.ts';
import type { Command } from './command.ts';

const commands: Record<string, () => Promise<Command>> = {
  simulate: async () => (await import('./commands/simulate.ts')).default,
  extract: async () => (await import('./commands/extract.ts')).default,
  mask: async () => (await import('./commands/mask.ts')).default,
  align: async () => (await import('./commands/align.ts')).default,
  average: async () => (await import('./commands/average.ts')).default,
  expand: async () => (await import('./commands/expand.ts')).default,
  classify: async () => (await import('./commands/classify.ts')).default,
  fsc: async () => (await import('./commands/fsc.ts')).default,
  postprocess: async () => (await import('./commands/postprocess.ts')).default,
  campaign: async () => (await import('./commands/campaign.ts')).default,
  pipeline: async () => (await import('./commands/pipeline.ts')).default,
};

export const COMMANDS: readonly string[] = Object.keys(commands);

const HELP = new Set(['--help', '-h', 'help']);

export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

const PROCESS_OUTPUT: CliOutput = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

async function overview(): Promise<string> {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = await Promise.all(Object.entries(commands).map(async ([n, l]) => `  ${n.padEnd(width)}  ${(await l()).summary}`));
  return `usage: subtomo <command> [options]   (subtomo <command> --help for its options)\n\n${lines.join('\n')}\n`;
}

/** Runs `subtomo argv…`; resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliOutput = PROCESS_OUTPUT): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || HELP.has(name)) {
    io.out(await overview());
    return 0;
  }
  const load = commands[name];
  if (!load) {
    io.err(`subtomo: unknown command '${name}'\n${await overview()}`);
    return 2;
  }
  const cmd = await load();
  if (rest.some((a) => a === '--help' || a === '-h')) {
    io.out(`${cmd.summary}\nusage: ${cmd.usage}\n`);
    return 0;
  }
  try {
    await cmd.run(new Args(rest, cmd.flags));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`subtomo ${name}: ${err.message}\nusage: ${cmd.usage}\n`);
      return 2;
    }
    io.err(`subtomo ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof Interrupted ? err.exitCode : 1;
  }
}
