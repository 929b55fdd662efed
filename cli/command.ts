/** A `subtomo` subcommand: cli/commands/<name>.ts default-exports one, cli/run.ts registers it by name. */
import type { Args, FlagSpec } from '../os/args.ts';

export interface Command {
  summary: string;
  usage: string;
  /** Every flag the command accepts: anything else is refused before it runs. */
  flags: FlagSpec;
  run(args: Args): Promise<void>;
}
