/**
 * Simulator throughput and calibration: a data set of 20 particles of 64³ at 6 Å with 121 tilts (±60°, 1°),
 * CTF, SNR 0.003 and MTF, timed end to end (target ≤ 30 s on 2 cores), next to a numpy/scipy peer of the same
 * per-particle pipeline run in the same invocation, so the ratio is not skewed by machine load.
 * Also prints the SNR measured on the projections (known signal, and two noise realisations ρ/(1−ρ)) and
 * the per-subtomogram SNR that the per-projection SNR amounts to.
 * Usage: npx tsx bench/simulate.ts [particles] [size]
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { softSphereMask } from '../core/filters.ts';
import { groelPhantom } from '../core/phantom.ts';
import { Rng } from '../core/random.ts';
import { randomRotation, radians } from '../core/rotate.ts';
import {
  DatasetSimulator,
  TomographySimulator,
  densityModel,
  renderDensity,
  snrFromTwoRealisations,
  tiltAngles,
} from '../core/simulate.ts';
import type { SimulationConfig } from '../core/simulate.ts';
import { symmetricTilt } from '../core/wedge.ts';
import { CTF_DEFAULTS } from '../model/defaults.ts';

const count = Number(process.argv[2] ?? 20);
const n = Number(process.argv[3] ?? 64);
const snr = 0.003;
const config: SimulationConfig = {
  n,
  voxelSize: 6,
  resolution: 20,
  tilt: symmetricTilt(60),
  tiltStep: radians(1),
  snr,
  maxShift: 4,
  seed: 1,
  imaging: { ctf: { ...CTF_DEFAULTS }, mtf: true },
};

const model = densityModel(groelPhantom());
const t0 = performance.now();
const sim = new DatasetSimulator(model, config);
sim.reference();
for (let i = 0; i < count; i++) sim.particle(i);
const seconds = (performance.now() - t0) / 1000;
console.log(`subtomo: ${count} particles of ${n}³, ${sim.angles.length} tilts: ${seconds.toFixed(2)} s (${((1000 * seconds) / count).toFixed(0)} ms/particle)`);

// SNR as delivered: one particle's CTF-filtered projections with two independent noise draws
const tomo = new TomographySimulator(n, config.voxelSize, tiltAngles(config.tilt, config.tiltStep), config.imaging);
const rng = new Rng(99);
const density = renderDensity(model, config, { rotation: randomRotation(rng), shift: [1, -2, 0.5] });
const clean = tomo.project(density);
tomo.applyCtf(clean);
const realisation = (seed: number) => {
  const s = { ...clean, images: clean.images.slice() };
  tomo.addNoise(s, snr, new Rng(seed));
  return s;
};
const a = realisation(1);
const b = realisation(2);
let signalVar = 0, noiseVar = 0;
const m = n * n;
for (let t = 0; t < clean.angles.length; t++) {
  let ms = 0, mn = 0;
  for (let i = t * m; i < (t + 1) * m; i++) {
    ms += clean.images[i];
    mn += a.images[i] - clean.images[i];
  }
  ms /= m;
  mn /= m;
  for (let i = t * m; i < (t + 1) * m; i++) {
    signalVar += (clean.images[i] - ms) ** 2;
    noiseVar += (a.images[i] - clean.images[i] - mn) ** 2;
  }
}
const samples = a.images.length;
console.log(
  `projection SNR requested ${snr}: known-signal var(s)/var(noise) = ${(signalVar / noiseVar).toFixed(5)}, ` +
    `two realisations ρ/(1−ρ) = ${snrFromTwoRealisations(a.images, b.images, m).toFixed(5)} (± ${(1 / Math.sqrt(samples)).toFixed(4)} from ${samples} samples)`,
);
tomo.applyMtf(a);
tomo.applyMtf(b);
const subA = tomo.reconstruct(a);
const subB = tomo.reconstruct(b);
const sphere = softSphereMask(n, n / 2 - 2, 0);
const inside = (v: Float32Array) => v.filter((_, i) => sphere[i] > 0);
console.log(
  `after MTF and WBP: subtomogram SNR inside the inscribed sphere, ρ/(1−ρ) of two realisations = ` +
    `${snrFromTwoRealisations(inside(subA.data), inside(subB.data), inside(subA.data).length).toFixed(4)}`,
);

const peer = String.raw`
import time, sys, numpy as np
from scipy.ndimage import map_coordinates
n, nt = int(sys.argv[1]), 121
ang = np.deg2rad(np.arange(-60, 61, 1.0)); c = n // 2; vox = 6.0
rng = np.random.default_rng(1)
vol = rng.random((n, n, n)).astype(np.float32)
lam = 12.2643 / np.sqrt(300e3 * (1 + 0.978466e-6 * 300e3))
def radial(m):
    f = np.fft.fftfreq(m); return np.hypot(*np.meshgrid(f, f, indexing='ij'))
k2 = radial(2 * n) / vox
chi = np.pi * lam * 6e4 * k2**2 - np.pi / 2 * 2e7 * lam**3 * k2**4
ctf = -(np.sqrt(1 - 0.07**2) * np.sin(chi) + 0.07 * np.cos(chi))
mtf = np.sinc(radial(n) / 0.5 / 2)
h = np.zeros(2 * n); h[0] = 0.25; j = np.arange(1, n, 2); h[j] = -1 / (np.pi * j)**2; h[-j] = h[j]
ramp = np.fft.fft(h).real
zz, xx = np.meshgrid(np.arange(n) - c, np.arange(n) - c, indexing='ij')
def particle():
    proj = np.empty((nt, n, n))
    for t, a in enumerate(ang):
        ca, sa = np.cos(a), np.sin(a)
        sx = c + ca * xx - sa * zz; sz = c + sa * xx + ca * zz   # rows z', cols x'
        for y in range(n):
            proj[t, y] = map_coordinates(vol[:, y, :], [sz, sx], order=1).sum(axis=0)
    pad = np.zeros((nt, 2 * n, 2 * n)); pad[:, c:c + n, c:c + n] = proj
    proj = np.fft.ifft2(np.fft.fft2(pad) * ctf).real[:, c:c + n, c:c + n]
    proj += rng.standard_normal(proj.shape) * np.sqrt(proj.var(axis=(1, 2)) / 0.003)[:, None, None]
    proj = np.fft.ifft2(np.fft.fft2(proj) * mtf).real
    rows = np.fft.ifft(np.fft.fft(proj, 2 * n, axis=2) * ramp, axis=2).real[:, :, :n] * np.pi / nt
    rec = np.zeros((n, n, n))
    for t, a in enumerate(ang):
        sx = c + np.cos(a) * xx + np.sin(a) * zz
        i0 = np.clip(np.floor(sx).astype(int), 0, n - 2); f = sx - i0
        inside = (sx >= 0) & (sx <= n - 1)
        r = rows[t]                                          # (y, x')
        w0 = np.where(inside, 1 - f, 0)[:, None, :]; w1 = np.where(inside, f, 0)[:, None, :]
        rec += w0 * r[:, i0].transpose(1, 0, 2) + w1 * r[:, i0 + 1].transpose(1, 0, 2)
    return rec
particle()
ts = []
for _ in range(3):
    t0 = time.perf_counter(); particle(); ts.append(time.perf_counter() - t0)
print(sorted(ts)[1] * 1000)
`;
const res = spawnSync('python3', ['-c', peer, String(n)], { encoding: 'utf8' });
if (res.status === 0) {
  const peerMs = Number(res.stdout.trim());
  console.log(
    `numpy/scipy peer (same pipeline, random volume): ${peerMs.toFixed(0)} ms/particle; subtomo/peer = ${((1000 * seconds) / count / peerMs).toFixed(2)}`,
  );
} else {
  console.log(`numpy/scipy peer unavailable: ${res.stderr.trim().split('\n').pop()}`);
}
