/**
 * `subtomo/workflows`: subtomo's workflows (campaign, pipeline, pipelineNode) and what your own workflows use
 * to call subtomo steps: `subtomoStep` runs one step (simulate, load, extract, align, average, fsc,
 * postprocess) with the params of a pipeline node, on subtomo's queues, cached in the artifact store.
 *
 *   import { subtomoStep } from 'subtomo/workflows';
 *   export async function mine(workdir: string) {
 *     const data = await subtomoStep('simulate', { workdir, params: { particles: 12, size: 32, voxel: 12 } });
 *     const aligned = await subtomoStep('align', {
 *       workdir, inputs: { particles: data.particles, reference: data.reference }, params: { method: 'sag', bandwidth: 8, candidates: 2 },
 *     });
 *     return aligned.alignment.meanCcc;
 *   }
 *
 * A worker runs the workflows its bundle exports: to host subtomo's beside yours, re-export them from your
 * workflows module — `export { campaign, pipeline, pipelineNode } from 'subtomo/workflows';`.
 */
export { campaign, statusQuery, stopSignal, type CampaignInput, type CampaignResult, type CampaignStatus } from '../workflows/campaign.ts';
export {
  pipeline,
  pipelineNode,
  pipelineNodeStatusQuery,
  pipelineStatusQuery,
  type NodeStatus,
  type PipelineInput,
  type PipelineResult,
  type PipelineStatus,
} from '../workflows/pipeline.ts';
export { subtomoStep, type StepOutputs, type StepType, type SubtomoStepOptions } from '../workflows/pipelineSteps.ts';
export type * from '../workflows/pipelineValues.ts';
export { DEFAULT_QUEUES, type Queues } from '../workflows/queues.ts';
export type { CampaignConfig } from '../model/campaign.ts';
export type { PipelineSpec } from '../model/pipeline.ts';
