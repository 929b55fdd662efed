/**
 * MPI across two hosts (docs/cluster.md): a second host made on this machine — a network namespace with its
 * own address, hostname and sshd (test/helpers/two-hosts.sh), sharing the filesystem as cluster nodes do.
 * Ranks on both hosts give the same poses, bit for bit, as one host; a link that goes down mid-job ends the job
 * within the watchdog period with an error naming the silent host; and a campaign runs across both hosts.
 * Skipped, saying why, where network namespaces or sshd are not available (not root, no CAP_NET_ADMIN).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCampaign } from '../app/campaignClient.ts';
import { groelPhantom } from '../core/phantom.ts';
import { radians } from '../core/rotate.ts';
import { densityModel } from '../core/simulate.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { type AlignTarget, alignJob, findCandidates, runAlignment } from '../drivers/align.ts';
import { writeSimulatedDataset } from '../drivers/simulate.ts';
import { readParticleStar } from '../io/particlestar.ts';
import { readVolume } from '../io/volumes.ts';
import type { MpiRanks } from '../model/jobs.ts';
import { MpiStallError } from '../mpi/launcher.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { TEST_HEARTBEAT, startWorkers, testQueues, tinyConfig } from './helpers/campaign.ts';
import { temporalAddress } from './temporal-env.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const script = fileURLToPath(new URL('./helpers/two-hosts.sh', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'subtomo-2h-'));
const hostDir = join(scratch, 'h2');

interface Hosts {
  local: string;
  remote: string;
  hostname: string;
  sshArgs: string;
}

/** Makes the second host, or says why it cannot be made here. */
function twoHosts(): Hosts | string {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (!existsSync('/usr/sbin/sshd')) return 'no /usr/sbin/sshd (apt-get install openssh-server; infra/install.sh does)';
  const up = spawnSync(script, ['up', hostDir], { encoding: 'utf8' });
  if (up.status !== 0) return `cannot make a network namespace here: ${up.stderr.trim().split('\n').pop()}`;
  const v = Object.fromEntries(up.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { local: v.LOCAL, remote: v.REMOTE, hostname: v.HOSTNAME, sshArgs: v.SSH_ARGS };
}

const hosts = twoHosts();
const skip = typeof hosts === 'string' ? hosts : null;
afterAll(() => {
  if (!skip) spawnSync(script, ['down', hostDir]);
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * The MPI settings of a job over both hosts: ssh with the test key. MPI's transports are kept to the two
 * hosts' addresses by subtomo itself (mpi/preflight.ts hostfileNetworks), so the link is all they can use.
 */
function acrossHosts(h: Hosts, extra: Partial<MpiRanks> = {}): MpiRanks {
  const hostfile = join(scratch, 'hosts');
  writeFileSync(hostfile, `${h.local} slots=1\n${h.remote} slots=1\n`);
  return { np: 2, hostfile, mca: { plm_rsh_args: h.sshArgs }, ...extra };
}

describe.skipIf(skip !== null)(`two hosts${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const h = hosts as Hosts;
  const data = join(scratch, 'data');
  let targets: AlignTarget[];

  beforeAll(async () => {
    execFileSync('mkdir', ['-p', data]);
    const config = {
      n: 24, voxelSize: 12, resolution: 30, tilt: symmetricTilt(60), tiltStep: radians(3), snr: 0.5, maxShift: 2, seed: 3,
      imaging: { ctf: null, mtf: false },
    };
    await writeSimulatedDataset(data, { config, count: 6, components: [{ label: 'phantom', source: 'phantom', model: densityModel(groelPhantom()), fraction: 1 }], weighting: 'atomic-number' });
    const star = await readParticleStar(join(data, 'particles.star'));
    targets = star.particles.map((p) => ({ name: p.imageName, path: p.path, tilt: p.tilt, reference: join(data, 'reference.mrc') }));
  });

  async function job(dir: string, candidates: number) {
    const settings = { method: 'lm' as const, candidates, bandwidth: 8, maxShift: 3, mask: { radius: 8, edge: 2 }, seed: 1 };
    const particles = await findCandidates(targets, settings, { reference: (p) => readVolume(p), particle: (t) => readVolume(t.path) });
    execFileSync('mkdir', ['-p', dir]);
    return alignJob(particles, settings, { results: join(dir, 'aligned.json'), star: join(dir, 'aligned.star') });
  }

  it('np 2 across two hosts gives the poses of one host, bit for bit', async () => {
    const here = await job(join(scratch, 'one-host'), 3);
    await runAlignment(here, { mpi: { np: 2 }, boxSize: 24 });
    const spread = await job(join(scratch, 'two-hosts'), 3);
    const outcome = await runAlignment(spread, { mpi: acrossHosts(h), boxSize: 24 });
    expect(readFileSync(spread.out, 'utf8')).toBe(readFileSync(here.out, 'utf8'));
    expect(readFileSync(spread.outStar!, 'utf8')).toBe(readFileSync(here.outStar!, 'utf8'));
    expect(outcome.ranks?.map((r) => r.pairs)).toEqual([9, 9]);
  });

  it('a link that goes down mid-job ends it within the watchdog period, naming the silent host', async () => {
    const long = await job(join(scratch, 'link-down'), 10);
    let downAt = 0;
    const error = await runAlignment(long, {
      mpi: acrossHosts(h, { stallTimeoutSeconds: 4 }),
      boxSize: 24,
      onProgress: (done, detail) => {
        if (downAt === 0 && done >= 2 && detail.startsWith('rank 1')) {
          downAt = Date.now();
          execFileSync(script, ['link', 'down', hostDir]);
        }
      },
    }).catch((e: unknown) => e);
    execFileSync(script, ['link', 'up', hostDir]);
    expect(downAt).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(MpiStallError);
    expect((error as MpiStallError).message).toMatch(new RegExp(`no progress from rank 1 \\(${h.hostname}\\) for 4 s`));
    expect((error as MpiStallError).hosts).toEqual([h.hostname]);
    expect(Date.now() - downAt).toBeLessThan(4_000 + 15_000);
  });

  it('a campaign runs its MPI steps across both hosts and ends as on one host', async () => {
    const env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
    const queues = testQueues('two-hosts');
    const workers = await startWorkers(env.nativeConnection, queues, await bundleCampaignWorkflows());
    try {
      const { hostfile, mca } = acrossHosts(h);
      const here = tinyConfig(join(scratch, 'campaign-one'), { maxIterations: 1 });
      const spread = tinyConfig(join(scratch, 'campaign-two'), {
        maxIterations: 1,
        alignment: { ...here.alignment, hostfile, mpi: { mca } },
      });
      const run = async (config: typeof here) => (await startCampaign(env.client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT })).result();
      const [one, two] = [await run(here), await run(spread)];
      expect(two.iterations.map((i) => i.resolution0143)).toEqual(one.iterations.map((i) => i.resolution0143));
      expect(readFileSync(two.artifacts.alignment!.path, 'utf8')).toBe(readFileSync(one.artifacts.alignment!.path, 'utf8'));
    } finally {
      await workers.stop();
      await env.teardown();
    }
  });
});
