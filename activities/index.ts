/** Every campaign activity (workflows import this module as a type only; workers register the functions). */
export { simulateOrLoad, splitHalves } from './data.ts';
export { initialReferences, averageHalves, registerHalves, fsc, lowpassReference } from './references.ts';
export { frmCandidates, refine } from './align.ts';
export { report } from './report.ts';
