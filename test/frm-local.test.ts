/**
 * FRM under a point group and as a local search (core/frm.ts `symmetry`, `near`): symmetry mates of one pose
 * are one candidate, and a local search starts at its prior and stays within its range.
 */
import { describe, expect, it } from 'vitest';
import { frmCandidates } from '../core/frm.ts';
import { Rng } from '../core/random.ts';
import { type Mat3, eulerToMatrix, multiply, randomRotation, rotationAngle, rotationX, rotationZ, transpose } from '../core/rotate.ts';
import { gridEuler, nearestGridIndex } from '../core/so3corr.ts';
import { parseSymmetry, rotationErrorUnderSymmetry } from '../core/symmetry.ts';
import { type Blob, randomBlobs, renderBlobs } from './helpers/blobs.ts';

const n = 32;
const B = 16;
const step = Math.PI / B;
const deg = (x: number) => (x * Math.PI) / 180;

/** The blobs and their images under every operator: an object with exactly that point group (plus chance). */
function symmetricBlobs(blobs: Blob[], operators: readonly Mat3[]): Blob[] {
  return operators.flatMap((S) => blobs.map((b) => {
    const c = b.centre;
    const centre: [number, number, number] = [0, 1, 2].map((i) => S[3 * i] * c[0] + S[3 * i + 1] * c[1] + S[3 * i + 2] * c[2]) as [number, number, number];
    // Λ_S blob: precision S·P·Sᵀ.
    const precision = multiply(multiply(S, b.precision), transpose(S));
    return { centre, precision, amplitude: b.amplitude };
  }));
}

describe('nearestGridIndex', () => {
  it('maps every grid rotation to a grid point of the same rotation', () => {
    const N = 2 * B;
    for (const [j, k, p] of [[0, 0, 0], [3, 5, 7], [N - 1, B, 1], [5, B + 3, N - 2], [9, 1, 0]]) {
      const R = eulerToMatrix(gridEuler(B, j, k, p));
      const index = nearestGridIndex(R, B);
      const back = gridEuler(B, Math.floor(index / N) % N, index % N, Math.floor(index / (N * N)));
      expect(rotationAngle(eulerToMatrix(back), R)).toBeLessThan(1e-9);
    }
  });

  it('is within half a grid step per angle of an off-grid rotation', () => {
    const rng = new Rng(4);
    for (let t = 0; t < 20; t++) {
      const R = randomRotation(rng);
      const index = nearestGridIndex(R, B);
      const N = 2 * B;
      const back = eulerToMatrix(gridEuler(B, Math.floor(index / N) % N, index % N, Math.floor(index / (N * N))));
      // Half a step on each of three Euler angles moves the rotation by at most 3·step/2.
      expect(rotationAngle(back, R)).toBeLessThan(1.5 * step);
    }
  });
});

describe('FRM with a point group', () => {
  const group = parseSymmetry('C4');
  const rng = new Rng(21);
  const blobs = symmetricBlobs(randomBlobs(rng, 5, n / 4, 1.5, 2.5), group.operators);
  const reference = renderBlobs(blobs, n);
  const truth = eulerToMatrix({ phi: 0.4, theta: 1.1, psi: -0.7 });
  const particle = renderBlobs(blobs, n, truth);

  it('without the group, the top candidates are the pose and its symmetry mates', () => {
    const found = frmCandidates(reference, particle, { bandwidth: B, topN: 4 });
    for (const c of found) expect(rotationErrorUnderSymmetry(c.R, truth, group)).toBeLessThan(1.5 * step);
    // …and they are distinct rotations: the same pose four times.
    expect(rotationAngle(found[0].R, found[1].R)).toBeGreaterThan(deg(60));
  });

  it('with the group, the pose is one candidate and the others are different poses', () => {
    const found = frmCandidates(reference, particle, { bandwidth: B, topN: 4, symmetry: group });
    expect(rotationErrorUnderSymmetry(found[0].R, truth, group)).toBeLessThan(1.5 * step);
    for (const c of found.slice(1)) expect(rotationErrorUnderSymmetry(c.R, truth, group)).toBeGreaterThanOrEqual(2 * step);
    for (let a = 0; a < found.length; a++) {
      for (let b = a + 1; b < found.length; b++) expect(rotationErrorUnderSymmetry(found[a].R, found[b].R, group)).toBeGreaterThanOrEqual(2 * step);
    }
  });
});

describe('FRM as a local search', () => {
  const rng = new Rng(33);
  const blobs = randomBlobs(rng, 10, n / 4, 1.5, 2.5);
  const reference = renderBlobs(blobs, n);
  const truth = eulerToMatrix({ phi: -1.2, theta: 0.8, psi: 2.0 });
  const particle = renderBlobs(blobs, n, truth);
  const range = deg(35);

  it('starts at the prior and keeps only peaks within the range', () => {
    const prior = multiply(truth, rotationX(deg(20)));
    const found = frmCandidates(reference, particle, { bandwidth: B, topN: 5, near: { R: prior, angle: range } });
    expect(rotationAngle(found[0].R, prior)).toBeLessThan(1e-12);
    expect(Number.isFinite(found[0].score)).toBe(true);
    for (const c of found) expect(rotationAngle(c.R, prior)).toBeLessThanOrEqual(range + 1e-9);
    // The true pose is the global peak and lies inside the range: a local peak near it is found.
    expect(Math.min(...found.slice(1).map((c) => rotationAngle(c.R, truth)))).toBeLessThan(1.5 * step);
  });

  it('does not jump to the global peak from a prior far away', () => {
    const prior = multiply(truth, rotationZ(deg(120)));
    const found = frmCandidates(reference, particle, { bandwidth: B, topN: 5, near: { R: prior, angle: range } });
    expect(rotationAngle(found[0].R, prior)).toBeLessThan(1e-12);
    for (const c of found) expect(rotationAngle(c.R, truth)).toBeGreaterThan(deg(120) - range - 1e-9);
  });

  it('measures the range under the point group', () => {
    const group = parseSymmetry('C4');
    const symmetric = symmetricBlobs(randomBlobs(new Rng(5), 5, n / 4, 1.5, 2.5), group.operators);
    const ref = renderBlobs(symmetric, n);
    const part = renderBlobs(symmetric, n, truth);
    // A prior a quarter turn about z away from the truth (plus 20°) is 20° from one of its symmetry mates.
    const prior = multiply(multiply(truth, rotationZ(Math.PI / 2)), rotationX(deg(20)));
    const found = frmCandidates(ref, part, { bandwidth: B, topN: 4, symmetry: group, near: { R: prior, angle: range } });
    expect(Math.min(...found.slice(1).map((c) => rotationErrorUnderSymmetry(c.R, truth, group)))).toBeLessThan(1.5 * step);
  });
});
