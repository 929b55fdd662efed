/**
 * Gold-standard half maps: odd and even particles are averaged separately (they must never see each other's
 * data before the FSC, design "FSC and resolution"), and the combined map is their pooled average.
 *
 * The single-process path and the MPI ranks both accumulate with `HalfMapSums.add`; ranks then add their
 * sums element-wise (`buffers` in a fixed order, plus `counts`), so the result does not depend on how the
 * particles were split beyond float64 rounding of the sums.
 */
import { WEIGHT_FLOOR_FRACTION } from '../model/defaults.ts';
import { AverageAccumulator } from './average.ts';
import type { ParticleTransfer } from './ctf.ts';
import type { Pose } from './rotate.ts';
import type { Volume } from './volume.ts';

export type Half = 'odd' | 'even';

export interface HalfMaps {
  odd: Volume;
  even: Volume;
  /** Wedge-normalised average of all particles (odd and even pooled before normalising). */
  combined: Volume;
}

export class HalfMapSums {
  readonly odd: AverageAccumulator;
  readonly even: AverageAccumulator;

  constructor(
    readonly n: number,
    readonly voxelSize: number,
  ) {
    this.odd = new AverageAccumulator(n, voxelSize);
    this.even = new AverageAccumulator(n, voxelSize);
  }

  /** Adds a particle whose alignment gave `pose` (particle ≈ Λ_pose reference) to its half-set. */
  add(half: Half, particle: Volume, pose: Pose, transfer: ParticleTransfer): void {
    this.of(half).add(particle, pose, transfer);
  }

  of(half: Half): AverageAccumulator {
    if (half === 'odd') return this.odd;
    if (half === 'even') return this.even;
    throw new Error(`half-set must be 'odd' or 'even', got '${String(half)}'`);
  }

  /** The four sums that partial accumulations (e.g. MPI ranks) add element-wise, in a fixed order. */
  get buffers(): [Float64Array, Float64Array, Float64Array, Float64Array] {
    return [this.odd.sum, this.odd.weight, this.even.sum, this.even.weight];
  }

  /** Particle counts [odd, even], as floats so they travel with the sums. */
  get counts(): Float64Array {
    return Float64Array.of(this.odd.count, this.even.count);
  }

  set counts(c: Float64Array) {
    this.odd.count = c[0];
    this.even.count = c[1];
  }

  /** Normalises both halves and their pooled sums; every half needs at least one particle. */
  finish(floorFraction = WEIGHT_FLOOR_FRACTION): HalfMaps {
    for (const half of ['odd', 'even'] as const) {
      if (this.of(half).count === 0) {
        throw new Error(`the ${half} half-set has no particles: gold-standard averaging needs at least one particle in each half`);
      }
    }
    const pooled = new AverageAccumulator(this.n, this.voxelSize);
    pooled.merge(this.odd);
    pooled.merge(this.even);
    return {
      odd: this.odd.finish(floorFraction),
      even: this.even.finish(floorFraction),
      combined: pooled.finish(floorFraction),
    };
  }
}

/** Half-set of the particle at 0-based position `index` when the input does not assign one: alternate. */
export function alternatingHalf(index: number): Half {
  return index % 2 === 0 ? 'odd' : 'even';
}
