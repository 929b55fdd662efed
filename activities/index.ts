/** Every subtomo activity (workflows import this module as a type only; workers register the functions). */
export { simulateOrLoad, splitHalves } from './data.ts';
export { initialReferences, averageHalves, registerHalves, fsc, lowpassReference } from './references.ts';
export { frmCandidates, refine } from './align.ts';
export { initialClasses, classCandidates, refineClasses, assignClasses, averageClassHalves } from './classify.ts';
export { report } from './report.ts';
export { postprocessHalves } from './postprocess.ts';
export { sweepTable } from './sweepTable.ts';
export { pipelineReport } from './pipelineReport.ts';
export { workflowResult } from './workflowResult.ts';
export { volumeSampling } from './volumeSampling.ts';
export { importMap } from './importMap.ts';
