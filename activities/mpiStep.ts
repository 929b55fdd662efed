/**
 * A campaign step whose work is an MPI job (a driver's `runAlignment`/`runAverage` with `mpi` set), run as
 * an artifact-store step.
 *
 * Each attempt records its job in a process record of its own — `<workdir>/processes/<workflow>/<activity>.
 * attempt-<n>.json` (mpi/processRecords.ts) — so a retry first deals with what a crashed earlier attempt of
 * the same activity (a worker killed with SIGKILL) left behind, and never touches the jobs of other campaigns
 * or other steps, even ones sharing the workdir and the step's cache key. Two identical steps running at once
 * share one computation: the store's step lock makes the second wait and reuse the first one's result.
 * Heartbeats carry the summed per-rank progress.
 *
 * Local jobs (mpirun on this host): a retry ends the orphaned mpirun and ranks before it starts its own job;
 * cancelling the activity, or shutting the worker down, kills every rank before the activity returns.
 *
 * Slurm jobs: the job's files live in `<workdir>/slurm/<step key>/` (shared by the compute nodes, and the same
 * for every attempt) and its name carries the step key, so a retry re-attaches to the job an earlier attempt
 * left queued or running — or collects the outputs of one that finished meanwhile — instead of submitting a
 * second one (mpi/slurmJob.ts). Once it has completed, the outputs move into the store's step directory.
 * Cancelling the campaign scancels the job; a worker that shuts down or loses its activity leaves it to the next
 * attempt. Heartbeats carry the job's state, queue wait and run time too.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Execution } from '../drivers/execution.ts';
import type { ArtifactRef, StepResult } from '../io/artifacts.ts';
import type { MpiRanks } from '../model/jobs.ts';
import { PreflightError } from '../mpi/preflight.ts';
import { killRecordedJob } from '../mpi/processRecords.ts';
import { SlurmCommandError } from '../mpi/slurmCommands.ts';
import { type SlurmJobStatus, slurmStatusText } from '../mpi/slurmJob.ts';
import { SLURM_JOB_PREFIX } from '../mpi/slurmScript.ts';
import { SlurmJobError } from '../mpi/slurmStates.ts';
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
  /** Runs the job in `dir` with `exec`; returns the outputs it wrote there (paths relative to `dir`). */
  run(dir: string, exec: Execution & { mpi: MpiRanks }): Promise<Record<string, string>>;
}

/** Heartbeat details of an MPI step: progress, and where its Slurm job is. */
export interface MpiStepProgress extends Progress {
  slurm?: SlurmJobStatus;
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

/** Records of earlier attempts of this activity. */
async function earlierAttempts(dir: string, activity: string, mine: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((name) => name.startsWith(`${activity}.attempt-`) && name.endsWith('.json'))
    .map((name) => join(dir, name))
    .filter((path) => path !== mine);
}

/** Ends the jobs that earlier attempts of this activity left running; a record that is not ours is refused. */
async function endEarlierAttempts(records: readonly string[]): Promise<void> {
  for (const path of records) {
    const outcome = await killRecordedJob(path);
    if (outcome.refused) Context.current().log.warn(`left alone: ${outcome.refused}`);
    else if (outcome.killed > 0) Context.current().log.info(`ended ${outcome.killed} processes of an earlier attempt (${path})`);
  }
}

/**
 * Cancellations after which a later attempt runs the step (the worker shuts down, the server gave up on this
 * attempt, the activity is paused): a Slurm job is left for it to re-attach to. A cancelled campaign, or an
 * activity the server no longer knows, ends it.
 */
function anotherAttemptFollows(reason: unknown): boolean {
  return reason instanceof CancelledFailure && ['WORKER_SHUTDOWN', 'TIMED_OUT', 'PAUSED'].includes(reason.message);
}

/** Failures a retry cannot fix: non-retryable, saying what to change. */
function nonRetryable(err: unknown): unknown {
  // Too many ranks or too little memory will not change on a retry; an unreachable host may come back.
  if (err instanceof PreflightError && err.kind !== 'hosts') return invalidInput(err.message, err);
  if (err instanceof SlurmJobError && !err.retryable) {
    return err.fix === 'cancelled'
      ? ApplicationFailure.create({ message: err.message, type: 'SlurmJobCancelled', nonRetryable: true, cause: err })
      : invalidInput(err.message, err);
  }
  // No Slurm here, or Slurm refuses the job as configured (partition, account, QOS, limits).
  if (err instanceof SlurmCommandError && err.kind !== 'failed') return invalidInput(err.message, err);
  return err;
}

export async function runMpiStep(opts: MpiStepOptions): Promise<StepResult> {
  const { store, key } = campaignStep(opts.workdir, opts.step, opts.params, opts.inputs);
  const records = processRecords(opts.workdir);
  const earlier = await earlierAttempts(records.dir, records.activity, records.mine);
  const slurm = opts.mpi.executor === 'slurm';
  // Before runStep clears the dead attempt's temp dir, which its orphaned ranks may still be writing into. A
  // Slurm job of an earlier attempt is the next attempt's to take over instead (mpi/slurmJob.ts).
  if (!slurm) await endEarlierAttempts(earlier);
  const result = await store.runStep(key, async (dir) => {
    let done = 0;
    let job: SlurmJobStatus | null = null;
    const progress = (): MpiStepProgress => ({
      step: opts.step, done, total: opts.total,
      ...(slurm ? { detail: job ? slurmStatusText(job) : 'submitting to Slurm', ...(job && { slurm: job }) } : { detail: `mpirun -np ${opts.mpi.np}` }),
    });
    const stopHeartbeat = heartbeatEvery(heartbeatIntervalMs(), progress);
    const exec: Execution & { mpi: MpiRanks } = {
      mpi: opts.mpi,
      boxSize: opts.boxSize,
      cwd: REPO_ROOT,
      record: records.mine,
      signal: Context.current().cancellationSignal,
      onProgress: (n) => {
        done = n;
      },
    };
    try {
      if (!slurm) return await opts.run(dir, exec);
      const jobDir = join(opts.workdir, 'slurm', key);
      await mkdir(jobDir, { recursive: true });
      const outputs = await opts.run(jobDir, {
        ...exec,
        jobName: `${SLURM_JOB_PREFIX}${opts.step}.${key}`,
        earlierRecords: earlier,
        leaveJobOnAbort: anotherAttemptFollows,
        onSlurmStatus: (s) => {
          job = s;
        },
        log: (message) => Context.current().log.info(message),
      });
      // The store commits the step directory it handed out: the outputs move there (same filesystem).
      for (const path of Object.values(outputs)) {
        await mkdir(dirname(join(dir, path)), { recursive: true });
        await rename(join(jobDir, path), join(dir, path));
      }
      await rm(jobDir, { recursive: true, force: true });
      return outputs;
    } catch (err) {
      throw nonRetryable(err);
    } finally {
      stopHeartbeat();
    }
  }, opts.step, { onWait: () => reportProgress({ step: opts.step, done: 0, total: opts.total, detail: 'waiting for an identical step' }) });
  // A step completed by someone else (reused) leaves jobs that earlier attempts recorded without a purpose.
  if (slurm) await endEarlierAttempts(earlier);
  return result;
}
