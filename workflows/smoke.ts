/**
 * Smoke campaign: write a text artifact, then derive a reversed copy from it. Optionally holds between the
 * two steps until released by a signal, so a test can restart the server mid-campaign.
 */
import { condition, defineQuery, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type * as smokeActivities from '../activities/smoke.ts';
import type { ArtifactRef } from '../io/artifacts.ts';

const { writeTextArtifact, reverseTextArtifact } = proxyActivities<typeof smokeActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

export const releaseSmokeSignal = defineSignal('releaseSmoke');
export const smokeStageQuery = defineQuery<'writing' | 'holding' | 'reversing' | 'done'>('smokeStage');

export interface SmokeInput {
  campaignDir: string;
  text: string;
  holdAfterFirstStep?: boolean;
}

export interface SmokeResult {
  text: ArtifactRef;
  reversed: ArtifactRef;
  /** How many of the two steps were reused from the artifact store. */
  reusedSteps: number;
}

export async function smokePipeline(input: SmokeInput): Promise<SmokeResult> {
  let stage: 'writing' | 'holding' | 'reversing' | 'done' = 'writing';
  let released = !input.holdAfterFirstStep;
  setHandler(smokeStageQuery, () => stage);
  setHandler(releaseSmokeSignal, () => {
    released = true;
  });

  const written = await writeTextArtifact({ campaignDir: input.campaignDir, text: input.text });
  stage = 'holding';
  await condition(() => released);
  stage = 'reversing';
  const reversed = await reverseTextArtifact({ campaignDir: input.campaignDir, source: written.ref });
  stage = 'done';
  return { text: written.ref, reversed: reversed.ref, reusedSteps: Number(written.reused) + Number(reversed.reused) };
}
