/**
 * Two tiny artifact-producing activities: the smallest real campaign step chain (write → transform), used to
 * check that the worker, the artifact store and resume-by-key work together end to end.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { ArtifactStore, verifyRef, type ArtifactRef } from '../io/artifacts.ts';

/** Bump when the activities' output for the same inputs changes, so stored results are not reused. */
export const SMOKE_CODE_VERSION = 'smoke-1';

export interface SmokeStepResult {
  ref: ArtifactRef;
  reused: boolean;
}

export async function writeTextArtifact(input: { campaignDir: string; text: string }): Promise<SmokeStepResult> {
  if (input.text.length === 0) throw ApplicationFailure.nonRetryable('smoke text is empty', 'InvalidInput');
  const store = new ArtifactStore(input.campaignDir);
  const key = store.key('smoke.write', SMOKE_CODE_VERSION, { text: input.text }, {});
  const step = await store.runStep(
    key,
    async (dir) => {
      await writeFile(join(dir, 'text.txt'), input.text);
      return { text: 'text.txt' };
    },
    'smoke.write',
  );
  return { ref: step.outputs.text, reused: step.reused };
}

export async function reverseTextArtifact(input: { campaignDir: string; source: ArtifactRef }): Promise<SmokeStepResult> {
  await verifyRef(input.source);
  const store = new ArtifactStore(input.campaignDir);
  const key = store.key('smoke.reverse', SMOKE_CODE_VERSION, {}, { source: input.source.sha256 });
  const step = await store.runStep(
    key,
    async (dir) => {
      const text = await readFile(input.source.path, 'utf8');
      await writeFile(join(dir, 'reversed.txt'), [...text].reverse().join(''));
      return { reversed: 'reversed.txt' };
    },
    'smoke.reverse',
  );
  return { ref: step.outputs.reversed, reused: step.reused };
}
