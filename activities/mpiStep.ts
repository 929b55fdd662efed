/**
 * A campaign step whose work is an MPI job (mpirun of a rank program on a job file), run as an artifact-store
 * step. The job is recorded in a pidfile inside the step directory, so a new attempt first kills whatever a
 * crashed earlier attempt (a worker killed with SIGKILL) left running; cancelling the activity, or shutting the
 * worker down, kills every rank before the activity returns. Heartbeats carry the summed per-rank progress.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import type { ArtifactRef, StepResult } from '../io/artifacts.ts';
import { killStaleGroup, runMpiJob } from '../mpi/launcher.ts';
import { campaignStep, heartbeatEvery, heartbeatIntervalMs, type Progress } from './common.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface MpiStepOptions {
  workdir: string;
  step: string;
  params: unknown;
  inputs: Record<string, ArtifactRef>;
  /** Rank program (absolute path). */
  entry: string;
  np: number;
  hostfile?: string;
  /** Number of work items, for progress (each rank reports `done` of its own share). */
  total: number;
  /** Writes the job file into the step's temp dir; returns its path and the outputs the job writes there. */
  writeJob(dir: string): Promise<{ jobFile: string; outputs: Record<string, string> }>;
}

export async function runMpiStep(opts: MpiStepOptions): Promise<StepResult> {
  const { store, key } = campaignStep(opts.workdir, opts.step, opts.params, opts.inputs);
  const pidfile = join(store.stepDir(key), 'mpirun.pid');
  // Before runStep clears the dead attempt's temp dir, which its orphaned ranks may still be writing into.
  await killStaleGroup(pidfile);
  return store.runStep(key, async (dir) => {
    const { jobFile, outputs } = await opts.writeJob(dir);
    const doneByRank = new Map<number, number>();
    const progress = (): Progress => ({
      step: opts.step,
      done: [...doneByRank.values()].reduce((a, b) => a + b, 0),
      total: opts.total,
      detail: `mpirun -np ${opts.np}`,
    });
    const stopHeartbeat = heartbeatEvery(heartbeatIntervalMs(), progress);
    try {
      await runMpiJob({
        np: opts.np,
        hostfile: opts.hostfile,
        entry: opts.entry,
        args: [jobFile],
        cwd: REPO_ROOT,
        pidfile,
        signal: Context.current().cancellationSignal,
        onProgress: (rank, p) => {
          const done = (p as { done?: unknown } | null)?.done;
          if (typeof done === 'number') doneByRank.set(rank, done);
        },
      });
    } finally {
      stopHeartbeat();
    }
    return outputs;
  }, opts.step);
}
