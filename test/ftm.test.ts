import { describe, expect, it } from 'vitest';
import { applyFourierFilter } from '../core/filters.ts';
import { fft3, ifft3Real } from '../core/fft.ts';
import { TranslationMatcher, ftm } from '../core/ftm.ts';
import { Rng } from '../core/random.ts';
import { type Mat3, identity, randomRotation, rotationY, transformVolumeByMatrix } from '../core/rotate.ts';
import { Volume } from '../core/volume.ts';
import { symmetricTilt, wedgeMask } from '../core/wedge.ts';
import { randomBlobs, renderBlobs } from './helpers/blobs.ts';
import { rotateAway } from './helpers/alignment-case.ts';

const N = 32;
const WEDGE = symmetricTilt(60);

function particleAt(seed: number, t: [number, number, number]): { reference: Volume; particle: Volume; R: Mat3 } {
  const rng = new Rng(seed);
  const blobs = randomBlobs(rng, 8, N / 4);
  const R = randomRotation(rng);
  const particle = applyFourierFilter(renderBlobs(blobs, N, R, t), wedgeMask(N, WEDGE));
  return { reference: renderBlobs(blobs, N), particle, R };
}

/**
 * The score of an integer shift from the definition: constrain p and q = Λ_R reference with the wedge, drop
 * the mean, scale to unit norm and sum p(x)·q(x − T) with circular indexing.
 */
function directScore(reference: Volume, particle: Volume, R: Mat3, T: number[]): number {
  const unit = (v: Float32Array): Float32Array => {
    const spec = fft3(v, N);
    const m = wedgeMask(N, WEDGE);
    for (let i = 0; i < m.length; i++) {
      spec[2 * i] *= m[i];
      spec[2 * i + 1] *= m[i];
    }
    spec[0] = 0;
    spec[1] = 0;
    const out = ifft3Real(spec, N);
    const norm = Math.hypot(...out);
    return out.map((x) => x / norm);
  };
  const p = unit(particle.data);
  const q = unit(transformVolumeByMatrix(reference, R, [0, 0, 0]).data);
  const wrap = (a: number): number => ((a % N) + N) % N;
  let s = 0;
  for (let z = 0; z < N; z++) {
    for (let y = 0; y < N; y++) {
      for (let x = 0; x < N; x++) {
        s += p[x + N * (y + N * z)] * q[wrap(x - T[0]) + N * (wrap(y - T[1]) + N * wrap(z - T[2]))];
      }
    }
  }
  return s;
}

describe('FTM translation search', () => {
  it('recovers an integer shift for a known rotation with a ±60° wedge, scored as the definition says', () => {
    const T: [number, number, number] = [3, -2, 1];
    const { reference, particle, R } = particleAt(1, T);
    const match = ftm(reference, particle, R, { maxShift: 6, wedgeParticle: WEDGE });
    for (let a = 0; a < 3; a++) expect(Math.abs(match.t[a] - T[a])).toBeLessThan(0.1);
    const direct = directScore(reference, particle, R, T);
    expect(direct).toBeGreaterThan(0.95);
    // the reported score is the integer peak plus the (small, non-negative) rise of the fitted parabolas
    expect(match.score).toBeGreaterThanOrEqual(direct - 1e-6);
    expect(match.score - direct).toBeLessThan(0.01);
  });

  it('recovers sub-voxel shifts to better than 0.2 voxel', () => {
    const rng = new Rng(9);
    for (let k = 0; k < 4; k++) {
      const T: [number, number, number] = [rng.range(-3, 3), rng.range(-3, 3), rng.range(-3, 3)];
      const { reference, particle, R } = particleAt(20 + k, T);
      const match = new TranslationMatcher(particle, WEDGE).match(reference, R, { maxShift: 6 });
      const error = Math.hypot(match.t[0] - T[0], match.t[1] - T[1], match.t[2] - T[2]);
      expect(error).toBeLessThan(0.2);
    }
  });

  it('scores the true rotation above a wrong one', () => {
    const { reference, particle, R } = particleAt(3, [1.5, 0.5, -1]);
    const matcher = new TranslationMatcher(particle, WEDGE);
    const right = matcher.match(reference, R, { maxShift: 6 }).score;
    const wrong = matcher.match(reference, rotateAway(R, 30, new Rng(4)), { maxShift: 6 }).score;
    expect(right).toBeGreaterThan(0.95);
    expect(wrong).toBeLessThan(right);
  });

  it('only searches |T| ≤ maxShift', () => {
    const T: [number, number, number] = [6, 0, 0];
    const { reference, particle, R } = particleAt(5, T);
    const free = ftm(reference, particle, R, { maxShift: 8, wedgeParticle: WEDGE });
    expect(Math.abs(free.t[0] - 6)).toBeLessThan(0.1);
    const limited = ftm(reference, particle, R, { maxShift: 3, wedgeParticle: WEDGE });
    // integer peak within the radius, at most half a voxel of sub-voxel refinement on each axis
    expect(Math.hypot(...limited.t)).toBeLessThanOrEqual(3 + Math.sqrt(3) / 2);
    expect(limited.score).toBeLessThan(free.score);
  });

  it('accounts for a reference wedge rotated with the reference', () => {
    const T: [number, number, number] = [-1, 2, 0.5];
    const { reference, particle, R } = particleAt(6, T);
    const wedged = applyFourierFilter(reference, wedgeMask(N, symmetricTilt(45)));
    const match = ftm(wedged, particle, R, { maxShift: 6, wedgeParticle: WEDGE, wedgeRef: symmetricTilt(45) });
    expect(Math.hypot(match.t[0] - T[0], match.t[1] - T[1], match.t[2] - T[2])).toBeLessThan(0.2);
    expect(match.score).toBeGreaterThan(0.9);
  });

  it('finds no signal when the rotated reference lies wholly in the missing wedge, rounding aside', () => {
    // slabs normal to z: all signal on the kz axis, which a ±60° tilt series about y never observes; the FFT
    // leaves ~1e-32 of the energy elsewhere, which must not count as signal (core/align.ts then records
    // the candidate as failed instead of refining on rounding noise)
    const slabs = new Volume(N);
    for (let z = 0; z < N; z++) for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) slabs.set(x, y, z, Math.exp(-((z - 16) ** 2) / 8));
    const { particle } = particleAt(8, [0, 0, 0]);
    expect(() => ftm(slabs, particle, identity(), { maxShift: 4, wedgeParticle: WEDGE })).toThrow(/no signal inside the wedge overlap/);
    expect(ftm(slabs, particle, rotationY(Math.PI / 2), { maxShift: 4, wedgeParticle: WEDGE }).score).toBeGreaterThan(-1);
  });

  it('rejects a bad maximum shift and mismatched boxes', () => {
    const { reference, particle, R } = particleAt(7, [0, 0, 0]);
    expect(() => ftm(reference, particle, R, { maxShift: -1 })).toThrow(/maximum shift/);
    expect(() => ftm(renderBlobs([], 16), particle, R, { maxShift: 2 })).toThrow(/16³/);
  });
});
