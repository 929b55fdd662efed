import { describe, expect, it } from 'vitest';
import { squaredDistanceTransform } from '../core/distance.ts';
import { thresholdMask } from '../core/filters.ts';
import { Rng } from '../core/random.ts';
import { Volume } from '../core/volume.ts';

/** Brute force: the smallest squared distance to any set voxel. */
function bruteForce(inSet: Uint8Array, n: number): Float64Array {
  const set: [number, number, number][] = [];
  for (let i = 0; i < inSet.length; i++) if (inSet[i]) set.push([i % n, Math.floor(i / n) % n, Math.floor(i / (n * n))]);
  const out = new Float64Array(inSet.length);
  for (let i = 0; i < out.length; i++) {
    const [x, y, z] = [i % n, Math.floor(i / n) % n, Math.floor(i / (n * n))];
    let best = Infinity;
    for (const [a, b, c] of set) best = Math.min(best, (x - a) ** 2 + (y - b) ** 2 + (z - c) ** 2);
    out[i] = best;
  }
  return out;
}

describe('squaredDistanceTransform', () => {
  it('equals the brute-force distance to the nearest set voxel, exactly', () => {
    const rng = new Rng(5);
    for (const [n, fraction] of [[9, 0.01], [12, 0.05], [10, 0.3]] as const) {
      const inSet = new Uint8Array(n * n * n);
      for (let i = 0; i < inSet.length; i++) inSet[i] = rng.uniform() < fraction ? 1 : 0;
      inSet[0] = 1; // never empty
      expect(Array.from(squaredDistanceTransform(inSet, n))).toEqual(Array.from(bruteForce(inSet, n)));
    }
  });
});

describe('thresholdMask (relion_mask_create-like)', () => {
  it('binarises at the threshold, extends by whole voxels, then falls off over the soft edge', () => {
    const n = 24;
    const v = new Volume(n, 5);
    v.set(12, 12, 12, 10); // one voxel above the threshold
    const mask = thresholdMask(v, 5, 3, 4);
    const at = (x: number, y: number, z: number) => mask[x + n * (y + n * z)];
    expect(at(12, 12, 12)).toBe(1);
    expect(at(15, 12, 12)).toBe(1); // 3 voxels away: within the extension
    expect(at(17, 12, 12)).toBeCloseTo(0.5, 6); // 2 of the 4 soft voxels: half way down the raised cosine
    expect(at(19, 12, 12)).toBe(0);
    expect(at(12 + 3, 12 + 3, 12)).toBeCloseTo(0.5 + 0.5 * Math.cos((Math.PI * (Math.hypot(3, 3) - 3)) / 4), 6);
    expect(() => thresholdMask(v, 11, 0, 0)).toThrow(/no voxel reaches the threshold 11 \(the map's maximum is 10\)/);
  });
});
