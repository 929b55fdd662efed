/**
 * Reproduction of Lü et al. 2019 end to end (issue 7): `npm run paper` regenerates docs/results.md and every
 * figure in docs/results/ from three stages.
 *
 * 1. campaigns — reference-free averaging of the same simulated GroEL particles (SNR 0.003, ±60° and ±40°)
 *    through Temporal (embedded dev server + cpu/mpi workers, 2 MPI ranks) with each method: SAG, Xu (LM),
 *    Chen. Gold-standard FSC per iteration (Fig. 8), wall time per alignment pass (Fig. 6), final averages
 *    (Fig. 7), per-particle rotation errors against the simulation's true poses.
 * 2. accuracy — bench/accuracy.ts on the paper's six conditions (Tables 1–2).
 * 3. report — docs/results.md and its figures.
 *
 * Completed work is found, not recomputed: campaigns by a workflow id derived from their config (the Temporal
 * server keeps their histories), the accuracy stage by its plan in docs/results/accuracy/accuracy.json.
 *
 * Usage: npm run paper -- [--particles 50] [--snr 0.003] [--conditions 6:60,6:40,6:40:register] [--methods sag,lm,chen]
 *   [--iterations 12] [--patience 3] [--candidates 10] [--bandwidth 32] [--seed 1] [--pdb FILE|phantom]
 *   [--accuracy-particles 20] [--stages campaigns,accuracy,report] [--workdir .subtomo/paper]
 *   [--out docs] [--port 7233]
 * --conditions lists the simulated data sets as DEFOCUS_UM:TILT_DEG, with :register for registerHalves campaigns.
 * --pdb defaults to ../shared/data/1KP8.pdb (the paper's model), else ../shared/data/1OEL.pdb, else the phantom.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startEmbeddedCampaignRunner } from '../app/embedded.ts';
import { ALIGN_METHODS, type AlignMethod } from '../model/methods.ts';
import { Args, UsageError } from '../os/args.ts';
import { conditionKey } from './accuracy-report.ts';
import { type AccuracyReport, PAPER_CONDITIONS, readPlan, runAccuracy, writeOutputs } from './accuracy.ts';
import { type CampaignPlan, type CampaignRecord, type DataCondition, runPaperCampaign } from './paper-campaigns.ts';
import { writePaperReport } from './paper-report.ts';
import { REPO, parsePortableJson, portableJson, repoRelative } from './portablePaths.ts';

const STAGES = ['campaigns', 'accuracy', 'report'] as const;
/**
 * The paper's two tilt ranges at its 6 µm underfocus, and ±40° again with the campaign option registerHalves
 * (":register"), where the independent half references otherwise turn apart. `--conditions 3:60` would add ±60°
 * at 3 µm, where the first CTF zero (24 Å) lies beyond what the alignment reaches (at 6 µm it is at 34 Å).
 */
const DEFAULT_CONDITIONS = '6:60,6:40,6:40:register';
type Stage = (typeof STAGES)[number];

const SHARED_MODELS = ['1KP8.pdb', '1OEL.pdb'].map((f) => resolve(REPO, '../shared/data', f));

export interface PaperPlan {
  campaigns: CampaignPlan;
  accuracyArgs: string[];
  stages: Stage[];
  out: string;
  port: number;
  command: string;
}

function readPaperPlan(argv: readonly string[]): PaperPlan {
  const args = new Args(argv);
  const pdbFlag = args.optionalString('pdb');
  const pdb = pdbFlag === 'phantom' ? undefined : pdbFlag ? resolve(pdbFlag) : SHARED_MODELS.find((f) => existsSync(f));
  const methods = args.string('methods', 'sag,lm,chen').split(',') as AlignMethod[];
  for (const m of methods) if (!ALIGN_METHODS.includes(m)) throw new UsageError(`--methods: unknown method '${m}' (expected ${ALIGN_METHODS.join(', ')})`);
  const conditions = args.string('conditions', DEFAULT_CONDITIONS).split(',').map((text): DataCondition => {
    const [defocusText, tiltText, option, ...rest] = text.split(':');
    const [defocus, tiltDeg] = [Number(defocusText), Number(tiltText)];
    if (!(defocus > 0) || !(tiltDeg > 0 && tiltDeg <= 90) || (option !== undefined && option !== 'register') || rest.length > 0) {
      throw new UsageError(`--conditions: '${text}' is not DEFOCUS_UM:TILT_DEG[:register] with a positive defocus and a tilt in (0, 90]`);
    }
    return { defocus, tiltDeg, registerHalves: option === 'register' };
  });
  const stages = args.string('stages', STAGES.join(',')).split(',') as Stage[];
  for (const s of stages) if (!STAGES.includes(s)) throw new UsageError(`--stages: unknown stage '${s}' (expected ${STAGES.join(', ')})`);
  const out = resolve(args.string('out', join(REPO, 'docs')));
  const seed = args.int('seed', 1);
  const campaigns: CampaignPlan = {
    particles: args.int('particles', 50),
    snr: args.number('snr', 0.003),
    conditions,
    methods,
    maxIterations: args.int('iterations', 12),
    patience: args.int('patience', 3),
    candidates: args.int('candidates', 10),
    bandwidth: args.int('bandwidth', 32),
    ...(pdb ? { pdb } : {}),
    seed,
    workdir: resolve(args.string('workdir', join(REPO, '.subtomo/paper'))),
  };
  const accuracyArgs = [
    '--conditions', PAPER_CONDITIONS.map(conditionKey).join(','),
    '--particles', String(args.int('accuracy-particles', 20)),
    // Refinements binned to 32³ (12 Å voxels, Nyquist 24 Å, beyond the 60 Å reference): docs/accuracy/accuracy.md
    // measured 9.3 s vs 53–63 s CPU per particle at the full box and why 32³ rather than the automatic 16³.
    '--align-box', '32',
    '--seed', String(seed),
    ...(pdb ? ['--pdb', repoRelative(pdb)] : []),
    '--out', repoRelative(join(out, 'results/accuracy')),
  ];
  return { campaigns, accuracyArgs, stages, out, port: args.int('port', 7233), command: ['npm run paper --', ...argv].join(' ').replace(/ --$/, '') };
}

const log = (line: string) => process.stderr.write(`[paper] ${line}\n`);

const campaignsFile = (plan: PaperPlan) => join(plan.out, 'results/campaigns.json');
/** Keys whose values are paths in campaigns.json (artifact refs, configs, the plan) and accuracy.json. */
const CAMPAIGN_PATHS = ['path', 'workdir', 'pdb', 'star', 'reportPath'];
const ACCURACY_PATHS = ['out', 'pdb'];

async function campaignsStage(plan: PaperPlan): Promise<void> {
  const runner = await startEmbeddedCampaignRunner(plan.port);
  log(`Temporal dev server ${runner.serverReused ? 'already running' : 'started'} at ${runner.address}`);
  const records: CampaignRecord[] = [];
  try {
    for (const condition of plan.campaigns.conditions) {
      for (const method of plan.campaigns.methods) {
        records.push(await runPaperCampaign(runner.client, plan.campaigns, condition, method, log));
        await mkdir(join(plan.out, 'results'), { recursive: true });
        await writeFile(campaignsFile(plan), portableJson({ plan: plan.campaigns, records }, 1));
      }
    }
  } finally {
    await runner.stop();
  }
}

function samePlan(a: object, b: object): boolean {
  const strip = ({ out: _o, note: _n, ...rest }: Record<string, unknown>) => JSON.stringify(rest);
  return strip(a as Record<string, unknown>) === strip(b as Record<string, unknown>);
}

async function accuracyStage(plan: PaperPlan): Promise<void> {
  const accuracyPlan = readPlan(plan.accuracyArgs);
  const file = join(accuracyPlan.out, 'accuracy.json');
  const previous = await readFile(file, 'utf8').then((t) => parsePortableJson<AccuracyReport>(t, ACCURACY_PATHS), () => null);
  if (previous && samePlan(previous.plan, accuracyPlan) && previous.conditions.length === accuracyPlan.conditions.length) {
    log(`accuracy: ${file} already holds this plan (run ${previous.startedAt}); not recomputed`);
    return;
  }
  const command = ['npx', 'tsx', 'bench/accuracy.ts', ...plan.accuracyArgs].join(' ');
  const report = await runAccuracy(accuracyPlan, command, log, (partial) => writeOutputs(partial, false));
  await writeOutputs(report, true);
}

async function main(argv: string[]): Promise<void> {
  const plan = readPaperPlan(argv);
  log(`stages ${plan.stages.join(', ')}; model ${plan.campaigns.pdb ?? 'built-in phantom'}; workdir ${plan.campaigns.workdir}`);
  if (plan.stages.includes('campaigns')) await campaignsStage(plan);
  if (plan.stages.includes('accuracy')) await accuracyStage(plan);
  if (plan.stages.includes('report')) {
    const { records } = parsePortableJson<{ records: CampaignRecord[] }>(await readFile(campaignsFile(plan), 'utf8'), CAMPAIGN_PATHS);
    const accuracy = parsePortableJson<AccuracyReport>(await readFile(join(readPlan(plan.accuracyArgs).out, 'accuracy.json'), 'utf8'), ACCURACY_PATHS);
    const written = await writePaperReport({ plan, records, accuracy });
    log(`wrote ${written}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`[paper] ${err instanceof UsageError ? 'usage error' : 'error'}: ${(err as Error).stack ?? err}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
