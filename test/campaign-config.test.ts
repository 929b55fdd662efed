import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadCampaignConfig } from '../app/campaignClient.ts';
import { validateConfig } from '../model/campaign.ts';
import { CLASSIFY_DEFAULTS } from '../model/defaults.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'subtomo-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The smallest data section: a simulated set with every default. */
const SIMULATED = { kind: 'simulate' };

describe('validateConfig', () => {
  test('a validated config is JSON data and validating it again changes nothing', () => {
    for (const raw of [
      { workdir: 'w', data: { snr: 'inf', tilt: 45 } },
      { workdir: 'w', data: { star: 'p.star' }, alignment: { hostfile: 'hosts' }, initialPoses: 'identity', seed: 7 },
    ]) {
      const config = validateConfig(raw);
      const travelled = JSON.parse(JSON.stringify(config));
      expect(travelled).toEqual(config);
      expect(validateConfig(travelled)).toEqual(config);
    }
  });

  test('defaults of the campaign fields', () => {
    const c = validateConfig({ workdir: 'w', data: SIMULATED });
    expect(c).toMatchObject({ seed: 1, initialPoses: 'random', initialLowpass: 60, maxIterations: 3, patience: 3 });
    expect(c.data).toMatchObject({ kind: 'simulate', snr: 0.01, defocus: 6, tiltMin: -60, tiltMax: 60 });
    expect(validateConfig({ workdir: 'w', data: { snr: 'Infinity' } }).data).toMatchObject({ snr: 'inf' });
  });

  test('data is required, names are path-safe, sizes and rank counts are bounded', () => {
    expect(() => validateConfig({ workdir: 'w' })).toThrow(/'data': is required: \{ star: particles\.star \}/);
    for (const name of ['.', '..', '-x', 'a/b']) {
      expect(() => validateConfig({ workdir: 'w', data: SIMULATED, name })).toThrow(/'name': must start with a letter or digit/);
    }
    expect(() => validateConfig({ workdir: 'w', data: { size: 100000 } })).toThrow(/'data\.size': must be an even integer from 16 to 512, got 100000/);
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, alignment: { mpiRanks: 1000000 } })).toThrow(/'alignment\.mpiRanks': must be an integer from 1 to 4096/);
  });

  test('alignment.mpi: MCA parameters, mpirun arguments and timeouts, validated', () => {
    const mpi = { mca: { btl_tcp_if_include: 'eth0', plm_rsh_args: '-p 2222' }, args: ['--map-by', 'node'], readyTimeout: 30, stallTimeout: 120 };
    expect(validateConfig({ workdir: 'w', data: SIMULATED, alignment: { mpi } }).alignment.mpi).toEqual(mpi);
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, alignment: { mpi: { mca: { 'a-b': 1 } } } })).toThrow(/'alignment\.mpi\.mca\.a-b': is not an OpenMPI parameter name/);
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, alignment: { mpi: { args: '--map-by node' } } })).toThrow(/'alignment\.mpi\.args': must be a list of strings/);
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, alignment: { mpi: { stallTimeout: 0 } } })).toThrow(/'alignment\.mpi\.stallTimeout': must be positive/);
  });

  test('errors name the field', () => {
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, initialPoses: 'spiral' })).toThrow(/'initialPoses': must be one of random, identity, star, got 'spiral'/);
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, seed: -1 })).toThrow(/'seed': must be an integer in \[0, 2³²\), got -1/);
    expect(() => validateConfig({ workdir: 'w', data: { kind: 'mrc' } })).toThrow(/'data\.kind': must be 'simulate' or 'star', got "mrc"/);
    expect(() => validateConfig({ workdir: 'w', data: { defocus: 0 } })).toThrow(/'data\.defocus': must be positive, got 0/);
  });
});

describe('alignment.sag', () => {
  test('is kept when set, validated, and absent when not set (so configs without it keep their ids)', () => {
    expect(validateConfig({ workdir: 'w', data: SIMULATED }).alignment.sag).toBeUndefined();
    expect(validateConfig({ workdir: 'w', data: SIMULATED, alignment: { sag: {} } }).alignment.sag).toBeUndefined();
    const sag = { batchSize: 8, maxEpochs: 20, tolerance: 1e-6, lambda: 0.5 };
    expect(validateConfig({ workdir: 'w', data: SIMULATED, alignment: { sag } }).alignment.sag).toEqual(sag);
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, alignment: { sag: { batch: 8 } } }))
      .toThrow(/'alignment\.sag\.batch': is not a known field \(known: batchSize, maxEpochs, tolerance, gradientTolerance, lambda\)/);
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, alignment: { sag: { batchSize: 0 } } })).toThrow(/'alignment\.sag\.batchSize': must be a positive integer, got 0/);
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, alignment: { sag: { maxEpochs: 2.5 } } })).toThrow(/'alignment\.sag\.maxEpochs': must be a non-negative integer, got 2\.5/);
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, alignment: { sag: { lambda: -1 } } })).toThrow(/'alignment\.sag\.lambda': must be ≥ 0, got -1/);
  });
});

describe('classification', () => {
  test('takes its defaults, keeps refine only when false, and names a bad field', () => {
    const config = (classification: unknown) => validateConfig({ workdir: 'w', data: SIMULATED, classification });
    expect(config({ classes: 4 }).classification).toEqual({ classes: 4, iterations: CLASSIFY_DEFAULTS.iterations });
    expect(config({ classes: 4, refine: true }).classification).toEqual({ classes: 4, iterations: CLASSIFY_DEFAULTS.iterations });
    expect(config({ classes: 4, refine: false }).classification).toMatchObject({ refine: false });
    expect(() => config({ classes: 4, refine: 'no' })).toThrow(/'classification\.refine': must be true or false, got "no"/);
    expect(config({ classes: 4, lowpass: 30, merge: false }).classification).toMatchObject({ lowpass: 30, merge: false });
    expect(config({ classes: 4, merge: 0.9 }).classification).toMatchObject({ merge: 0.9 });
    expect(() => config({ classes: 4, merge: 0 })).toThrow(/'classification\.merge': must be a positive similarity \(1 = one structure\) or false, got 0/);
    expect(() => config({ classes: 4, lowpass: -5 })).toThrow(/'classification\.lowpass'/);
    expect(() => config({ classes: 0 })).toThrow(/'classification\.classes': must be an integer from 1 to 100, got 0/);
    expect(() => config({ classes: 2, minClassSize: 1 })).toThrow(/'classification\.minClassSize': must be an integer ≥ 2/);
    expect(() => config({ classes: 2, klasses: 3 })).toThrow(/'classification\.klasses': is not a known field/);
  });
});

describe('simulated mixtures', () => {
  test('data.pdb lists the models, with fractions and assembly per model; the lists must match it', () => {
    const data = { pdb: ['/a.pdb', '/b.pdb'], fractions: [3, 1], assembly: [true, false] };
    expect(validateConfig({ workdir: 'w', data }).data).toMatchObject(data);
    expect(() => validateConfig({ workdir: 'w', data: { pdb: ['/a.pdb', '/b.pdb'], fractions: [1] } }))
      .toThrow(/'data\.fractions': must be a list of 2 positive numbers, one per model of data\.pdb, got \[1\]/);
    expect(() => validateConfig({ workdir: 'w', data: { pdb: '/a.pdb', assembly: [false] } })).toThrow(/'data\.assembly': describes a mixture/);
    expect(() => validateConfig({ workdir: 'w', data: { pdb: [] } })).toThrow(/'data\.pdb': must be a file or a non-empty list of files/);
  });
});

describe('campaign starts and symmetry', () => {
  const STAR = { star: 'p.star' };
  test('initialPoses: star takes the list\'s poses and allows a local search; both need a particle list', () => {
    const c = validateConfig({ workdir: 'w', data: STAR, initialPoses: 'star', alignment: { angularRange: 15 } });
    expect(c).toMatchObject({ initialPoses: 'star', alignment: { angularRange: 15 } });
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, initialPoses: 'star' })).toThrow(/'initialPoses': 'star' takes the poses of your particle list: give data\.star/);
    expect(() => validateConfig({ workdir: 'w', data: STAR, alignment: { angularRange: 15 } })).toThrow(/'alignment\.angularRange': .*needs initialPoses: star/);
    for (const bad of [0, -5, 200]) {
      expect(() => validateConfig({ workdir: 'w', data: STAR, initialPoses: 'star', alignment: { angularRange: bad } }))
        .toThrow(new RegExp(`'alignment\\.angularRange': must be in \\(0, 180\\] degrees, got ${bad}`));
    }
  });

  test('symmetry is validated and stored canonically; C1 is not stored (configs without it keep their ids)', () => {
    expect(validateConfig({ workdir: 'w', data: SIMULATED, symmetry: ' d7 ' }).symmetry).toBe('D7');
    expect(validateConfig({ workdir: 'w', data: SIMULATED, symmetry: 'C1' })).toEqual(validateConfig({ workdir: 'w', data: SIMULATED }));
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, symmetry: 'I' })).toThrow(/'symmetry': unknown symmetry 'I': expected C<n> or D<n>/);
    expect(() => validateConfig({ workdir: 'w', data: SIMULATED, symmetry: 7 })).toThrow(/'symmetry': /);
  });

  test('reference is a path, resolved against the config file and checked before anything starts', async () => {
    await writeFile(join(dir, 'p.star'), 'data_particles\n');
    await writeFile(join(dir, 'ref.mrc'), 'x');
    await writeFile(join(dir, 'r.yaml'), 'workdir: w\ndata: { star: p.star }\nreference: ref.mrc\n');
    expect((await loadCampaignConfig(join(dir, 'r.yaml'))).reference).toBe(join(dir, 'ref.mrc'));
    await writeFile(join(dir, 'r.yaml'), 'workdir: w\ndata: { star: p.star }\nreference: nowhere.mrc\n');
    await expect(loadCampaignConfig(join(dir, 'r.yaml'))).rejects.toThrow(/r\.yaml: config field 'reference': .*nowhere\.mrc does not exist/);
    expect(() => validateConfig({ workdir: 'w', data: STAR, reference: 3 })).toThrow(/'reference': /);
  });
});

describe('loadCampaignConfig', () => {
  test('reads YAML or JSON and resolves paths against the config file', async () => {
    await writeFile(join(dir, 'p.star'), 'data_particles\n');
    await writeFile(join(dir, 'hosts'), 'localhost slots=2\n');
    await writeFile(join(dir, 'c.yaml'), 'name: yaml-run\nworkdir: runs/a\ndata:\n  star: p.star\nalignment:\n  hostfile: hosts\n');
    const fromYaml = await loadCampaignConfig(join(dir, 'c.yaml'));
    expect(fromYaml.workdir).toBe(join(dir, 'runs', 'a'));
    expect(fromYaml.data).toEqual({ kind: 'star', star: join(dir, 'p.star') });
    expect(fromYaml.alignment.hostfile).toBe(join(dir, 'hosts'));

    await writeFile(join(dir, 'c.json'), JSON.stringify({ workdir: '/abs/work', data: { particles: 8, size: 32, maxShift: 2 } }));
    const fromJson = await loadCampaignConfig(join(dir, 'c.json'));
    expect(fromJson.workdir).toBe('/abs/work');
    expect(fromJson.data).toMatchObject({ kind: 'simulate', particles: 8, size: 32 });
  });

  test('problems name the file and the field', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'workdir: w\ndata: { kind: simulate }\nalignment: { hostfile: nowhere }\n');
    await expect(loadCampaignConfig(join(dir, 'bad.yaml'))).rejects.toThrow(/bad\.yaml: config field 'alignment\.hostfile': .*nowhere does not exist/);
    await writeFile(join(dir, 'bad.yaml'), 'workdir: w\ndata: { size: 32, resolution: 10, voxel: 6 }\n');
    await expect(loadCampaignConfig(join(dir, 'bad.yaml'))).rejects.toThrow(/config field 'data\.resolution': resolution 10 Å/);
    await writeFile(join(dir, 'bad.yaml'), 'workdir: [unclosed\n');
    await expect(loadCampaignConfig(join(dir, 'bad.yaml'))).rejects.toThrow(/bad\.yaml: /);
    await expect(loadCampaignConfig(join(dir, 'missing.yaml'))).rejects.toThrow(/missing\.yaml: .*ENOENT/);
  });
});
