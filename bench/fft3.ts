/**
 * 64³ forward + inverse FFT time (median and min of repeats) for core/fft.ts, next to numpy.fft run right
 * after it from this script (complex128 fftn+ifftn, and rfftn+irfftn), so both see the same machine.
 * numpy's fftn includes its float32 → complex128 conversion, as our fft3 includes packing the real input.
 * Usage: npx tsx bench/fft3.ts [n] [repeats]
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fft3, fft3InPlace, ifft3Real } from '../core/fft.ts';
import { Rng } from '../core/random.ts';

const n = Number(process.argv[2] ?? 64);
const repeats = Number(process.argv[3] ?? 30);

interface Timing {
  median: number;
  min: number;
}

function timeMs(repeat: number, body: () => void): Timing {
  for (let i = 0; i < 3; i++) body(); // JIT warm-up
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    body();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0] };
}

const show = (t: Timing): string => `${t.median.toFixed(2).padStart(7)} ms (min ${t.min.toFixed(2)} ms)`;

const rng = new Rng(1);
const real = new Float32Array(n * n * n);
for (let i = 0; i < real.length; i++) real[i] = rng.gaussian();
const spec = new Float64Array(2 * real.length);
const back = new Float32Array(real.length);
const complex = new Float64Array(2 * real.length);

const jsReal = timeMs(repeats, () => {
  fft3(real, n, spec);
  ifft3Real(spec, n, back);
});
let maxErr = 0;
for (let i = 0; i < real.length; i++) maxErr = Math.max(maxErr, Math.abs(back[i] - real[i]));

const jsComplex = timeMs(repeats, () => {
  for (let i = 0; i < real.length; i++) {
    complex[2 * i] = real[i];
    complex[2 * i + 1] = 0;
  }
  fft3InPlace(complex, n, false);
  fft3InPlace(complex, n, true);
});

const numpyScript = `
import time, numpy as np
n, repeats = ${n}, ${repeats}
v = np.random.default_rng(1).standard_normal((n, n, n)).astype(np.float32)
def timing_ms(f):
    for _ in range(3): f()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    ts.sort(); return '%f %f' % (ts[len(ts) // 2] * 1e3, ts[0] * 1e3)
c = timing_ms(lambda: np.fft.ifftn(np.fft.fftn(v)).real)
r = timing_ms(lambda: np.fft.irfftn(np.fft.rfftn(v), s=v.shape, axes=(0, 1, 2)))
print(c, r, np.__version__)
`;
const py = spawnSync('python3', ['-c', numpyScript], { encoding: 'utf8' });

const row = (label: string, value: string): void => console.log(`${label.padEnd(50)}${value}`);
console.log(`n = ${n}, median (and min) of ${repeats} repeats; float32 round-trip max |ifft3Real(fft3(v)) − v| = ${maxErr.toExponential(2)}`);
row('subtomo fft3 + ifft3Real (real in/out)', show(jsReal));
row('subtomo fft3InPlace forward + inverse (complex)', show(jsComplex));
if (py.status === 0) {
  const [cMed, cMin, rMed, rMin, version] = py.stdout.trim().split(/\s+/);
  const npComplex: Timing = { median: Number(cMed), min: Number(cMin) };
  const npReal: Timing = { median: Number(rMed), min: Number(rMin) };
  const ratio = (a: Timing, b: Timing): string => `${(a.median / b.median).toFixed(2)}× (min/min ${(a.min / b.min).toFixed(2)}×)`;
  row(`numpy ${version} fftn + ifftn (complex128)`, show(npComplex));
  row(`numpy ${version} rfftn + irfftn`, show(npReal));
  row('ratio fft3+ifft3Real / numpy fftn+ifftn', ratio(jsReal, npComplex));
  row('ratio fft3+ifft3Real / numpy rfftn+irfftn', ratio(jsReal, npReal));
  row('ratio complex fft3InPlace / numpy fftn+ifftn', ratio(jsComplex, npComplex));
} else {
  console.log(`numpy peer not run (python3 with numpy unavailable: ${py.error?.message ?? py.stderr.trim().split('\n').pop()})`);
}
