/**
 * Lines a rank program prints for the launcher: `PROGRESS <json>` (streamed to the caller, e.g. as Temporal
 * heartbeat details) and `RESULT <json>` (a small summary, normally printed once by rank 0). Bulky results
 * belong in files or MPI collectives, not in stdout.
 */
export const PROGRESS_PREFIX = 'PROGRESS ';
export const RESULT_PREFIX = 'RESULT ';
/** Printed by every rank once MPI is up (withMpi): the launcher's start-up timeout and host names use it. */
export const READY_PREFIX = 'READY ';

export interface RankReady {
  rank: number;
  host: string;
  pid: number;
}

export function printReady(value: RankReady): void {
  process.stdout.write(`${READY_PREFIX}${JSON.stringify(value)}\n`);
}

export function printProgress(value: unknown): void {
  process.stdout.write(`${PROGRESS_PREFIX}${JSON.stringify(value)}\n`);
}

export function printResult(value: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(value)}\n`);
}

/** The JSON payload of a `<prefix><json>` line, or undefined if the line is not one (or its JSON is broken). */
export function parsePrefixedJson(prefix: string, line: string): unknown {
  if (!line.startsWith(prefix)) return undefined;
  try {
    return JSON.parse(line.slice(prefix.length));
  } catch {
    return undefined;
  }
}
