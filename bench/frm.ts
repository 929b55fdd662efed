/**
 * Fast rotational matching timings (median of repeats, tables already cached): one full frmCandidates
 * call for an n³ pair without and with missing wedges, and its building blocks, each measured alone so a
 * slowdown can be traced. Times are process CPU time (the code is single-threaded), which other jobs on
 * a shared machine disturb much less than wall-clock time; the full call also prints wall-clock time.
 * Usage: npx tsx bench/frm.ts [n] [bandwidth] [repeats]
 */
import { performance } from 'node:perf_hooks';
import { fft3 } from '../core/fft.ts';
import { frmCandidates } from '../core/frm.ts';
import { Rng } from '../core/random.ts';
import { randomRotation, transformVolumeByMatrix } from '../core/rotate.ts';
import { CrossPower, findRotationPeaks, so3Correlation, so3CorrelationPair } from '../core/so3corr.ts';
import { forwardSHTReal } from '../core/sphharm.ts';
import { Volume } from '../core/volume.ts';
import { symmetricTilt } from '../core/wedge.ts';

const n = Number(process.argv[2] ?? 64);
const B = Number(process.argv[3] ?? 32);
const repeats = Number(process.argv[4] ?? 15);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

let lastWallMs = 0;

/** Median CPU time of `repeat` runs (ms); the median wall-clock time is left in lastWallMs. */
function timeMs(repeat: number, body: () => void): number {
  for (let i = 0; i < 3; i++) body(); // JIT warm-up and table caching
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const w0 = performance.now();
    const t0 = process.cpuUsage();
    body();
    const dt = process.cpuUsage(t0);
    cpu.push((dt.user + dt.system) / 1000);
    wall.push(performance.now() - w0);
  }
  lastWallMs = median(wall);
  return median(cpu);
}

const rng = new Rng(1);
const reference = new Volume(n);
const c = n / 2;
for (let b = 0; b < 12; b++) {
  const [bx, by, bz] = [c + rng.range(-n / 5, n / 5), c + rng.range(-n / 5, n / 5), c + rng.range(-n / 5, n / 5)];
  const s2 = 2 * rng.range(1.5, 3.5) ** 2;
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const d2 = (x - bx) ** 2 + (y - by) ** 2 + (z - bz) ** 2;
        reference.data[x + n * (y + n * z)] += Math.exp(-d2 / s2);
      }
    }
  }
}
const particle = transformVolumeByMatrix(reference, randomRotation(rng), [1.5, -2, 0.5]);
const tilt = symmetricTilt(60);

const plain = timeMs(repeats, () => frmCandidates(reference, particle, { bandwidth: B }));
const plainWall = lastWallMs;
const wedged = timeMs(repeats, () =>
  frmCandidates(reference, particle, { bandwidth: B, wedgeRef: tilt, wedgeParticle: tilt }),
);
const wedgedWall = lastWallMs;

const spectrum = new Float64Array(2 * n * n * n);
const fftMs = timeMs(repeats, () => fft3(reference.data, n, spectrum));
const samples = new Float64Array(4 * B * B).map((_, i) => Math.cos(0.37 * i) ** 2);
const coeffs = new Float64Array(2 * B * B);
const shtMs = timeMs(repeats, () => {
  for (let i = 0; i < 100; i++) forwardSHTReal(samples, B, { evenDegreesOnly: true, out: coeffs });
}) / 100;
const power = new CrossPower(B);
const accMs = timeMs(repeats, () => {
  for (let i = 0; i < 100; i++) power.accumulate(coeffs, coeffs, 1);
}) / 100;
const corrMs = timeMs(repeats, () => so3Correlation(power));
const pairMs = timeMs(repeats, () => so3CorrelationPair(power, power));
const grid = so3Correlation(power);
const peakMs = timeMs(repeats, () => findRotationPeaks(grid, B, { topN: 10 }));

const shells = n / 2 - 1;
console.log(`FRM ${n}³, B = ${B} (grid ${2 * B}³, step ${(180 / B).toFixed(3)}°), ${shells} shells, median of ${repeats}`);
console.log(`  frmCandidates, no wedge      ${plain.toFixed(1)} ms CPU (${plainWall.toFixed(1)} ms wall)`);
console.log(`  frmCandidates, ±60° wedges   ${wedged.toFixed(1)} ms CPU (${wedgedWall.toFixed(1)} ms wall)`);
console.log(`  parts: fft3 ${fftMs.toFixed(2)} ms (×2) | SHT ${(shtMs * 1000).toFixed(0)} µs (×${4 * shells} plain, ×${6 * shells} wedged)`);
console.log(`         accumulate ${(accMs * 1000).toFixed(0)} µs (×${3 * shells}) | so3Correlation ${corrMs.toFixed(1)} ms | pair ${pairMs.toFixed(1)} ms | peaks ${peakMs.toFixed(1)} ms`);
