/**
 * Reproduction of Lü et al. 2019 end to end (issue 7): `npm run paper` runs bench/paper-pipeline.yaml — one
 * durable `pipeline` workflow whose children (the nine campaigns) are visible in the Web UI — and regenerates
 * docs/results.md and every figure in docs/results/ from three nodes:
 *
 * 1. campaigns — reference-free averaging of the same simulated GroEL particles (SNR 0.003, ±60° and ±40°,
 *    and ±40° with registerHalves) with each method: SAG, Xu (LM), Chen, one at a time through the embedded
 *    dev server and its cpu/mpi workers (2 MPI ranks). Gold-standard FSC per iteration (Fig. 8), wall time per
 *    alignment pass (Fig. 6), final averages (Fig. 7), per-particle rotation errors against the true poses.
 * 2. accuracy — bench/accuracy.ts on the paper's six conditions (Tables 1–2).
 * 3. report — docs/results.md and its figures (bench/paper-report.ts).
 *
 * Completed work is found, not recomputed: the pipeline's workflow id is derived from the pipeline, so
 * running it again follows the running reproduction (a killed client resumes watching; the server retries
 * a killed worker's step) or runs a completed one again, adopting its completed campaigns (their histories
 * keep the measured wall times) and reusing every cached step; the accuracy node keeps results of the same
 * plan.
 *
 * Usage: npm run paper -- [--pipeline bench/paper-pipeline.yaml] [--port 7233]
 * A variant (fewer particles, other data sets or methods): a copy of the pipeline file, edited.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { startEmbeddedCampaignRunner } from '../app/embedded.ts';
import { startPipeline } from '../app/pipelineClient.ts';
import { pipelineSummary, watchPipeline } from '../app/pipelineWatch.ts';
import { Args, UsageError } from '../os/args.ts';
import type { CampaignPlan } from './paper-campaigns.ts';
import { PAPER_ACTIVITIES, PAPER_PIPELINE, paperPipeline, paperWorkflowId } from './paper-pipeline.ts';

/** What docs/results.md is generated from besides the records: the campaigns' plan, where it goes, the command. */
export interface PaperPlan {
  campaigns: CampaignPlan;
  /** The docs directory: results.md and results/ are written there. */
  out: string;
  command: string;
}

const log = (line: string) => process.stderr.write(`[paper] ${line}\n`);

async function main(argv: string[]): Promise<void> {
  const args = new Args(argv, { values: ['pipeline', 'port'] });
  const file = resolve(args.string('pipeline', PAPER_PIPELINE));
  const command = ['npm run paper --', ...argv].join(' ').replace(/ --$/, '');
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--pipeline ${file}: ${(err as Error).message}`);
  }
  // Validated before the server starts: a broken pipeline file starts nothing.
  const spec = await paperPipeline(raw, dirname(file), command).catch((err: Error) => {
    throw new UsageError(`pipeline ${file}: ${err.message}`);
  });
  const runner = await startEmbeddedCampaignRunner(args.int('port', 7233), PAPER_ACTIVITIES);
  log(`Temporal dev server ${runner.serverReused ? 'already running' : 'started'} at ${runner.address}${runner.uiUrl ? `; Web UI ${runner.uiUrl}` : ''}`);
  try {
    const workflowId = paperWorkflowId(spec);
    const state = await runner.client.workflow.getHandle(workflowId).describe().then((d) => d.status.name, () => null);
    if (state === 'RUNNING') {
      log(`pipeline ${workflowId} is running: following it`);
    } else {
      // Run again after completion or failure: its completed campaigns are adopted, its cached steps reused.
      await startPipeline(runner.client, spec, { workflowId, rerun: state === 'COMPLETED' });
      log(`pipeline ${workflowId} started${state ? ` (it had ${state.toLowerCase()} before: completed campaigns are adopted, cached steps reused)` : ''}`);
    }
    const result = await watchPipeline(runner.client, workflowId);
    if (!result) throw new Error(`pipeline ${workflowId} did not complete (see: npx subtomo pipeline history ${workflowId} --address ${runner.address})`);
    process.stdout.write(`${pipelineSummary(result, workflowId)}\n`);
  } finally {
    await runner.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`[paper] ${err instanceof UsageError ? 'usage error' : 'error'}: ${(err as Error).stack ?? err}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
