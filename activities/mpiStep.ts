/**
 * A campaign step whose work is an MPI job (a driver's `runAlignment`/`runAverage` with `mpi` set), run as
 * an artifact-store step. The job is recorded in a pidfile inside the step directory, so a new attempt first
 * kills whatever a crashed earlier attempt (a worker killed with SIGKILL) left running; cancelling the
 * activity, or shutting the worker down, kills every rank before the activity returns. Heartbeats carry the
 * summed per-rank progress.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import type { Execution, MpiRanks } from '../drivers/execution.ts';
import type { ArtifactRef, StepResult } from '../io/artifacts.ts';
import { killStaleGroup } from '../mpi/launcher.ts';
import { campaignStep, heartbeatEvery, heartbeatIntervalMs, type Progress } from './common.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface MpiStepOptions {
  workdir: string;
  step: string;
  params: unknown;
  inputs: Record<string, ArtifactRef>;
  mpi: MpiRanks;
  /** Number of work items, for progress. */
  total: number;
  /** Runs the job in the step's temp dir with `exec`; returns the outputs it wrote there. */
  run(dir: string, exec: Execution & { mpi: MpiRanks }): Promise<Record<string, string>>;
}

export async function runMpiStep(opts: MpiStepOptions): Promise<StepResult> {
  const { store, key } = campaignStep(opts.workdir, opts.step, opts.params, opts.inputs);
  const pidfile = join(store.stepDir(key), 'mpirun.pid');
  // Before runStep clears the dead attempt's temp dir, which its orphaned ranks may still be writing into.
  await killStaleGroup(pidfile);
  return store.runStep(key, async (dir) => {
    let done = 0;
    const progress = (): Progress => ({ step: opts.step, done, total: opts.total, detail: `mpirun -np ${opts.mpi.np}` });
    const stopHeartbeat = heartbeatEvery(heartbeatIntervalMs(), progress);
    try {
      return await opts.run(dir, {
        mpi: opts.mpi,
        cwd: REPO_ROOT,
        pidfile,
        signal: Context.current().cancellationSignal,
        onProgress: (n) => {
          done = n;
        },
      });
    } finally {
      stopHeartbeat();
    }
  }, opts.step);
}
