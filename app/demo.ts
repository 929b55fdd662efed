/**
 * `npm run demo`: a reference-free averaging campaign on 20 simulated GroEL-like particles (64³, 6 Å) from
 * random initial poses, 3 iterations of FRM → MPI SAG refinement (2 ranks) → half averages → gold-standard
 * FSC → low-pass, as a durable Temporal workflow. Starts the dev server (or reuses a running one) and cpu +
 * mpi workers in this process, prints the resolution per iteration and the report path, and stops what it
 * started. Results are cached in .subtomo/demo/ (content-addressed): a second run reuses them; --fresh
 * starts from scratch.
 */
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../model/campaign.ts';
import { Args } from '../os/args.ts';
import { startCampaign, webUiUrl } from './campaignClient.ts';
import { resultSummary, watchCampaign } from './campaignWatch.ts';
import { startEmbeddedCampaignRunner } from './embedded.ts';

const say = (line: string) => process.stdout.write(`[demo] ${line}\n`);

export const DEMO_CONFIG = {
  name: 'demo-groel',
  workdir: fileURLToPath(new URL('../.subtomo/demo/', import.meta.url)),
  // 3 µm underfocus puts the first CTF zero at 24 Å (6 µm: 34 Å), so the alignment, not the CTF, limits the FSC.
  data: { particles: 20, size: 64, voxel: 6, snr: 0.1, defocus: 3, resolution: 20, maxShift: 3, tilt: 60, tiltStep: 2, seed: 1 },
  maxIterations: 3,
  patience: 3,
  alignment: { method: 'sag', bandwidth: 16, candidates: 4, maxShift: 4, mpiRanks: 2 },
  initialLowpass: 60,
  initialPoses: 'random',
  seed: 1,
};

async function main(argv: string[]): Promise<number> {
  const args = new Args(argv);
  const config = validateConfig(DEMO_CONFIG);
  if (args.has('fresh')) await rm(config.workdir, { recursive: true, force: true });

  const runner = await startEmbeddedCampaignRunner(args.int('port', 7233));
  const { client } = runner;
  say(`Temporal dev server ${runner.serverReused ? 'already running' : 'started'} at ${runner.address}; Web UI ${runner.uiUrl}`);
  say('cpu and mpi workers running in this process');
  process.once('SIGINT', () => {
    say('interrupted: stopping workers (the campaign stays in the server database and can be resumed)');
    void runner.stop().then(() => process.exit(130));
  });

  try {
    const started = performance.now();
    const handle = await startCampaign(client, config);
    say(`campaign ${handle.workflowId}: ${config.data.kind === 'simulate' ? config.data.particles : ''} particles, ` +
      `${config.maxIterations} iterations; Web UI ${webUiUrl(runner.address, handle.workflowId)}`);
    const result = await watchCampaign(client, handle.workflowId);
    if (!result) return 1;
    say(`finished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    say('resolution per iteration (gold-standard FSC 0.143 / 0.5):');
    for (const it of result.iterations) say(`  iteration ${it.iteration}: ${it.resolution0143.toFixed(1)} Å / ${it.resolution05.toFixed(1)} Å`);
    for (const line of resultSummary(result).split('\n')) say(line);
    return 0;
  } finally {
    await runner.stop();
  }
}

process.exitCode = await main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`[demo] ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
});
