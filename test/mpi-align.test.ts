/**
 * Algorithm 3 and averaging on real OpenMPI ranks (mpirun -np 2, through runMpiJob) against the in-process
 * path, plus the align/average CLI commands end to end. Data: an asymmetric blob object (exact at any pose),
 * particles with known poses, a ±60° missing wedge and a little noise, 24³ voxels.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import alignCommand, { resultsPathFor } from '../cli/commands/align.ts';
import averageCommand, { averageOutputs } from '../cli/commands/average.ts';
import simulateCommand from '../cli/commands/simulate.ts';
import { applyFourierFilter } from '../core/filters.ts';
import { Rng } from '../core/random.ts';
import {
  type Mat3,
  degrees,
  eulerToMatrix,
  matrixToEuler,
  multiply,
  poseFromMatrix,
  radians,
  randomRotation,
  rotationAngle,
  rotationX,
  rotationZ,
} from '../core/rotate.ts';
import type { Volume } from '../core/volume.ts';
import { symmetricTilt, wedgeMask } from '../core/wedge.ts';
import { readMrc, writeMrc } from '../io/mrc.ts';
import { readParticleStar, tiltColumns } from '../io/particlestar.ts';
import { RELION_POSE_COLUMNS, formatStar, poseToRelion } from '../io/star.ts';
import type { AlignJob, AverageJob, ParticleAlignment } from '../model/jobs.ts';
import type { RankTiming } from '../mpi/alignWork.ts';
import { pairsOfRank, runAlignJob } from '../mpi/alignWork.ts';
import { runAverageJob } from '../mpi/averageWork.ts';
import { writeJobFile } from '../mpi/jobFiles.ts';
import { MpiJobError, runMpiJob } from '../mpi/launcher.ts';
import { Args } from '../os/args.ts';
import { randomBlobs, renderBlobs } from './helpers/blobs.ts';

const n = 24;
const voxel = 8;
const count = 5;
const TILT_DEG = 60;
const alignRank = fileURLToPath(new URL('../mpi/alignRank.ts', import.meta.url));
const averageRank = fileURLToPath(new URL('../mpi/averageRank.ts', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'subtomo-mpi-align-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every live process's command line (ps), to find what a command left behind. */
function psLines(): string[] {
  return execFileSync('ps', ['-eo', 'stat=,args='], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('Z'));
}

interface Truth {
  R: Mat3;
  t: [number, number, number];
}

const truth: Truth[] = [];
const refPath = join(scratch, 'reference.mrc');
const particlePath = (i: number): string => join(scratch, `p${i + 1}.mrc`);

/** Wedge-filtered particle with 5 % noise (of the signal's standard deviation). */
function particleVolume(blobs: ReturnType<typeof randomBlobs>, t: Truth, rng: Rng): Volume {
  const clean = applyFourierFilter(renderBlobs(blobs, n, t.R, t.t, voxel), wedgeMask(n, symmetricTilt(TILT_DEG)));
  let s2 = 0;
  for (const x of clean.data) s2 += x * x;
  const sd = 0.05 * Math.sqrt(s2 / clean.data.length);
  return clean.withData(clean.data.map((x) => x + sd * rng.gaussian()));
}

/** Candidates of particle i: near the truth (6° and 9° off, in varying order) and one random rotation. */
function candidatesFor(i: number, rng: Rng): AlignJob['particles'][number]['candidates'] {
  const R = truth[i].R;
  const near1 = multiply(R, rotationZ((6 * Math.PI) / 180));
  const near2 = multiply(R, rotationX((9 * Math.PI) / 180));
  const list = [near1, near2, randomRotation(rng)];
  const order = [[0, 1, 2], [2, 0, 1], [1, 2, 0]][i % 3];
  return order.map((k) => {
    const e = matrixToEuler(list[k]);
    return { ...e, score: 1 - 0.1 * k };
  });
}

function alignJob(dir: string, overrides: Partial<AlignJob> = {}): AlignJob {
  const rng = new Rng(77);
  return {
    method: 'sag',
    particles: truth.map((_, i) => ({
      name: `p${i + 1}`,
      path: particlePath(i),
      tilt: symmetricTilt(TILT_DEG),
      reference: refPath,
      candidates: candidatesFor(i, rng),
    })),
    maxShift: 3,
    mask: { radius: 8, edge: 2 },
    seed: 5,
    out: join(dir, 'aligned.json'),
    outStar: join(dir, 'aligned.star'),
    ...overrides,
  };
}

function averageJob(dir: string, results: readonly ParticleAlignment[]): AverageJob {
  return {
    particles: results.map((r, i) => ({
      name: r.name,
      path: particlePath(i),
      tilt: symmetricTilt(TILT_DEG),
      pose: r.pose,
      half: i % 2 === 0 ? 'odd' : 'even',
    })),
    out: { odd: join(dir, 'odd.mrc'), even: join(dir, 'even.mrc'), combined: join(dir, 'combined.mrc') },
  };
}

function maxAbsDifference(a: Float32Array, b: Float32Array): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return { diff, scale };
}

function correlation(a: Float32Array, b: Float32Array): number {
  let ma = 0, mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= a.length;
  mb /= b.length;
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

beforeAll(async () => {
  const rng = new Rng(2024);
  const blobs = randomBlobs(rng, 9, n / 5);
  await writeMrc(refPath, renderBlobs(blobs, n, undefined, undefined, voxel));
  for (let i = 0; i < count; i++) {
    const t: Truth = { R: randomRotation(rng), t: [rng.range(-2, 2), rng.range(-2, 2), rng.range(-2, 2)] };
    truth.push(t);
    await writeMrc(particlePath(i), particleVolume(blobs, t, rng));
  }
});

describe('pairsOfRank', () => {
  it('deals every pair to exactly one rank, counts within one, candidate positions spread over ranks', () => {
    for (const [particles, candidates, size] of [[20, 10, 2], [7, 3, 2], [5, 4, 3], [3, 1, 4], [11, 6, 4]]) {
      const pairs = Array.from({ length: particles * candidates }, (_, k) => ({
        particle: Math.floor(k / candidates), candidate: k % candidates,
      }));
      const shares = Array.from({ length: size }, (_, r) => pairsOfRank(pairs, r, size));
      expect(shares.flat().map((p) => p.particle * candidates + p.candidate).sort((a, b) => a - b))
        .toEqual(pairs.map((_, k) => k));
      const counts = shares.map((s) => s.length);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      for (const share of shares) {
        // Job order within a rank: particle-major, so each particle is read once.
        expect(share.map((p) => p.particle * candidates + p.candidate)).toEqual(
          share.map((p) => p.particle * candidates + p.candidate).sort((a, b) => a - b));
      }
    }
    // 10 candidates on 2 ranks: round-robin would give rank 0 every particle's candidates 1, 3, 5, … (1-based);
    // dealt back and forth, each rank gets each candidate position for half of the 20 particles.
    const pairs = Array.from({ length: 200 }, (_, k) => ({ particle: Math.floor(k / 10), candidate: k % 10 }));
    const firstOnRank0 = pairsOfRank(pairs, 0, 2).filter((p) => p.candidate === 0).length;
    expect(firstOnRank0).toBe(10);
  });
});

describe('MPI alignment (alignRank.ts, np 2) against the in-process path', () => {
  let inProcess: ParticleAlignment[];
  let inProcessMs = 0;

  it('gives bit-identical results, balanced pairs, and the true poses', async () => {
    const localDir = join(scratch, 'align-local');
    const t0 = performance.now();
    inProcess = await runAlignJob(alignJob(localDir));
    inProcessMs = performance.now() - t0;

    const mpiDir = join(scratch, 'align-mpi');
    const job = alignJob(mpiDir);
    const jobFile = join(mpiDir, 'job.json');
    await writeJobFile(jobFile, job);
    const progress: { rank: number; done: number; total: number }[] = [];
    const run = await runMpiJob({
      np: 2,
      entry: alignRank,
      args: [jobFile],
      onProgress: (rank, p) => progress.push({ rank, ...(p as { done: number; total: number }) }),
    });
    const viaMpi = JSON.parse(readFileSync(job.out, 'utf8')) as ParticleAlignment[];

    // Every pair's seed depends only on (job seed, particle, candidate): the split cannot change a bit.
    expect(viaMpi).toEqual(inProcess);
    expect(readFileSync(job.outStar!, 'utf8')).toBe(readFileSync(join(localDir, 'aligned.star'), 'utf8'));

    const result = run.result as { pairs: number; ranks: RankTiming[] };
    expect(result.pairs).toBe(3 * count);
    expect(result.ranks.map((r) => r.rank)).toEqual([0, 1]);
    // Dealt 0,1,1,0,0,1,…: rank 0 gets pairs 0,3,4,7,8,11,12 and, as every particle has pairs on both ranks,
    // each rank reads every particle once.
    expect(result.ranks.map((r) => r.pairs)).toEqual([7, 8]);
    expect(result.ranks.map((r) => r.particlesRead)).toEqual([count, count]);
    for (const rank of [0, 1]) {
      const mine = progress.filter((p) => p.rank === rank);
      expect(mine.map((p) => p.done)).toEqual(Array.from({ length: result.ranks[rank].pairs }, (_, k) => k + 1));
    }

    for (const [i, r] of inProcess.entries()) {
      expect(r.perCandidate).toHaveLength(3);
      expect(r.failed).toBe(false);
      const refined = r.perCandidate.filter((d): d is number => d !== null);
      expect(refined).toHaveLength(3);
      expect(r.dissimilarity).toBe(Math.min(...refined));
      expect(r.perCandidate[r.candidateIndex]).toBe(r.dissimilarity);
      const pose = r.pose;
      expect(degrees(rotationAngle(eulerToMatrix(pose), truth[i].R))).toBeLessThan(1.5);
      expect(Math.hypot(pose.tx - truth[i].t[0], pose.ty - truth[i].t[1], pose.tz - truth[i].t[2])).toBeLessThan(0.15);
      expect(r.ccc).toBeGreaterThan(0.9);
    }
    console.log(
      `align ${count}×3 pairs at ${n}³: in-process ${inProcessMs.toFixed(0)} ms, mpirun -np 2 ${run.durationMs.toFixed(0)} ms ` +
        `(ranks ${result.ranks.map((r) => `${r.pairs} pairs ${r.seconds.toFixed(2)} s`).join(', ')})`,
    );
  });

  it('writes a STAR whose poses read back equal to the results', async () => {
    const star = await readParticleStar(join(scratch, 'align-mpi', 'aligned.star'));
    expect(star.voxelSize).toBe(voxel);
    expect(star.particles.map((p) => p.path)).toEqual(truth.map((_, i) => particlePath(i)));
    for (const [i, p] of star.particles.entries()) {
      const want = inProcess[i].pose;
      expect(rotationAngle(eulerToMatrix(p.pose!), eulerToMatrix(want))).toBeLessThan(1e-9);
      expect(Math.hypot(p.pose!.tx - want.tx, p.pose!.ty - want.ty, p.pose!.tz - want.tz)).toBeLessThan(1e-9);
      expect(tiltColumns(p.tilt)).toEqual([-TILT_DEG, TILT_DEG]);
    }
  });

  it('MPI average (averageRank.ts, np 2) equals the in-process average within 1e-6', async () => {
    const local = await runAverageJob(averageJob(join(scratch, 'avg-local'), inProcess));
    const job = averageJob(join(scratch, 'avg-mpi'), inProcess);
    const jobFile = join(scratch, 'avg-mpi', 'job.json');
    await writeJobFile(jobFile, job);
    const run = await runMpiJob({ np: 2, entry: averageRank, args: [jobFile] });
    expect((run.result as { odd: number; even: number }).odd).toBe(3);
    expect((run.result as { odd: number; even: number }).even).toBe(2);
    for (const key of ['odd', 'even', 'combined'] as const) {
      const viaMpi = await readMrc(job.out[key]);
      const { diff, scale } = maxAbsDifference(viaMpi.data, local[key].data);
      expect(diff).toBeLessThanOrEqual(1e-6 * scale);
    }
    // The aligned poses bring every particle back onto the reference.
    const reference = await readMrc(refPath);
    expect(correlation(local.combined.data, reference.data)).toBeGreaterThan(0.9);
  });

  it('a rank that cannot read its particle fails the job, naming the rank and the file', async () => {
    const dir = join(scratch, 'align-fail');
    const job = alignJob(dir);
    const missing = join(scratch, 'no-such-particle.mrc');
    // p1 keeps one candidate (pair 0 → rank 0), so both pairs of p2 (1 and 2) are rank 1's alone.
    job.particles[0].candidates = job.particles[0].candidates.slice(0, 1);
    job.particles[1].candidates = job.particles[1].candidates.slice(0, 2);
    job.particles[1].path = missing;
    const jobFile = join(dir, 'job.json');
    await writeJobFile(jobFile, job);
    const error = await runMpiJob({ np: 2, entry: alignRank, args: [jobFile] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MpiJobError);
    const failure = error as MpiJobError;
    expect(failure.rank).toBe(1);
    expect(failure.exitCode).toBe(1);
    expect(failure.message).toContain(`rank 1: Error: particle p2: ${missing} does not exist`);
  });

  it('rank 0 rejects a malformed job file, naming the file and the field', async () => {
    const dir = join(scratch, 'align-bad-job');
    mkdirSync(dir, { recursive: true });
    const jobFile = join(dir, 'job.json');
    writeFileSync(jobFile, JSON.stringify({ ...alignJob(dir), method: 'simplex' }));
    const error = (await runMpiJob({ np: 2, entry: alignRank, args: [jobFile] }).catch((e: unknown) => e)) as MpiJobError;
    expect(error.rank).toBe(0);
    expect(error.message).toContain(`job file ${jobFile}: method must be one of sag, sag1, lm, chen, got "simplex"`);
  });
});

describe('subtomo align / subtomo average', () => {
  const starPath = join(scratch, 'particles.star');

  beforeAll(() => {
    // As `subtomo simulate` writes it: ground-truth poses, which align ignores.
    const rows = truth.map((t, i) => [
      `p${i + 1}.mrc`, 1, ...poseToRelion(poseFromMatrix(t.R, t.t), voxel), -TILT_DEG, TILT_DEG,
    ]);
    writeFileSync(starPath, formatStar([
      { name: 'optics', columns: ['rlnOpticsGroup', 'rlnImagePixelSize'], rows: [[1, voxel]] },
      { name: 'particles', columns: ['rlnImageName', 'rlnOpticsGroup', ...RELION_POSE_COLUMNS, 'subtomoTiltMinDeg', 'subtomoTiltMaxDeg'], rows },
    ]));
  });

  const run = (command: typeof alignCommand, argv: string[]): Promise<void> => command.run(new Args(argv));

  it('align --mpi 2 (binned to 16³) finds the poses from FRM candidates; average writes the half maps', async () => {
    const out = join(scratch, 'cli', 'aligned.star');
    await run(alignCommand, ['--ref', refPath, '--particles', starPath, '--method', 'lm', '--candidates', '2',
      '--bandwidth', '12', '--max-shift', '3', '--mask-radius', '8', '--mask-edge', '2', '--align-box', '16', '--mpi', '2',
      '--out', out]);
    const results = JSON.parse(readFileSync(resultsPathFor(out), 'utf8')) as ParticleAlignment[];
    expect(results.map((r) => r.perCandidate.length)).toEqual(Array(count).fill(2));
    const star = await readParticleStar(out);
    for (const [i, p] of star.particles.entries()) {
      expect(degrees(rotationAngle(eulerToMatrix(p.pose!), truth[i].R))).toBeLessThan(2);
      expect(p.pose!.tx).toBeCloseTo(truth[i].t[0], 0);
    }

    const avgDir = join(scratch, 'cli', 'average');
    await run(averageCommand, ['--particles', out, '--out', avgDir]);
    const reference = await readMrc(refPath);
    for (const key of ['odd', 'even', 'combined'] as const) {
      const map = await readMrc(averageOutputs(avgDir)[key]);
      expect(correlation(map.data, reference.data)).toBeGreaterThan(0.8);
    }
  });

  it('align --batch and --epochs reach SAG on MPI ranks: batches scale with binning, epochs cap the steps', async () => {
    const out = join(scratch, 'cli-sag', 'aligned.star');
    // 24³ binned to 16³: a batch of 6 of the 24 x-slices becomes round(6·16/24) = 4 of 16, so 4 steps per epoch.
    await run(alignCommand, ['--ref', refPath, '--particles', starPath, '--method', 'sag', '--candidates', '2', '--bandwidth', '12',
      '--max-shift', '3', '--mask-radius', '8', '--mask-edge', '2', '--align-box', '16', '--batch', '6', '--epochs', '3', '--mpi', '2', '--out', out]);
    const results = JSON.parse(readFileSync(resultsPathFor(out), 'utf8')) as ParticleAlignment[];
    expect(results).toHaveLength(count);
    for (const r of results) {
      expect(r.iterations % 4).toBe(0);
      expect(r.iterations).toBeGreaterThan(0);
      expect(r.iterations).toBeLessThanOrEqual(3 * 4);
    }
    await expect(run(alignCommand, ['--ref', refPath, '--particles', starPath, '--batch', '25', '--out', out]))
      .rejects.toThrow('--batch 25 exceeds the 24 x-slices of the box');
    await expect(run(alignCommand, ['--ref', refPath, '--particles', starPath, '--epochs', '-1', '--out', out]))
      .rejects.toThrow('--epochs must be ≥ 0, got -1');
  });

  it('SIGTERM to `subtomo align --mpi 2` ends mpirun and every rank, and exits 143', async () => {
    const out = join(scratch, 'cli-signal', 'aligned.star');
    mkdirSync(dirname(out), { recursive: true });
    const jobFile = join(dirname(out), `.${resultsPathFor(out).split('/').pop()}.job.json`);
    const ours = () => psLines().filter((l) => l.includes(jobFile));
    const cli = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../cli/main.ts', import.meta.url)), 'align',
      '--ref', refPath, '--particles', starPath, '--method', 'lm', '--candidates', '10', '--bandwidth', '12', '--max-shift', '3',
      '--mask-radius', '8', '--mask-edge', '2', '--mpi', '2', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + 60_000;
    while (ours().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50)); // mpirun + 2 ranks
    expect(ours().length).toBeGreaterThanOrEqual(3);
    cli.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => cli.once('exit', r));
    expect(code).toBe(143);
    expect(stderr).toContain('interrupted by SIGTERM; every process it started was ended');
    expect(ours()).toEqual([]);
  });

  it('reads the STAR of `subtomo simulate`: paths, tilt range and the true poses', async () => {
    const simDir = join(scratch, 'simulated');
    await run(simulateCommand, ['--out', simDir, '--snr', 'inf', '--n', '3', '--size', '24', '--voxel', '14', '--resolution', '28',
      '--tilt-min', '-50', '--tilt-max', '40', '--tilt-step', '5', '--no-ctf', '--max-shift', '2']);
    const star = await readParticleStar(join(simDir, 'particles.star'));
    const meta = JSON.parse(readFileSync(join(simDir, 'particles.json'), 'utf8')) as {
      particles: { file: string; phiDeg: number; thetaDeg: number; psiDeg: number; shiftVoxels: number[] }[];
    };
    expect(star.voxelSize).toBe(14);
    expect(star.particles.map((p) => p.path)).toEqual(meta.particles.map((p) => join(simDir, p.file)));
    expect(star.particles.map((p) => p.half)).toEqual(['odd', 'even', 'odd']);
    for (const [i, p] of star.particles.entries()) {
      const want = meta.particles[i];
      const R = eulerToMatrix({ phi: radians(want.phiDeg), theta: radians(want.thetaDeg), psi: radians(want.psiDeg) });
      expect(rotationAngle(eulerToMatrix(p.pose!), R)).toBeLessThan(1e-9);
      expect(Math.hypot(p.pose!.tx - want.shiftVoxels[0], p.pose!.ty - want.shiftVoxels[1], p.pose!.tz - want.shiftVoxels[2])).toBeLessThan(1e-9);
      expect(tiltColumns(p.tilt)).toEqual([-50, 40]);
    }
  });

  it('bad input: errors name the file, the column or the flag', async () => {
    const noTilt = join(scratch, 'no-tilt.star');
    writeFileSync(noTilt, formatStar([{ name: 'particles', columns: ['rlnImageName'], rows: [['p1.mrc']] }]));
    const out = join(scratch, 'bad', 'out.star');
    await expect(run(alignCommand, ['--ref', refPath, '--particles', noTilt, '--method', 'sag', '--out', out]))
      .rejects.toThrow(`${noTilt}: particle p1.mrc has no tilt range, and neither has its tomogram (per-tilt angles in tomograms.star); give its missing wedge with --tilt-range MIN,MAX`);
    await expect(run(alignCommand, ['--ref', refPath, '--particles', starPath, '--method', 'newton', '--out', out]))
      .rejects.toThrow("--method must be one of sag, sag1, lm, chen, got 'newton'");
    await expect(run(alignCommand, ['--ref', join(scratch, 'nope.mrc'), '--particles', starPath, '--method', 'sag', '--out', out]))
      .rejects.toThrow(join(scratch, 'nope.mrc'));
    const noPoses = join(scratch, 'no-poses.star');
    writeFileSync(noPoses, formatStar([{
      name: 'particles', columns: ['rlnImageName', 'subtomoTiltMinDeg', 'subtomoTiltMaxDeg'], rows: [['p1.mrc', -60, 60]],
    }]));
    await expect(run(averageCommand, ['--particles', noPoses, '--out', join(scratch, 'bad-avg')]))
      .rejects.toThrow(`${noPoses}: particle p1.mrc has no pose; average needs aligned particles`);
    const missingFile = join(scratch, 'missing-file.star');
    writeFileSync(missingFile, readFileSync(starPath, 'utf8').replace('p2.mrc', 'p2-gone.mrc'));
    await expect(run(averageCommand, ['--particles', missingFile, '--out', join(scratch, 'bad-avg2')]))
      .rejects.toThrow(`particle p2-gone.mrc: ${join(scratch, 'p2-gone.mrc')} does not exist`);
  });
});
