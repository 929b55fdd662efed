/**
 * MPI refinement speed-up: one AlignJob (simulated GroEL-like particles, FRM top-N candidates each) run by
 * mpi/alignRank.ts under mpirun with P = 1 and P = 2 ranks (both through runMpiJob, so both pay the same
 * start-up), printing wall times, the speed-up, and per-rank load balance (pairs, particles read, wall and
 * CPU seconds). On a shared machine a rank gets less than a core, so the bench also estimates the speed-up
 * on idle cores from the ranks' CPU times. The two runs must give identical results; the bench checks that.
 *
 * Usage: npx tsx bench/mpi.ts [particles 20] [candidates 10] [n 64] [method sag]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { frmCandidates } from '../core/frm.ts';
import { groelPhantom } from '../core/phantom.ts';
import { radians } from '../core/rotate.ts';
import { DatasetSimulator, densityModel } from '../core/simulate.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { writeMrc } from '../io/mrc.ts';
import type { AlignJob, ParticleAlignment } from '../model/jobs.ts';
import { ALIGN_METHODS, type AlignMethod } from '../model/methods.ts';
import type { RankTiming } from '../mpi/alignWork.ts';
import { writeJobFile } from '../mpi/jobFiles.ts';
import { runMpiJob } from '../mpi/launcher.ts';

const particles = Number(process.argv[2] ?? 20);
const candidates = Number(process.argv[3] ?? 10);
const n = Number(process.argv[4] ?? 64);
const method = (process.argv[5] ?? 'sag') as AlignMethod;
if (!ALIGN_METHODS.includes(method)) throw new Error(`method must be one of ${ALIGN_METHODS.join(', ')}`);

const TILT_DEG = 60;
const SNR = 0.1;
const dir = mkdtempSync(join(tmpdir(), 'subtomo-bench-mpi-'));
const alignRank = fileURLToPath(new URL('../mpi/alignRank.ts', import.meta.url));

try {
  const t0 = performance.now();
  const sim = new DatasetSimulator(densityModel(groelPhantom()), {
    n,
    voxelSize: (6 * 64) / n,
    resolution: Math.max(20, (2 * 6 * 64) / n),
    tilt: { min: radians(-TILT_DEG), max: radians(TILT_DEG) },
    tiltStep: radians(2),
    snr: SNR,
    maxShift: 3,
    seed: 11,
    imaging: { ctf: null, mtf: false },
  });
  const reference = sim.reference();
  const refPath = join(dir, 'reference.mrc');
  await writeMrc(refPath, reference);
  const entries: AlignJob['particles'] = [];
  for (let i = 0; i < particles; i++) {
    const p = sim.particle(i);
    const path = join(dir, `particle_${i + 1}.mrc`);
    await writeMrc(path, p.volume);
    const found = frmCandidates(reference, p.volume, {
      bandwidth: 16,
      topN: candidates,
      wedgeParticle: { min: radians(-TILT_DEG), max: radians(TILT_DEG) },
    });
    entries.push({
      name: `particle_${i + 1}`,
      path,
      tilt: symmetricTilt(TILT_DEG),
      reference: refPath,
      candidates: found.map((c) => ({ ...c.euler, score: c.score })),
    });
  }
  const pairs = entries.reduce((s, e) => s + e.candidates.length, 0);
  console.log(
    `data: ${particles} particles of ${n}³ (GroEL-like phantom, ±${TILT_DEG}° wedge, SNR ${SNR}), ${pairs} pairs ` +
      `(FRM top ${candidates}, B = 16), method ${method}; prepared in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  const runs = new Map<number, { wall: number; ranks: RankTiming[]; results: ParticleAlignment[] }>();
  for (const np of [1, 2]) {
    const job: AlignJob = {
      method,
      particles: entries,
      maxShift: 4,
      mask: { radius: n / 2 - 5, edge: 3 },
      seed: 1,
      out: join(dir, `np${np}.json`),
    };
    const jobFile = join(dir, `np${np}-job.json`);
    await writeJobFile(jobFile, job);
    const load = loadavg()[0];
    const run = await runMpiJob({ np, entry: alignRank, args: [jobFile] });
    const ranks = (run.result as { ranks: RankTiming[] }).ranks;
    runs.set(np, { wall: run.durationMs / 1000, ranks, results: JSON.parse(readFileSync(job.out, 'utf8')) as ParticleAlignment[] });
    console.log(`P = ${np}: ${(run.durationMs / 1000).toFixed(1)} s wall (1-min load average before: ${load.toFixed(2)})`);
    for (const r of ranks) {
      console.log(
        `  rank ${r.rank}: ${r.pairs} pairs, ${r.particlesRead} particles read, ${r.seconds.toFixed(1)} s wall ` +
          `(${r.refineSeconds.toFixed(1)} s refining, ${(r.seconds / r.pairs).toFixed(2)} s/pair), ${r.cpuSeconds.toFixed(1)} s CPU`,
      );
    }
  }
  const one = runs.get(1)!;
  const two = runs.get(2)!;
  const identical = JSON.stringify(one.results) === JSON.stringify(two.results);
  const slowest = Math.max(...two.ranks.map((r) => r.seconds));
  const fastest = Math.min(...two.ranks.map((r) => r.seconds));
  // On a shared machine a rank gets less than a core; its CPU time is what it would take on an idle core.
  // Idle-core estimate = the job's fixed cost (start-up, broadcast, gather, writing: wall − slowest rank)
  // plus the slowest rank's CPU time.
  const idleEstimate = (r: { wall: number; ranks: RankTiming[] }): number =>
    r.wall - Math.max(...r.ranks.map((k) => k.seconds)) + Math.max(...r.ranks.map((k) => k.cpuSeconds));
  const cpuSlowest = Math.max(...two.ranks.map((r) => r.cpuSeconds));
  const cpuFastest = Math.min(...two.ranks.map((r) => r.cpuSeconds));
  console.log(
    `speed-up P=2 vs P=1: ${(one.wall / two.wall).toFixed(2)}× wall clock (target ≥ 1.8×); ` +
      `${(idleEstimate(one) / idleEstimate(two)).toFixed(2)}× estimated for idle cores from CPU times ` +
      `(${idleEstimate(one).toFixed(1)} s vs ${idleEstimate(two).toFixed(1)} s)`,
  );
  console.log(
    `load balance at P=2: slowest/fastest rank ${(slowest / fastest).toFixed(2)} wall, ${(cpuSlowest / cpuFastest).toFixed(2)} CPU; ` +
      `results identical: ${identical}`,
  );
  if (!identical) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
