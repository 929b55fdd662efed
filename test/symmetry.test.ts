import { describe, expect, it } from 'vitest';
import { constrainedCCC } from '../core/ccc.ts';
import { groelPhantom } from '../core/phantom.ts';
import { Rng } from '../core/random.ts';
import {
  determinant,
  eulerToMatrix,
  identity,
  multiply,
  poseFromMatrix,
  randomRotation,
  rotationAngle,
  rotationX,
  rotationZ,
  transformVolumeByMatrix,
  transpose,
} from '../core/rotate.ts';
import type { Mat3 } from '../core/rotate.ts';
import { densityModel, renderDensity } from '../core/simulate.ts';
import {
  parseSymmetry,
  poseErrorUnderSymmetry,
  rotationErrorUnderSymmetry,
  symmetrise,
  symmetryOperators,
  translationError,
} from '../core/symmetry.ts';
import { Volume } from '../core/volume.ts';

function maxAbsDiff(a: Mat3, b: Mat3): number {
  let m = 0;
  for (let i = 0; i < 9; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function indexOf(ops: readonly Mat3[], R: Mat3): number {
  return ops.findIndex((S) => maxAbsDiff(S, R) < 1e-12);
}

// 32³ at 8 Å with a 16 Å density: the phantom (atoms up to 94 Å from its centre) stays inside the box and
// its 7-fold features are resolved, so rotations that are not symmetry operators visibly change it.
const GRID = { n: 32, voxelSize: 8, resolution: 16 };
const model = densityModel(groelPhantom());

describe('point groups C_n and D_n', () => {
  it('have n and 2n distinct proper rotations, closed under products, identity first', () => {
    for (const name of ['C1', 'C2', 'C7', 'D1', 'D2', 'D7']) {
      const ops = symmetryOperators(name);
      const n = Number(name.slice(1));
      expect(ops.length).toBe(name[0] === 'C' ? n : 2 * n);
      expect(maxAbsDiff(ops[0], identity())).toBe(0);
      for (const S of ops) {
        expect(determinant(S)).toBeCloseTo(1, 12);
        expect(maxAbsDiff(multiply(S, transpose(S)), identity())).toBeLessThan(1e-12);
      }
      for (let i = 0; i < ops.length; i++) {
        for (let j = 0; j < ops.length; j++) {
          if (i !== j) expect(maxAbsDiff(ops[i], ops[j])).toBeGreaterThan(1e-3);
          expect(indexOf(ops, multiply(ops[i], ops[j]))).toBeGreaterThanOrEqual(0);
        }
      }
    }
  });

  it('put the n-fold axis on z and a D_n two-fold axis on x (RELION convention)', () => {
    const d7 = symmetryOperators('D7');
    expect(indexOf(d7, rotationZ((2 * Math.PI) / 7))).toBeGreaterThanOrEqual(0);
    expect(indexOf(d7, rotationX(Math.PI))).toBeGreaterThanOrEqual(0);
    // every two-fold of D7 is a half-turn about an axis in the x–y plane: it maps z to −z
    for (const S of d7.slice(7)) expect(S[8]).toBeCloseTo(-1, 12);
  });

  it('parse case and spaces, and reject anything else with a message naming the input', () => {
    expect(parseSymmetry(' d7 ').name).toBe('D7');
    expect(parseSymmetry('c1').operators).toHaveLength(1);
    for (const bad of ['D0', 'C', 'I', 'I2', 'X7', 'C7.5', 'T', '']) {
      expect(() => parseSymmetry(bad)).toThrow(`unknown symmetry '${bad}': expected C<n> or D<n>`);
    }
  });
});

describe('symmetry-aware pose errors', () => {
  it('are 0 for each of the 14 D7-equivalent poses R·S, and generally not for S·R', () => {
    const d7 = symmetryOperators('D7');
    const rng = new Rng(3);
    for (let trial = 0; trial < 5; trial++) {
      const Rtrue = randomRotation(rng);
      let wrongSide = Infinity;
      d7.forEach((S, k) => {
        expect(rotationErrorUnderSymmetry(multiply(Rtrue, S), Rtrue, 'D7')).toBeLessThan(1e-9);
        if (k > 0) wrongSide = Math.min(wrongSide, rotationErrorUnderSymmetry(multiply(S, Rtrue), Rtrue, 'D7'));
      });
      // S·R is not a symmetry mate of a random R: its best match is degrees away
      expect(wrongSide).toBeGreaterThan(0.01);
    }
  });

  it('reduce to rotationAngle for C1 and report the angle to the nearest mate', () => {
    const rng = new Rng(4);
    const Rtrue = randomRotation(rng);
    const Rest = randomRotation(rng);
    expect(rotationErrorUnderSymmetry(Rest, Rtrue, 'C1')).toBe(rotationAngle(Rest, Rtrue));
    // 10° about z away from the mate Rtrue·S3 of C7
    const S3 = symmetryOperators('C7')[3];
    const near = multiply(multiply(Rtrue, S3), rotationZ((10 * Math.PI) / 180));
    expect((rotationErrorUnderSymmetry(near, Rtrue, parseSymmetry('C7')) * 180) / Math.PI).toBeCloseTo(10, 9);
    const err = poseErrorUnderSymmetry(poseFromMatrix(near, [1, 2, 2]), poseFromMatrix(Rtrue, [0, 0, 0]), 'C7');
    expect(err.operator).toBe(3);
    expect(err.rotationDeg).toBeCloseTo(10, 9);
    expect(err.translationVoxels).toBeCloseTo(3, 12);
    expect(translationError([1, -1, 0.5], [1, 1, 0.5])).toBe(2);
  });

  it('put the operator on the right: Λ_(R·S) of the D7 phantom is the phantom rendered at R, Λ_(S·R) is not', () => {
    const reference = renderDensity(model, GRID);
    const rng = new Rng(11);
    const R = randomRotation(rng);
    // rendered from the atoms at pose R: no interpolation in the particle itself
    const particle = renderDensity(model, GRID, { rotation: R, shift: [0, 0, 0] });
    const moved = new Volume(GRID.n, GRID.voxelSize);
    const right: number[] = [];
    const left: number[] = [];
    for (const S of symmetryOperators('D7')) {
      right.push(constrainedCCC(particle, transformVolumeByMatrix(reference, multiply(R, S), [0, 0, 0], moved)));
      left.push(constrainedCCC(particle, transformVolumeByMatrix(reference, multiply(S, R), [0, 0, 0], moved)));
    }
    // the right-hand mates differ from the particle by interpolation only (1 − CCC ≈ 0.004); the gross ring
    // shape dominates the correlation, so the left-hand products score high too, but every one of them is
    // worse than every right-hand mate, with at least twice the residual 1 − CCC
    const worstRight = Math.min(...right);
    const bestWrong = Math.max(...left.slice(1));
    expect(worstRight).toBeGreaterThan(0.99);
    expect(bestWrong).toBeLessThan(worstRight);
    expect(1 - bestWrong).toBeGreaterThan(2 * (1 - worstRight));
  });
});

describe('symmetrise', () => {
  it('leaves the D7 phantom unchanged (CCC > 0.99) and makes an asymmetric volume invariant under the group', () => {
    const reference = renderDensity(model, GRID);
    expect(constrainedCCC(symmetrise(reference, 'D7'), reference)).toBeGreaterThan(0.99);

    // the phantom rendered in a general orientation is not D7-symmetric about the box axes
    const tilted = renderDensity(model, GRID, { rotation: eulerToMatrix({ phi: 0.3, theta: 0.7, psi: -0.4 }), shift: [0, 0, 0] });
    const sym = symmetrise(tilted, 'D7');
    const moved = new Volume(GRID.n, GRID.voxelSize);
    const twoFold = symmetryOperators('D7')[9];
    const before = constrainedCCC(tilted, transformVolumeByMatrix(tilted, twoFold, [0, 0, 0], moved));
    const after = constrainedCCC(sym, transformVolumeByMatrix(sym, twoFold, [0, 0, 0], moved));
    expect(before).toBeLessThan(0.9);
    expect(after).toBeGreaterThan(0.99);
  });
});
