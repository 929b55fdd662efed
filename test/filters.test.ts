import { describe, expect, it } from 'vitest';
import {
  applyFourierFilter,
  gaussianFilter,
  lowpass,
  lowpassMask,
  lowpassToResolution,
  shellOfResolution,
  softCylinderMask,
  softSphereMask,
} from '../core/filters.ts';
import { Rng } from '../core/random.ts';
import { Volume, centreOf, freqOf } from '../core/volume.ts';

const n = 32;
const c = centreOf(n);

/** cos(2π k·x / n): a single Fourier component pair ±k. */
function planeWave(k: [number, number, number]): Volume {
  const v = new Volume(n, 6);
  for (let z = 0; z < n; z++)
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) v.set(x, y, z, Math.cos((2 * Math.PI * (k[0] * x + k[1] * y + k[2] * z)) / n));
  return v;
}

/** Gain of a filter on a plane wave: least-squares amplitude of the output along the input. */
function gain(filtered: Volume, input: Volume): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < input.data.length; i++) {
    num += filtered.data[i] * input.data[i];
    den += input.data[i] * input.data[i];
  }
  return num / den;
}

function noiseVolume(seed: number): Volume {
  const rng = new Rng(seed);
  const v = new Volume(n, 6);
  for (let i = 0; i < v.data.length; i++) v.data[i] = rng.gaussian();
  return v;
}

describe('lowpassMask (raised cosine, edge centred on the cut-off)', () => {
  const cutoff = 8;
  const edge = 2;
  const mask = lowpassMask(n, cutoff, edge);
  const radiusOf = (i: number): number => Math.hypot(freqOf(i % n, n), freqOf(Math.floor(i / n) % n, n), freqOf(Math.floor(i / (n * n)), n));

  it('is 1 below cut-off − edge/2, 0 beyond cut-off + edge/2 and a raised cosine between', () => {
    let inEdge = 0;
    for (let i = 0; i < mask.length; i++) {
      const r = radiusOf(i);
      if (r <= cutoff - edge / 2) expect(mask[i]).toBe(1);
      else if (r >= cutoff + edge / 2) expect(mask[i]).toBe(0);
      else {
        inEdge++;
        const expected = 0.5 + 0.5 * Math.cos((Math.PI * (r - (cutoff - edge / 2))) / edge);
        expect(mask[i]).toBeCloseTo(expected, 6);
      }
    }
    expect(inEdge).toBeGreaterThan(1000); // the edge is actually sampled
  });

  it('is 0.5 at the cut-off, monotone in |k| and antisymmetric about the cut-off: m(c−δ) + m(c+δ) = 1', () => {
    expect(mask[cutoff]).toBeCloseTo(0.5, 6); // k = (8, 0, 0)
    const wide = lowpassMask(n, cutoff, 4); // along +x: index = kx
    for (let r = 1; r < n / 2; r++) expect(wide[r]).toBeLessThanOrEqual(wide[r - 1]);
    for (let delta = 0; delta <= 3; delta++) expect(wide[cutoff - delta] + wide[cutoff + delta]).toBeCloseTo(1, 6);
    expect(wide[cutoff - 2]).toBe(1);
    expect(wide[cutoff + 2]).toBe(0);
  });

  it('with edge 0 is a hard sphere |k| ≤ cut-off', () => {
    const hard = lowpassMask(n, 5, 0);
    for (let i = 0; i < hard.length; i++) expect(hard[i]).toBe(radiusOf(i) <= 5 ? 1 : 0);
  });

  it('rejects a negative cut-off or edge', () => {
    expect(() => lowpassMask(n, -1)).toThrow(/cut-off/);
    expect(() => lowpassMask(n, 4, -2)).toThrow(/edge/);
  });
});

describe('lowpass on plane waves', () => {
  const cases: Array<[[number, number, number], number]> = [
    [[3, 0, 0], 1],
    [[0, 4, -4], 1], // |k| = 5.66
    [[0, 8, 0], 0.5],
    [[5, 6, 0], 0.5 + 0.5 * Math.cos((Math.PI * (Math.hypot(5, 6) - 7)) / 2)],
    [[0, 0, 10], 0],
    [[6, -6, 6], 0],
  ];
  for (const [k, expected] of cases) {
    it(`passes k = (${k}) with gain ${expected.toFixed(4)}`, () => {
      const wave = planeWave(k);
      const out = lowpass(wave, 8, 2);
      expect(gain(out, wave)).toBeCloseTo(expected, 5);
      // a single component stays a single component: the output is gain × input
      let residual = 0;
      for (let i = 0; i < wave.data.length; i++) residual = Math.max(residual, Math.abs(out.data[i] - expected * wave.data[i]));
      expect(residual).toBeLessThan(1e-5);
    });
  }
  // (0, 6, 4): |k|² = 52 → 7.21, which is inside the edge [7, 9]: recompute the expected gain exactly
  it('gives the raised-cosine gain inside the edge for k = (0, 6, 4)', () => {
    const wave = planeWave([0, 6, 4]);
    const expected = 0.5 + 0.5 * Math.cos((Math.PI * (Math.hypot(6, 4) - 7)) / 2);
    expect(gain(lowpass(wave, 8, 2), wave)).toBeCloseTo(expected, 5);
  });

  it('to a resolution in Å uses cut-off shell n·voxel/res', () => {
    const v = noiseVolume(3);
    expect(shellOfResolution(n, 6, 24)).toBe(8);
    const a = lowpassToResolution(v, 24, 2);
    const b = lowpass(v, 8, 2);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(a.voxelSize).toBe(6);
    expect(() => lowpassToResolution(v, 0)).toThrow(/resolution/);
  });

  it('applyFourierFilter rejects a transfer function of the wrong size', () => {
    expect(() => applyFourierFilter(noiseVolume(1), new Float32Array(8))).toThrow(/8 values/);
  });
});

describe('gaussianFilter', () => {
  const sigma = 2;
  const delta = new Volume(n, 6);
  delta.set(c, c, c, 1);
  const out = gaussianFilter(delta, sigma);

  it('turns a delta into the sampled normalised Gaussian', () => {
    const norm = 1 / (2 * Math.PI * sigma * sigma) ** 1.5;
    let worst = 0;
    for (let z = 0; z < n; z++)
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++) {
          const r2 = (x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2;
          worst = Math.max(worst, Math.abs(out.get(x, y, z) - norm * Math.exp(-r2 / (2 * sigma * sigma))));
        }
    expect(worst / norm).toBeLessThan(1e-5);
  });

  it('preserves the integral and has variance σ² along each axis', () => {
    let sum = 0;
    const second = [0, 0, 0];
    for (let z = 0; z < n; z++)
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++) {
          const v = out.get(x, y, z);
          sum += v;
          second[0] += v * (x - c) ** 2;
          second[1] += v * (y - c) ** 2;
          second[2] += v * (z - c) ** 2;
        }
    expect(sum).toBeCloseTo(1, 6);
    for (const s of second) expect(s).toBeCloseTo(sigma * sigma, 4);
  });

  it('with σ = 0 is the identity and rejects σ < 0', () => {
    const v = noiseVolume(9);
    const same = gaussianFilter(v, 0);
    for (let i = 0; i < v.data.length; i++) expect(same.data[i]).toBeCloseTo(v.data[i], 5);
    expect(() => gaussianFilter(v, -1)).toThrow(/sigma/);
  });
});

describe('softSphereMask', () => {
  const radius = 5;
  const edge = 4;
  const mask = softSphereMask(n, radius, edge);
  const at = (dx: number, dy = 0, dz = 0): number => mask[c + dx + n * (c + dy + n * (c + dz))];

  it('is 1 inside, a raised cosine over the edge and 0 beyond', () => {
    expect(at(0)).toBe(1);
    expect(at(5)).toBe(1);
    expect(at(0, -5)).toBe(1);
    expect(at(6)).toBeCloseTo(0.5 + 0.5 * Math.cos(Math.PI / 4), 6); // 0.8536
    expect(at(0, 0, 7)).toBeCloseTo(0.5, 6);
    expect(at(8)).toBeCloseTo(0.5 + 0.5 * Math.cos((3 * Math.PI) / 4), 6); // 0.1464
    expect(at(9)).toBe(0);
    expect(at(3, 4, 0)).toBe(1); // distance exactly 5
    expect(at(4, 4, 4)).toBeCloseTo(0.5 + 0.5 * Math.cos((Math.PI * (Math.sqrt(48) - 5)) / 4), 6);
    expect(mask[0]).toBe(0);
  });

  it('integrates to the volume of the soft sphere', () => {
    // ∫ 4πr² m(r) dr by the midpoint rule on a fine grid
    let analytic = (4 / 3) * Math.PI * radius ** 3;
    const steps = 10000;
    for (let i = 0; i < steps; i++) {
      const r = radius + ((i + 0.5) * edge) / steps;
      analytic += 4 * Math.PI * r * r * (0.5 + 0.5 * Math.cos((Math.PI * (r - radius)) / edge)) * (edge / steps);
    }
    const sum = mask.reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - analytic) / analytic).toBeLessThan(0.01);
  });

  it('rejects a negative radius', () => {
    expect(() => softSphereMask(n, -1, 2)).toThrow(/radius/);
  });
});

describe('softCylinderMask (axis z)', () => {
  const mask = softCylinderMask(n, 6, 8, 4);
  const at = (dx: number, dy: number, dz: number): number => mask[c + dx + n * (c + dy + n * (c + dz))];

  it('is 1 inside, 0 beyond radius + edge or half-height + edge, the product of both profiles between', () => {
    expect(at(0, 0, 0)).toBe(1);
    expect(at(6, 0, 8)).toBe(1);
    expect(at(0, -6, -8)).toBe(1);
    expect(at(8, 0, 0)).toBeCloseTo(0.5, 6);
    expect(at(0, 0, 10)).toBeCloseTo(0.5, 6);
    expect(at(8, 0, 10)).toBeCloseTo(0.25, 6);
    expect(at(10, 0, 0)).toBe(0);
    expect(at(0, 0, 12)).toBe(0);
    expect(at(0, 0, -13)).toBe(0);
  });

  it('does not depend on z inside the height and is rotationally symmetric about z', () => {
    for (let dz = -8; dz <= 8; dz++) expect(at(7, 0, dz)).toBe(at(7, 0, 0));
    expect(at(0, 7, 3)).toBe(at(7, 0, 3));
    expect(at(3, 4, 0)).toBe(at(5, 0, 0));
  });
});
