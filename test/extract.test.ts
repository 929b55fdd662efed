/**
 * Real data end to end, as a RELION 5 user brings it: a 256 × 256 × 128 tomogram holding 12 particles at
 * known poses and positions, described by tomograms.star (with the per-tilt STAR of its ±60° series) and
 * particles.star (centred coordinates) → `subtomo extract` → `subtomo align` against the model → poses within
 * a few degrees of the truth; and the same data through a campaign whose `data` names the two STAR files.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCampaign } from '../app/campaignClient.ts';
import { runCli } from '../cli/run.ts';
import { groelPhantom } from '../core/phantom.ts';
import { Rng } from '../core/random.ts';
import { fourierPad } from '../core/resample.ts';
import { type Mat3, degrees, eulerToMatrix, radians } from '../core/rotate.ts';
import { DatasetSimulator, densityModel } from '../core/simulate.ts';
import { parseSymmetry, rotationErrorUnderSymmetry } from '../core/symmetry.ts';
import { Volume } from '../core/volume.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { writeMrc, writeMrcGrid } from '../io/mrc.ts';
import { readParticleList, writeParticleList } from '../io/particles.ts';
import { formatStar, parseStar } from '../io/star.ts';
import { TomogramFile } from '../io/tomogram.ts';
import { readVolume } from '../io/volumes.ts';
import { bundleCampaignWorkflows } from '../workers/campaign.ts';
import { TEST_HEARTBEAT, startWorkers, testQueues, tinyConfig } from './helpers/campaign.ts';
import { temporalAddress } from './temporal-env.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const scratch = mkdtempSync(join(tmpdir(), 'subtomo-extract-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const SIZE: [number, number, number] = [256, 256, 128];
const VOXEL = 12;
const BOX = 32;
/** Box centres (0-based voxels) on a grid, far enough apart that boxes do not overlap; one reaches the edge. */
const CENTRES: [number, number, number][] = [];
for (const y of [40, 128, 216]) for (const x of [40, 100, 160, 220]) CENTRES.push([x, y, 64]);
CENTRES[11] = [248, 216, 64]; // 8 voxels from the x edge: its box is clipped

interface Truth {
  R: Mat3;
  /** The particle's centre in the tomogram, voxels. */
  centre: [number, number, number];
}

const truth: Truth[] = [];
const files = {
  tomogram: join(scratch, 'tomograms', 'TS_01.mrc'),
  tilts: join(scratch, 'tomograms', 'TS_01.star'),
  tomograms: join(scratch, 'tomograms.star'),
  particles: join(scratch, 'particles.star'),
  reference: join(scratch, 'reference.mrc'),
};

/** The tomogram: noise, and each simulated particle's ±60° subtomogram added at its box position. */
async function makeTomogram(): Promise<void> {
  const sim = new DatasetSimulator(densityModel(groelPhantom()), {
    n: BOX, voxelSize: VOXEL, resolution: 30, tilt: symmetricTilt(60), tiltStep: radians(3), snr: 2, maxShift: 2, seed: 9,
    imaging: { ctf: null, mtf: false },
  });
  await writeMrc(files.reference, sim.reference());
  const [nx, ny, nz] = SIZE;
  const data = new Float32Array(nx * ny * nz);
  const rng = new Rng(4);
  for (let i = 0; i < data.length; i++) data[i] = 0.02 * rng.gaussian();
  CENTRES.forEach((c, i) => {
    const p = sim.particle(i);
    for (let z = 0; z < BOX; z++) {
      for (let y = 0; y < BOX; y++) {
        for (let x = 0; x < BOX; x++) {
          const [tx, ty, tz] = [c[0] - BOX / 2 + x, c[1] - BOX / 2 + y, c[2] - BOX / 2 + z];
          if (tx >= 0 && tx < nx && ty >= 0 && ty < ny && tz >= 0 && tz < nz) {
            data[tx + nx * (ty + ny * tz)] += p.volume.data[x + BOX * (y + BOX * z)];
          }
        }
      }
    }
    truth.push({ R: eulerToMatrix(p.pose), centre: [c[0] + p.pose.tx, c[1] + p.pose.ty, c[2] + p.pose.tz] });
  });
  await writeMrcGrid(files.tomogram, { size: SIZE, voxelSize: VOXEL, data });
}

/** RELION 5's files for it (labels as relion_tomo writes them: io/relion-tomograms.ts, io/relion.ts). */
function writeStarFiles(): void {
  const tilts = Array.from({ length: 41 }, (_, k) => -60 + 3 * k);
  writeFileSync(files.tilts, [
    'data_TS_01', '', 'loop_', '_rlnTomoNominalStageTiltAngle #1', '_rlnMicrographPreExposure #2',
    ...tilts.map((a, k) => `${a.toFixed(1)} ${(3 * k).toFixed(1)}`), '',
  ].join('\n'));
  writeFileSync(files.tomograms, [
    'data_global', '', 'loop_',
    ...['rlnTomoName', 'rlnVoltage', 'rlnSphericalAberration', 'rlnAmplitudeContrast', 'rlnTomoTiltSeriesPixelSize',
      'rlnTomoTiltSeriesStarFile', 'rlnTomoTomogramBinning', 'rlnTomoSizeX', 'rlnTomoSizeY', 'rlnTomoSizeZ', 'rlnTomoReconstructedTomogram']
      .map((l, i) => `_${l} #${i + 1}`),
    `TS_01 300 2.7 0.07 ${VOXEL} ${files.tilts} 1 ${SIZE.join(' ')} ${files.tomogram}`, '',
  ].join('\n'));
  // Centred coordinates of the box centres: voxel = c / pixel size + size / 2 (io/positions.ts).
  writeFileSync(files.particles, [
    'data_general', '', '_rlnTomoSubTomosAre2DStacks 0', '',
    'data_optics', '', 'loop_', '_rlnOpticsGroup #1', '_rlnOpticsGroupName #2', '_rlnTomoTiltSeriesPixelSize #3', '1 opticsGroup1 12', '',
    'data_particles', '', 'loop_',
    ...['rlnTomoName', 'rlnTomoParticleName', 'rlnCenteredCoordinateXAngst', 'rlnCenteredCoordinateYAngst', 'rlnCenteredCoordinateZAngst',
      'rlnOpticsGroup', 'rlnMyLabColumn'].map((l, i) => `_${l} #${i + 1}`),
    ...CENTRES.map((c, i) => `TS_01 TS_01/${i + 1} ${(c[0] - SIZE[0] / 2) * VOXEL} ${(c[1] - SIZE[1] / 2) * VOXEL} ${(c[2] - SIZE[2] / 2) * VOXEL} 1 keep-${i}`),
    '',
  ].join('\n'));
}

/** `v` in an m³ box with zeros around it, same centre voxel. */
function recentredPad(v: Volume, m: number): Volume {
  const out = new Volume(m, v.voxelSize);
  const d = m / 2 - v.n / 2;
  for (let z = 0; z < v.n; z++) for (let y = 0; y < v.n; y++) for (let x = 0; x < v.n; x++) out.set(x + d, y + d, z + d, v.get(x, y, z));
  return out;
}

async function cli(...argv: string[]): Promise<void> {
  let err = '';
  const code = await runCli(argv, { out: () => undefined, err: (t) => (err += t) });
  expect(code, err).toBe(0);
}

beforeAll(async () => {
  mkdirSync(join(scratch, 'tomograms'), { recursive: true });
  await makeTomogram();
  writeStarFiles();
});

describe('a RELION 5 data set: extract, then align', () => {
  const out = join(scratch, 'extracted');

  it('reads boxes of the tomogram without loading it, padding outside with the mean', async () => {
    const file = await TomogramFile.open(files.tomogram);
    try {
      expect(file.size).toEqual(SIZE);
      const inside = await file.readBox(10, 20, 30, 4, -99);
      expect(inside.clipped).toBe(false);
      const whole = readFileSync(files.tomogram);
      const at = (x: number, y: number, z: number) => whole.readFloatLE(1024 + 4 * (x + SIZE[0] * (y + SIZE[1] * z)));
      expect(inside.data[1 + 4 * (2 + 4 * 3)]).toBe(at(11, 22, 33));
      const edge = await file.readBox(254, 0, 0, 4, -99);
      expect(edge.clipped).toBe(true);
      expect(edge.data[3]).toBe(-99);
      expect(edge.data[1]).toBe(at(255, 0, 0));
    } finally {
      await file.close();
    }
  });

  it('subtomo extract cuts every particle at its position, flags the one at the edge and keeps the list\'s wedge', async () => {
    await cli('extract', '--particles', files.particles, '--tomograms', files.tomograms, '--box', String(BOX), '--out', out, '--format', 'relion4');
    const list = await readParticleList(join(out, 'particles.star'));
    expect(list.particles).toHaveLength(12);
    expect(list.voxelSize).toBe(VOXEL);
    expect(list.particles.map((p) => p.clipped)).toEqual([...Array(11).fill(false), true]);
    for (const p of list.particles) expect([degrees(p.tilt!.min), degrees(p.tilt!.max)].map((a) => Math.round(a * 1e9) / 1e9)).toEqual([-60, 60]);
  });

  it('the same particles as a Dynamo table and volume list extract to the same subtomograms', async () => {
    const relion = await readParticleList(files.particles, { tomograms: files.tomograms });
    const table = join(scratch, 'dynamo', 'particles.tbl');
    mkdirSync(join(scratch, 'dynamo'), { recursive: true });
    const written = await writeParticleList(relion, table, 'dynamo');
    expect(written).toEqual([table, join(scratch, 'dynamo', 'particles.vll')]);
    const viaDynamo = join(scratch, 'from-dynamo');
    await cli('extract', '--particles', table, '--tomograms', written[1], '--tilt-range', '-60,60', '--box', String(BOX), '--out', viaDynamo);
    const a = await readParticleList(join(out, 'particles.star'));
    const b = await readParticleList(join(viaDynamo, 'particles.star'));
    expect(b.particles.map((p) => readFileSync(p.image!).subarray(1024))).toEqual(a.particles.map((p) => readFileSync(p.image!).subarray(1024)));
  });

  it('binning 2 gives boxes of half the size with voxels twice as large', async () => {
    await cli('extract', '--particles', files.particles, '--tomograms', files.tomograms, '--box', '16', '--binning', '2', '--out', join(scratch, 'bin2'));
    const list = await readParticleList(join(scratch, 'bin2', 'particles.star'));
    expect([list.voxelSize, list.boxSize]).toEqual([2 * VOXEL, 16]);
  });

  it('subtomo align finds every pose within 3° of the truth and keeps the list\'s own columns', async () => {
    const aligned = join(scratch, 'aligned.star');
    await cli('align', '--ref', files.reference, '--particles', join(out, 'particles.star'), '--method', 'sag', '--candidates', '6',
      '--bandwidth', '16', '--max-shift', '4', '--out', aligned);
    const list = await readParticleList(aligned);
    const D7 = parseSymmetry('D7');
    const errors = list.particles.map((p, i) => degrees(rotationErrorUnderSymmetry(eulerToMatrix(p.pose!), truth[i].R, D7)));
    expect(Math.max(...errors), errors.map((e) => e.toFixed(2)).join(' ')).toBeLessThan(3);
    const written = readFileSync(aligned, 'utf8');
    expect(written).toContain('_subtomoCcc');
  });

  it('a reference of another voxel and box size is resampled to the particles\', and align says so', async () => {
    const finer = join(scratch, 'reference-8A.mrc');
    const reference = await readVolume(files.reference);
    await writeMrc(finer, recentredPad(fourierPad(reference, 48), 56)); // 8 Å voxels, and a larger box
    let err = '';
    const aligned = join(scratch, 'aligned-finer.star');
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      err += String(chunk);
      return true;
    });
    const code = await runCli(['align', '--ref', finer, '--particles', join(out, 'particles.star'), '--candidates', '4', '--bandwidth', '16',
      '--max-shift', '4', '--out', aligned], { out: () => undefined, err: (t) => (err += t) }).finally(() => spy.mockRestore());
    expect(code, err).toBe(0);
    expect(err).toContain(`reference ${finer}: Fourier-resampled from 8 Å to 12 Å voxels`);
    const list = await readParticleList(aligned);
    const D7 = parseSymmetry('D7');
    const errors = list.particles.map((p, i) => degrees(rotationErrorUnderSymmetry(eulerToMatrix(p.pose!), truth[i].R, D7)));
    expect(Math.max(...errors)).toBeLessThan(3);
  });

  it('align output keeps every input column and row, in order, and updates only poses and scores', async () => {
    const input = join(out, 'with-lab-column.star');
    const tables = parseStar(readFileSync(join(out, 'particles.star'), 'utf8'), input);
    const particles = tables.find((t) => t.name === 'particles')!;
    particles.columns.push('rlnMyLabColumn');
    particles.rows.forEach((row, i) => row.push(`keep-${i}`));
    particles.rows.reverse();
    writeFileSync(input, formatStar(tables));
    const aligned = join(out, 'aligned-kept.star'); // same directory: relative image names stay as written
    await cli('align', '--ref', files.reference, '--particles', input, '--candidates', '2', '--bandwidth', '8', '--out', aligned);
    const back = parseStar(readFileSync(aligned, 'utf8'), aligned);
    const table = back.find((t) => t.name === 'particles')!;
    expect(table.columns.slice(0, particles.columns.length)).toEqual(particles.columns);
    const col = (t: typeof table, label: string) => t.rows.map((r) => r[t.columns.indexOf(label)]);
    expect(col(table, 'rlnMyLabColumn')).toEqual(col(particles, 'rlnMyLabColumn'));
    expect(col(table, 'rlnImageName')).toEqual(col(particles, 'rlnImageName'));
    expect(table.columns).toEqual(expect.arrayContaining(['rlnAngleRot', 'subtomoCcc']));
  });

  it('a RELION 5 particles.star without subtomograms is refused by align, naming the step to take first', async () => {
    let err = '';
    const code = await runCli(['align', '--ref', files.reference, '--particles', files.particles, '--tomograms', files.tomograms, '--out', join(scratch, 'x.star')],
      { out: () => undefined, err: (t) => (err += t) });
    expect(code).toBe(1);
    expect(err).toContain('has no subtomogram volume (rlnImageName); cut the particles out of their tomograms first: subtomo extract');
  });
});

describe('a campaign on the same data', () => {
  it('extracts the particles as its load step and runs', async () => {
    const env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
    const queues = testQueues('extract');
    const workers = await startWorkers(env.nativeConnection, queues, await bundleCampaignWorkflows());
    try {
      const config = tinyConfig(join(scratch, 'campaign'), {
        maxIterations: 1,
        data: { star: files.particles, tomograms: files.tomograms, extract: { box: BOX } },
      });
      const handle = await startCampaign(env.client, config, { queues, heartbeatTimeout: TEST_HEARTBEAT });
      const result = await handle.result();
      expect(result.iterations.map((i) => i.iteration)).toEqual([0, 1]);
      const set = JSON.parse(readFileSync(result.artifacts.particles!.path, 'utf8')) as { particles: unknown[]; boxSize: number; voxelSize: number };
      expect([set.particles.length, set.boxSize, set.voxelSize]).toEqual([12, BOX, VOXEL]);
    } finally {
      await workers.stop();
      await env.teardown();
    }
  });
});
