/**
 * A campaign step whose work is an MPI job (a driver's `runAlignment`/`runAverage` with `mpi` set), run as
 * an artifact-store step.
 *
 * Each attempt records its job in a process record of its own — `<workdir>/processes/<workflow>/<activity>.
 * attempt-<n>.json` (mpi/processRecords.ts) — so a retry first ends whatever a crashed earlier attempt of the
 * same activity (a worker killed with SIGKILL) left running, and never touches the jobs of other campaigns
 * or other steps, even ones sharing the workdir and the step's cache key. Two identical steps running at once
 * share one computation: the store's step lock makes the second wait and reuse the first one's result.
 * Cancelling the activity, or shutting the worker down, kills every rank before the activity returns.
 * Heartbeats carry the summed per-rank progress.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import type { Execution } from '../drivers/execution.ts';
import type { ArtifactRef, StepResult } from '../io/artifacts.ts';
import type { MpiRanks } from '../model/jobs.ts';
import { PreflightError } from '../mpi/preflight.ts';
import { killRecordedJob } from '../mpi/processRecords.ts';
import { campaignStep, heartbeatEvery, heartbeatIntervalMs, invalidInput, reportProgress, type Progress } from './common.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface MpiStepOptions {
  workdir: string;
  step: string;
  params: unknown;
  inputs: Record<string, ArtifactRef>;
  mpi: MpiRanks;
  /** Box size of the volumes (memory check before the job starts). */
  boxSize: number;
  /** Number of work items, for progress. */
  total: number;
  /** Runs the job in the step's temp dir with `exec`; returns the outputs it wrote there. */
  run(dir: string, exec: Execution & { mpi: MpiRanks }): Promise<Record<string, string>>;
}

/** A workflow id as a file name: its safe characters kept, the rest replaced, length bounded. */
function fileNameOf(id: string): string {
  const safe = id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
  return safe === '.' || safe === '..' ? `_${safe}` : safe;
}

/** The process-record directory of this workflow and this attempt's record in it. */
function processRecords(workdir: string): { dir: string; activity: string; mine: string } {
  const info = Context.current().info;
  const dir = join(workdir, 'processes', fileNameOf(info.workflowExecution?.workflowId ?? 'outside-a-workflow'));
  const activity = fileNameOf(info.activityId);
  return { dir, activity, mine: join(dir, `${activity}.attempt-${info.attempt}.json`) };
}

/** Ends the jobs that earlier attempts of this activity left running; a record that is not ours is refused. */
async function endEarlierAttempts(dir: string, activity: string, mine: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const path = join(dir, name);
    if (!name.startsWith(`${activity}.attempt-`) || !name.endsWith('.json') || path === mine) continue;
    const outcome = await killRecordedJob(path);
    if (outcome.refused) Context.current().log.warn(`left alone: ${outcome.refused}`);
    else if (outcome.killed > 0) Context.current().log.info(`ended ${outcome.killed} processes of an earlier attempt (${name})`);
  }
}

export async function runMpiStep(opts: MpiStepOptions): Promise<StepResult> {
  const { store, key } = campaignStep(opts.workdir, opts.step, opts.params, opts.inputs);
  const records = processRecords(opts.workdir);
  // Before runStep clears the dead attempt's temp dir, which its orphaned ranks may still be writing into.
  await endEarlierAttempts(records.dir, records.activity, records.mine);
  return store.runStep(key, async (dir) => {
    let done = 0;
    const progress = (): Progress => ({ step: opts.step, done, total: opts.total, detail: `mpirun -np ${opts.mpi.np}` });
    const stopHeartbeat = heartbeatEvery(heartbeatIntervalMs(), progress);
    try {
      return await opts.run(dir, {
        mpi: opts.mpi,
        boxSize: opts.boxSize,
        cwd: REPO_ROOT,
        record: records.mine,
        signal: Context.current().cancellationSignal,
        onProgress: (n) => {
          done = n;
        },
      });
    } catch (err) {
      // Too many ranks or too little memory will not change on a retry; an unreachable host may come back.
      if (err instanceof PreflightError && err.kind !== 'hosts') throw invalidInput(err.message, err);
      throw err;
    } finally {
      stopHeartbeat();
    }
  }, opts.step, { onWait: () => reportProgress({ step: opts.step, done: 0, total: opts.total, detail: 'waiting for an identical step' }) });
}
