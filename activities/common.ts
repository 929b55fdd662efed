/**
 * What every campaign activity shares: the campaign's artifact store, the one way bad input becomes a
 * non-retryable failure, and progress reporting that heartbeats, yields the event loop (so heartbeats and
 * cancellation get through a CPU-bound loop) and stops at cancellation.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Volume } from '../core/volume.ts';
import { ArtifactChangedError, ArtifactStore, readVerified, verifyRef, type ArtifactRef, type StepResult } from '../io/artifacts.ts';
import { EmError } from '../io/em.ts';
import { MrcError } from '../io/mrc.ts';
import { parseVolume } from '../io/volumes.ts';

/** Bump when an activity's output for the same inputs changes, so stored results are not reused. */
export const CAMPAIGN_CODE_VERSION = 'campaign-4';

/** Failure type of bad user input (config, data files): never retried, the message names the culprit. */
export const INVALID_INPUT = 'InvalidInput';

export function invalidInput(message: string, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ message, type: INVALID_INPUT, nonRetryable: true, cause: cause instanceof Error ? cause : undefined });
}

/** What each activity returns besides its artifacts: whether the artifact store already had the result. */
export interface Reuse {
  reused: boolean;
}

/** Heartbeat details of campaign activities (the CLI's `watch` shows them). */
export interface Progress {
  step: string;
  done: number;
  total: number;
  detail?: string;
}

/** The campaign's store and the key of a step: (step, code version, params, input content hashes). */
export function campaignStep(
  workdir: string,
  step: string,
  params: unknown,
  inputs: Record<string, ArtifactRef>,
): { store: ArtifactStore; key: string } {
  const store = new ArtifactStore(workdir);
  const hashes = Object.fromEntries(Object.entries(inputs).map(([name, ref]) => [name, ref.sha256]));
  return { store, key: store.key(step, CAMPAIGN_CODE_VERSION, params, hashes) };
}

/**
 * Runs a store step for an activity: a complete earlier result with the same key is reused, otherwise `fn`
 * runs in a fresh temp dir and its outputs are committed atomically (see io/artifacts.ts).
 */
export async function runCampaignStep(
  workdir: string,
  step: string,
  params: unknown,
  inputs: Record<string, ArtifactRef>,
  fn: (tmpDir: string) => Promise<Record<string, string>>,
): Promise<StepResult> {
  const { store, key } = campaignStep(workdir, step, params, inputs);
  return store.runStep(key, fn, step);
}

/** Heartbeats progress, lets pending I/O (heartbeats, cancellation) through, and throws once cancelled. */
export async function reportProgress(progress: Progress): Promise<void> {
  const ctx = Context.current();
  ctx.heartbeat(progress);
  await yieldToEventLoop();
  if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
}

/**
 * Heartbeats `details()` every `intervalMs` until the returned function is called: for work that reports no
 * progress of its own while it runs (an MPI job between progress lines).
 */
export function heartbeatEvery(intervalMs: number, details: () => unknown): () => void {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(details()), intervalMs);
  return () => clearInterval(timer);
}

/**
 * Interval for heartbeats that are not tied to progress: a third of the heartbeat timeout, at most 2 s —
 * a heartbeat is also how a cancellation request reaches the activity.
 */
export function heartbeatIntervalMs(): number {
  const timeout = Context.current().info.heartbeatTimeoutMs;
  return Math.min(2_000, timeout ? Math.max(200, Math.floor(timeout / 3)) : 2_000);
}

/**
 * The non-retryable failure for an input that changed after it was recorded. When the input is the output of
 * an earlier step, that step is marked for recomputation first: the failed activity cannot recompute it (its
 * input refs are fixed in the workflow history), but `subtomo campaign resume` then will, instead of failing
 * the same way forever.
 */
async function changedInput(what: string, err: ArtifactChangedError): Promise<ApplicationFailure> {
  const producer = ArtifactStore.producerOf(err.ref.path);
  if (!producer) return invalidInput(`${what}: ${err.message}`, err);
  await producer.store.invalidate(producer.key, `read by a later step as ${what}: ${err.message}`);
  return invalidInput(
    `${what}: ${err.message}. The step that wrote it will be recomputed when the campaign is resumed (subtomo campaign resume).`,
    err,
  );
}

/** The input file behind `ref` unchanged since it was recorded, else a non-retryable failure naming it. */
export async function checkedRef(ref: ArtifactRef, what: string): Promise<ArtifactRef> {
  try {
    await verifyRef(ref);
  } catch (err) {
    if (err instanceof ArtifactChangedError) throw await changedInput(what, err);
    throw err;
  }
  return ref;
}

/** The bytes of an artifact, checked against its hash as they are read (see checkedRef for failures). */
async function verifiedBytes(ref: ArtifactRef, what: string): Promise<Uint8Array> {
  try {
    return await readVerified(ref);
  } catch (err) {
    if (err instanceof ArtifactChangedError) throw await changedInput(what, err);
    throw err;
  }
}

/** Reads a volume artifact, verified as it is read; a corrupt or changed file is a non-retryable failure naming it. */
export async function readVolumeArtifact(ref: ArtifactRef, what: string): Promise<Volume> {
  const bytes = await verifiedBytes(ref, what);
  try {
    return parseVolume(bytes, ref.path);
  } catch (err) {
    if (err instanceof MrcError || err instanceof EmError) throw invalidInput(`${what}: ${err.message}`, err);
    throw err;
  }
}

/** Parses a JSON artifact written by an earlier step, verified as it is read. */
export async function readJsonArtifact<T>(ref: ArtifactRef, what: string): Promise<T> {
  const bytes = await verifiedBytes(ref, what);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (err) {
    throw invalidInput(`${what} ${ref.path} is not valid JSON: ${(err as Error).message}`, err);
  }
}
