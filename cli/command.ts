/** A `subtomo` subcommand: cli/commands/<name>.ts default-exports one, cli/main.ts registers it by name. */
import type { Args } from '../os/args.ts';

export interface Command {
  summary: string;
  usage: string;
  run(args: Args): Promise<void>;
}
