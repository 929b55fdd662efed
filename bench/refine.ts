/**
 * Time of one (particle × candidate) refinement — FTM + local refinement, core/align.ts refineCandidate —
 * for each method at n³, on blob particles from 10° away: noise free and fully observed, and with a ±60°
 * wedge plus noise of the signal's standard deviation. Prints median wall time, full passes over the
 * masked voxels, pose errors, and each method's time as a ratio to Xu's LM run in the same process.
 * Usage: npx tsx bench/refine.ts [n] [cases]
 */
import { performance } from 'node:perf_hooks';
import { refineCandidate } from '../core/align.ts';
import { symmetricTilt } from '../core/wedge.ts';
import type { AlignMethod } from '../model/methods.ts';
import { alignmentCase, poseErrors } from '../test/helpers/alignment-case.ts';

const n = Number(process.argv[2] ?? 64);
const cases = Number(process.argv[3] ?? 5);
const methods: AlignMethod[] = ['sag', 'sag1', 'lm', 'chen'];
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const condition of ['noise free, full tilt', '±60° wedge, noise σ = signal σ'] as const) {
  const wedge = condition.startsWith('±') ? symmetricTilt(60) : undefined;
  const stats = new Map<AlignMethod, { ms: number[]; passes: number[]; deg: number[]; vox: number[] }>();
  for (const m of methods) stats.set(m, { ms: [], passes: [], deg: [], vox: [] });
  for (let k = -1; k < cases; k++) {
    // case −1 warms the JIT up and is not counted
    const c = alignmentCase(n, 1000 + Math.max(k, 0), { offsetDegrees: 10, wedge, noise: wedge ? 1 : 0 });
    for (const method of methods) {
      const t0 = performance.now();
      const r = refineCandidate({
        method,
        reference: c.reference,
        particle: c.particle,
        candidate: { R: c.startR },
        candidateIndex: 0,
        maxShift: 6,
        mask: c.mask,
        wedgeParticle: wedge,
        seed: k,
      });
      const ms = performance.now() - t0;
      if (k < 0) continue;
      const e = poseErrors(c, r.R, r.t);
      const s = stats.get(method)!;
      s.ms.push(ms);
      s.passes.push(r.evaluations);
      s.deg.push(e.degrees);
      s.vox.push(e.voxels);
    }
  }
  const lm = median(stats.get('lm')!.ms);
  console.log(`\n${n}³, ${condition}, ${cases} cases (median):`);
  for (const method of methods) {
    const s = stats.get(method)!;
    const ms = median(s.ms);
    console.log(
      `  ${method.padEnd(5)} ${ms.toFixed(0).padStart(6)} ms (${(ms / lm).toFixed(2)}× LM)  ${median(s.passes).toFixed(0).padStart(5)} passes  ` +
        `error ${median(s.deg).toFixed(2)}° / ${median(s.vox).toFixed(3)} voxel`,
    );
  }
}
