/**
 * Peak memory of a streaming alignment + averaging run: particles of 64³ (6 Å, ±60°, CTF, SNR 0.01, MTF)
 * are simulated on the fly one at a time, matched with FRM (core/frm.ts), and added to odd/even
 * wedge-normalised accumulators (core/average.ts) at the pose alignment found; at most one particle volume
 * (plus its FRM/alignment buffers) is alive at any time. Refinement is core/align.ts alignParticle (SAG, 3 FRM
 * candidates, binned to the 60 Å reference's box as campaigns do); `alignEvery` > 1 aligns only every k-th
 * particle (the others are averaged at their true pose) for quick looks.
 *
 * Prints process.resourceUsage().maxRSS (peak resident set, the whole process) and the heap after each
 * block of particles, so growth (a leak, or buffers held per particle) would show as a rising line, and the
 * CPU and wall time per phase with the CPU time a 2000-particle run needs (CPU time is robust to other jobs
 * on a shared machine; wall time is not).
 *
 * Usage: npx tsx bench/memory.ts [particles=2000] [alignEvery=20] [n=64]
 */
import { performance } from 'node:perf_hooks';
import { alignParticle } from '../core/align.ts';
import { AverageAccumulator } from '../core/average.ts';
import { lowpassToResolution, shellOfResolution } from '../core/filters.ts';
import { frmCandidates } from '../core/frm.ts';
import { groelPhantom } from '../core/phantom.ts';
import { radians } from '../core/rotate.ts';
import { DatasetSimulator, densityModel } from '../core/simulate.ts';
import type { SimulationConfig } from '../core/simulate.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { CTF_DEFAULTS } from '../model/defaults.ts';

const count = Number(process.argv[2] ?? 2000);
const alignEvery = Number(process.argv[3] ?? 1);
const n = Number(process.argv[4] ?? 64);
const TARGET_GB = 4;

const tilt = symmetricTilt(60);
const config: SimulationConfig = {
  n,
  voxelSize: 6,
  resolution: 20,
  tilt,
  tiltStep: radians(1),
  snr: 0.01,
  maxShift: 4,
  seed: 1,
  imaging: { ctf: { ...CTF_DEFAULTS }, mtf: true },
};
// FRM at bandwidth 16 (11.25° grid), 3 candidates refined by SAG at the box the 60 Å reference needs
const FRM = { bandwidth: 16, topN: 3, wedgeParticle: tilt };
const REFERENCE_RESOLUTION = 60;
const ALIGN = { method: 'sag' as const, maxShift: 6, wedgeParticle: tilt, lowpassShell: shellOfResolution(n, config.voxelSize, REFERENCE_RESOLUTION) };

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const peakMb = () => (process.resourceUsage().maxRSS / 1024).toFixed(0); // maxRSS is in KiB

const started = performance.now();
const sim = new DatasetSimulator(densityModel(groelPhantom()), config);
const reference = lowpassToResolution(sim.reference(), REFERENCE_RESOLUTION);
const halves = [new AverageAccumulator(n, config.voxelSize), new AverageAccumulator(n, config.voxelSize)];
console.log(`setup: ${((performance.now() - started) / 1000).toFixed(1)} s, peak RSS ${peakMb()} MB`);
console.log(`${count} particles of ${n}³, FRM on all, alignParticle (SAG, 3 candidates, binned) on every ${alignEvery === 1 ? '' : `${alignEvery}th `}particle`);

type Phase = 'simulate' | 'frm' | 'align' | 'average';
const wall: Record<Phase, number> = { simulate: 0, frm: 0, align: 0, average: 0 };
const cpu: Record<Phase, number> = { simulate: 0, frm: 0, align: 0, average: 0 };
/** Runs `body`, adding its wall-clock and CPU seconds to `phase` (CPU time is what other jobs on a shared machine disturb least). */
function timed<T>(phase: Phase, body: () => T): T {
  const w0 = performance.now();
  const c0 = process.cpuUsage();
  const result = body();
  const c = process.cpuUsage(c0);
  cpu[phase] += (c.user + c.system) / 1e6;
  wall[phase] += (performance.now() - w0) / 1000;
  return result;
}

let aligned = 0;
const block = Math.max(1, Math.round(count / 10));
for (let i = 0; i < count; i++) {
  const p = timed('simulate', () => sim.particle(i));
  const candidates = timed('frm', () => frmCandidates(reference, p.volume, FRM));
  let pose = p.pose;
  if (i % alignEvery === 0) {
    pose = timed('align', () => alignParticle(reference, p.volume, { ...ALIGN, candidates }).best?.pose ?? p.pose);
    aligned++;
  }
  timed('average', () => halves[i % 2].add(p.volume, pose, { tilt }));

  if ((i + 1) % block === 0 || i + 1 === count) {
    const heap = process.memoryUsage();
    console.log(
      `  ${String(i + 1).padStart(5)} particles  ${((performance.now() - started) / 1000).toFixed(0).padStart(5)} s  ` +
        `peak RSS ${peakMb()} MB  rss ${mb(heap.rss)} MB  heap ${mb(heap.heapUsed)} MB  external+buffers ${mb(heap.external + heap.arrayBuffers)} MB`,
    );
  }
}
timed('average', () => {
  const combined = new AverageAccumulator(n, config.voxelSize);
  combined.merge(halves[0]);
  combined.merge(halves[1]);
  halves.forEach((h) => h.finish());
  combined.finish();
});

const total = (performance.now() - started) / 1000;
const ms = (seconds: number, per: number) => ((1000 * seconds) / Math.max(1, per)).toFixed(0);
const alignCpu = cpu.align / Math.max(1, aligned);
const streamCpu = (cpu.simulate + cpu.frm + cpu.average) / count;
const peakGb = process.resourceUsage().maxRSS / 2 ** 20;
console.log(`wall ${total.toFixed(0)} s in all. Per particle, CPU (wall) ms:`);
console.log(
  `  simulate ${ms(cpu.simulate, count)} (${ms(wall.simulate, count)}), FRM ${ms(cpu.frm, count)} (${ms(wall.frm, count)}), ` +
    `average ${ms(cpu.average, count)} (${ms(wall.average, count)}), alignParticle ${ms(alignCpu, 1)} (${ms(wall.align, aligned)}) ` +
    `on ${aligned} particles`,
);
console.log(
  `CPU for 2000 particles at this setting: simulate + FRM + average ≈ ${((2000 * streamCpu) / 60).toFixed(0)} min, ` +
    `alignParticle on all ≈ ${((2000 * alignCpu) / 60).toFixed(0)} min more (one core; memory does not grow with the count)`,
);
console.log(`peak RSS ${(peakGb * 1024).toFixed(0)} MB = ${peakGb.toFixed(2)} GB (target < ${TARGET_GB} GB: ${peakGb < TARGET_GB ? 'met' : 'NOT met'})`);
