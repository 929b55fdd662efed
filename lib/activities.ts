/**
 * `subtomo/activities`: every subtomo activity, to register in your own worker (or use `subtomo/worker`, which
 * does), and the types your workflows call them with. Activities exchange artifact references (path + SHA-256)
 * of files in a content-addressed store (`workdir`), never volumes; each is cached by (step, code version,
 * params, input hashes), so calling one again with the same inputs reuses its result.
 *
 *   import type { SubtomoActivities } from 'subtomo/activities';
 *   const { fsc } = proxyActivities<SubtomoActivities>({ taskQueue: 'cpu', startToCloseTimeout: '1 hour' });
 */
import type * as activities from '../activities/index.ts';

export * from '../activities/index.ts';
export type SubtomoActivities = typeof activities;
export type { Progress, Reuse } from '../activities/common.ts';
export { INVALID_INPUT } from '../activities/common.ts';
export type { DataInput, DataResult, SplitResult } from '../activities/data.ts';
export type { CandidatesFile, FrmInput, RefineInput, RefineResult } from '../activities/align.ts';
export type { AverageHalvesInput, FscFile, FscResult, HalfAverages, HalfRefs, InitialReferencesInput, LowpassInput, MaskParams } from '../activities/references.ts';
export type { PostprocessInput, PostprocessStepResult } from '../activities/postprocess.ts';
export type { SweepRow, SweepTableFile } from '../activities/sweepTable.ts';
export type { ArtifactRef } from '../io/artifacts.ts';
