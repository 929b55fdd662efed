/**
 * The activity nodes of the paper's pipeline (bench/paper-pipeline.yaml), registered by the workers of
 * `npm run paper` (bench/paper.ts) beside subtomo's:
 *
 * - paperAccuracy: the Tables 1–2 benchmark, bench/accuracy.ts run as a process of its own (it computes for
 *   minutes without yielding, which an activity cannot: its heartbeats and cancellation need the event
 *   loop). Results already in its `out` for the same plan are kept, as before.
 * - paperReport: docs/results.md and its figures from the campaigns (read back from the server: result,
 *   config, wall times from the history) and the benchmark — bench/paper-report.ts, unchanged.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Context } from '@temporalio/activity';
import { heartbeatEvery, heartbeatIntervalMs, invalidInput, readJsonArtifact } from '../activities/common.ts';
import type { SweepTableFile } from '../activities/sweepTable.ts';
import { resolvePipeline } from '../app/pipelineClient.ts';
import { refOf } from '../io/artifacts.ts';
import type { PipelineSpec } from '../model/pipeline.ts';
import { UsageError } from '../os/args.ts';
import type { ActivityNodeInput, ActivityNodeResult, NodeValue } from '../workflows/pipelineValues.ts';
import { conditionKey } from './accuracy-report.ts';
import { type AccuracyReport, PAPER_CONDITIONS, readPlan } from './accuracy.ts';
import { type CampaignPlan, type CampaignRecord, type DataCondition, readCampaignRecord } from './paper-campaigns.ts';
import { extensionsReport } from './paper-extensions.ts';
import { writePaperReport } from './paper-report.ts';
import type { PaperPlan } from './paper.ts';
import { REPO, parsePortableJson, portableJson, repoRelative } from './portablePaths.ts';

/** Keys whose values are paths in campaigns.json (artifact refs, configs, the plan) and accuracy.json. */
const CAMPAIGN_PATHS = ['path', 'workdir', 'pdb', 'star', 'reportPath'];
const ACCURACY_PATHS = ['out', 'pdb'];
/** Flags of bench/accuracy.ts that name files: resolved against the pipeline file, written relative to the repository. */
const ACCURACY_PATH_FLAGS = ['pdb', 'out'];
/** The order the flags are written in (the command is part of the results), then any others. */
const ACCURACY_FLAG_ORDER = ['conditions', 'particles', 'align-box', 'seed', 'pdb', 'defocus', 'ctf', 'out'];

const fileValue = async (path: string): Promise<NodeValue> => ({ type: 'file', file: await refOf(path) });

/**
 * The bench/accuracy.ts arguments of the node's params (flag → value): as written into the results (paths
 * relative to the repository, where the benchmark runs) and with absolute paths (to check the plan here).
 */
export function accuracyArgs(params: Record<string, unknown>, baseDir: string): { written: string[]; absolute: string[] } {
  const flags: Record<string, unknown> = { conditions: PAPER_CONDITIONS.map(conditionKey).join(','), ...params };
  const names = [...ACCURACY_FLAG_ORDER.filter((f) => f in flags), ...Object.keys(flags).filter((f) => !ACCURACY_FLAG_ORDER.includes(f))];
  const written: string[] = [];
  const absolute: string[] = [];
  for (const flag of names) {
    const value = flags[flag];
    if (typeof value !== 'string' && typeof value !== 'number') throw invalidInput(`params.${flag} must be a value of bench/accuracy.ts --${flag}, got ${JSON.stringify(value)}`);
    const path = ACCURACY_PATH_FLAGS.includes(flag) ? resolve(baseDir, String(value)) : undefined;
    written.push(`--${flag}`, path ? repoRelative(path) : String(value));
    absolute.push(`--${flag}`, path ?? String(value));
  }
  return { written, absolute };
}

function samePlan(a: object, b: object): boolean {
  const strip = ({ out: _o, note: _n, ...rest }: Record<string, unknown>) => JSON.stringify(rest);
  return strip(a as Record<string, unknown>) === strip(b as Record<string, unknown>);
}

/** Runs bench/accuracy.ts with `args` in the repository, heartbeating its last log line; cancellation kills it. */
function runAccuracyProcess(args: string[]): Promise<void> {
  const ctx = Context.current();
  let last = 'starting';
  const stop = heartbeatEvery(heartbeatIntervalMs(), () => ({ step: 'accuracy', done: 0, total: 1, detail: last }));
  return new Promise<void>((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/accuracy.ts', ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    child.stderr.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
      last = tail.trimEnd().split('\n').pop()?.slice(0, 200) ?? last;
    });
    const cancel = () => child.kill('SIGTERM');
    ctx.cancellationSignal.addEventListener('abort', cancel, { once: true });
    child.once('error', fail);
    child.once('exit', (code, signal) => {
      ctx.cancellationSignal.removeEventListener('abort', cancel);
      if (ctx.cancellationSignal.aborted) fail(ctx.cancellationSignal.reason);
      else if (code === 0) done();
      else fail(new Error(`bench/accuracy.ts ${args.join(' ')} ended with ${signal ?? `exit code ${code}`}: ${tail.trimEnd().split('\n').slice(-5).join(' | ')}`));
    });
  }).finally(stop);
}

/** The paper's Tables 1–2 benchmark (bench/accuracy.ts); an earlier result of the same plan is kept. */
export async function paperAccuracy(input: ActivityNodeInput): Promise<ActivityNodeResult> {
  const args = accuracyArgs(input.params, input.baseDir ?? REPO);
  let plan;
  try {
    plan = readPlan(args.absolute);
  } catch (err) {
    if (err instanceof UsageError) throw invalidInput(`bench/accuracy.ts: ${err.message}`, err);
    throw err;
  }
  const file = join(plan.out, 'accuracy.json');
  const previous = await readFile(file, 'utf8').then((t) => parsePortableJson<AccuracyReport>(t, ACCURACY_PATHS), () => null);
  if (previous && samePlan(previous.plan, plan) && previous.conditions.length === plan.conditions.length) {
    return { outputs: { accuracy: await fileValue(file) }, reused: true };
  }
  await runAccuracyProcess(args.written);
  return { outputs: { accuracy: await fileValue(file) }, reused: false };
}

/** The campaigns' plan as the report describes it, from their configs (conditions and methods in run order). */
function campaignPlan(records: readonly CampaignRecord[]): CampaignPlan {
  const c = records[0].config;
  if (c.data.kind !== 'simulate') throw new Error('the paper\'s campaigns simulate their data');
  const conditions: DataCondition[] = [];
  for (const r of records) {
    if (!conditions.some((x) => x.defocus === r.defocus && x.tiltDeg === r.tiltDeg && x.registerHalves === r.registerHalves)) {
      conditions.push({ defocus: r.defocus, tiltDeg: r.tiltDeg, registerHalves: r.registerHalves });
    }
  }
  return {
    particles: c.data.particles,
    snr: c.data.snr as number,
    conditions,
    methods: [...new Set(records.map((r) => r.method))],
    maxIterations: c.maxIterations,
    patience: c.patience,
    candidates: c.alignment.candidates,
    bandwidth: c.alignment.bandwidth,
    ...(typeof c.data.pdb === 'string' ? { pdb: c.data.pdb } : {}),
    seed: c.seed,
    workdir: c.workdir,
  };
}

/** docs/results.md and docs/results/* from the campaigns of the sweep's table and the accuracy benchmark. */
export async function paperReport(input: ActivityNodeInput): Promise<ActivityNodeResult> {
  const { campaigns, accuracy } = input.inputs;
  if (campaigns?.type !== 'table' || accuracy?.type !== 'file') throw invalidInput("paperReport takes the campaigns' table and the accuracy benchmark's file");
  const out = resolve(input.baseDir ?? REPO, String(input.params.out ?? 'docs'));
  const command = String(input.params.command ?? 'npm run paper');
  const stop = heartbeatEvery(heartbeatIntervalMs(), () => ({ step: 'report', done: 0, total: 1, detail: 'docs/results.md' }));
  try {
    const table = await readJsonArtifact<SweepTableFile>(campaigns.json, 'table of the campaigns');
    const client = Context.current().client;
    const read: CampaignRecord[] = [];
    for (const row of table.rows) read.push(await readCampaignRecord(client, row.workflowId));
    // Data set by data set, then method by method: the order the report's sections and campaigns.json follow.
    const plan: PaperPlan = { campaigns: campaignPlan(read), out, command };
    const conditionIndex = (r: CampaignRecord) => plan.campaigns.conditions.findIndex((c) => c.defocus === r.defocus && c.tiltDeg === r.tiltDeg && c.registerHalves === r.registerHalves);
    const records = [...read].sort((a, b) => conditionIndex(a) - conditionIndex(b) || plan.campaigns.methods.indexOf(a.method) - plan.campaigns.methods.indexOf(b.method));
    // Written, then read back as before the pipeline: the report sees the records as campaigns.json holds them.
    const file = join(out, 'results/campaigns.json');
    await mkdir(join(out, 'results'), { recursive: true });
    await writeFile(file, portableJson({ plan: plan.campaigns, records }, 1));
    const saved = parsePortableJson<{ records: CampaignRecord[] }>(await readFile(file, 'utf8'), CAMPAIGN_PATHS);
    const report = parsePortableJson<AccuracyReport>(await readFile(accuracy.file.path, 'utf8'), ACCURACY_PATHS);
    const written = await writePaperReport({ plan, records: saved.records, accuracy: report });
    return { outputs: { results: await fileValue(written) } };
  } finally {
    stop();
  }
}

/** The activities the paper's workers register (bench/paper-extensions.ts's report too). */
export const PAPER_ACTIVITIES = { paperAccuracy, paperReport, extensionsReport };

/** The paper's pipeline file. */
export const PAPER_PIPELINE = join(REPO, 'bench/paper-pipeline.yaml');

/**
 * A pipeline for `npm run paper` from a parsed pipeline file: paths resolved against `base`, validated, the
 * command line recorded in the report node's params (docs/results.md says how it was generated).
 */
export async function paperPipeline(raw: unknown, base: string, command: string): Promise<PipelineSpec> {
  const spec = await resolvePipeline(raw, base);
  const report = Object.values(spec.nodes).find((n) => n.type === 'activity' && n.activity === 'paperReport');
  if (report) report.params = { ...report.params, command };
  return spec;
}

/** The workflow id of a paper pipeline: its name and a hash of the pipeline, so running it again finds the run. */
export function paperWorkflowId(spec: PipelineSpec): string {
  return `${spec.name}-${createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 12)}`;
}
