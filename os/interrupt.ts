/**
 * An AbortSignal that fires on SIGINT or SIGTERM (Ctrl-C, `kill`, a batch system ending the job), for
 * commands that start processes of their own: they pass it on (e.g. to the MPI launcher, which then ends every
 * rank) instead of leaving mpirun and its ranks running. `dispose` puts the default handlers back.
 */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => controller.abort(new Interrupted(name));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The reason of an interrupted command: exits with 128 + the signal number, as shells expect. */
export class Interrupted extends Error {
  readonly exitCode: number;
  constructor(readonly signalName: NodeJS.Signals) {
    super(`interrupted by ${signalName}; every process it started was ended`);
    this.name = 'Interrupted';
    this.exitCode = signalName === 'SIGINT' ? 130 : 143;
  }
}
