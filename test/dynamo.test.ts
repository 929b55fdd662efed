import { describe, expect, it } from 'vitest';
import { Rng } from '../core/random.ts';
import { applyMat, eulerToMatrix, poseFromMatrix, radians, randomRotation, rotationAngle, transpose } from '../core/rotate.ts';
import type { Mat3, Pose } from '../core/rotate.ts';
import {
  dynamoFromRotation,
  dynamoMatrix,
  formatDynamoTable,
  parseDynamoTable,
  poseToDynamo,
  rotationFromDynamo,
} from '../io/dynamo.ts';
import { RELION_POSE_COLUMNS, formatStar, parseStar, poseFromRelion, poseToRelion, starNumber } from '../io/star.ts';

/**
 * Dynamo's dynamo_euler2matrix.m written out entry by entry (as transcribed from Dynamo's source in
 * teamtomo/ABTT), independently of core/rotate.ts. Dynamo maps the reference into the particle with its
 * transpose (dynamo_angles2orientations: north_rotated = m'·north).
 */
function dynamoEuler2matrix(tdrotDeg: number, tiltDeg: number, narotDeg: number): Mat3 {
  const [a, b, c] = [radians(tdrotDeg), radians(tiltDeg), radians(narotDeg)];
  const [ca, sa, cb, sb, cc, sc] = [Math.cos(a), Math.sin(a), Math.cos(b), Math.sin(b), Math.cos(c), Math.sin(c)];
  return Float64Array.of(
    ca * cc - sa * cb * sc, -cc * sa - ca * cb * sc, sc * sb,
    ca * sc + cc * sa * cb, ca * cc * cb - sa * sc, -cc * sb,
    sa * sb, ca * sb, cb,
  );
}

/** RELION's Euler_angles2matrix (src/euler.cpp), independent of core/rotate.ts; it maps reference → particle. */
function relionMatrix(rotDeg: number, tiltDeg: number, psiDeg: number): Mat3 {
  const [a, b, g] = [radians(rotDeg), radians(tiltDeg), radians(psiDeg)];
  const ca = Math.cos(a), sa = Math.sin(a), cb = Math.cos(b), sb = Math.sin(b), cg = Math.cos(g), sg = Math.sin(g);
  const cc = cb * ca, cs = cb * sa, sc = sb * ca, ss = sb * sa;
  return Float64Array.of(
    cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb,
    -sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb,
    sc, ss, cb,
  );
}

function randomPose(rng: Rng): Pose {
  return poseFromMatrix(randomRotation(rng), [rng.range(-5, 5), rng.range(-5, 5), rng.range(-5, 5)]);
}

function expectSamePose(a: Pose, b: Pose, tol = 1e-9): void {
  expect(rotationAngle(eulerToMatrix(a), eulerToMatrix(b))).toBeLessThan(tol);
  expect(Math.abs(a.tx - b.tx)).toBeLessThan(tol);
  expect(Math.abs(a.ty - b.ty)).toBeLessThan(tol);
  expect(Math.abs(a.tz - b.tz)).toBeLessThan(tol);
}

const VOXEL = 6;
const starOf = (poses: Pose[]) =>
  formatStar([{ name: 'particles', columns: [...RELION_POSE_COLUMNS], rows: poses.map((p) => poseToRelion(p, VOXEL)) }]);
const tblOf = (poses: Pose[]) =>
  formatDynamoTable(poses.map((pose, i) => ({ tag: i + 1, pose, tiltMinDeg: -60, tiltMaxDeg: 60 })));
const posesFromStar = (text: string) => {
  const table = parseStar(text, 'mem.star')[0];
  return table.rows.map((_, r) => poseFromRelion(table, r, VOXEL, 'mem.star'));
};
const posesFromTbl = (text: string) => parseDynamoTable(text, 'mem.tbl').map((p) => p.pose);

describe('Dynamo angle convention', () => {
  it('uses Dynamo’s own matrix, and R is its transpose', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 20; i++) {
      const a = { tdrot: rng.range(-180, 180), tilt: rng.range(0, 180), narot: rng.range(-180, 180) };
      const reference = dynamoEuler2matrix(a.tdrot, a.tilt, a.narot);
      expect(rotationAngle(dynamoMatrix(a), reference)).toBeLessThan(1e-12);
      expect(rotationAngle(rotationFromDynamo(a), transpose(reference))).toBeLessThan(1e-12);
    }
  });

  it('reproduces a matrix printed by Dynamo itself (dynamo_euler2matrix([−155.55, 63.924, 197.81]), from ABTT’s tests)', () => {
    const printed = [0.811, -0.5165, -0.2747, 0.4516, 0.2544, 0.8552, -0.3718, -0.8177, 0.4396];
    const M = dynamoMatrix({ tdrot: -155.55, tilt: 63.924, narot: 197.81 });
    printed.forEach((v, i) => expect(Math.abs(M[i] - v)).toBeLessThan(6e-5));
  });

  it('hand-worked example: R = Rz(90°)·Ry(90°), T = (1, −2, 3) voxels at 6 Å', () => {
    // R = [[0, −1, 0], [0, 0, 1], [−1, 0, 0]]: the reference's z axis points along +y in the particle (R·ẑ = ŷ).
    // Dynamo: M = Rᵀ = [[0, 0, −1], [−1, 0, 0], [0, 1, 0]] = Rz(narot)·Rx(tilt)·Rz(tdrot) with
    //   tilt = acos(m33 = 0) = 90°, tdrot = atan2(m31 = 0, m32 = 1) = 0°, narot = atan2(m13 = −1, −m23 = 0) = −90°;
    //   check: Rz(−90°)·Rx(90°) = [[0, 1, 0], [−1, 0, 0], [0, 0, 1]]·[[1, 0, 0], [0, 0, −1], [0, 1, 0]] = M.
    //   Dynamo's orientation of the particle, m'·north = R·ẑ = (0, 1, 0), as ours. dx dy dz = T = 1 −2 3.
    // RELION: (rot, tilt, psi) are the ZYZ angles of Rᵀ = M: tilt = acos(0) = 90°, rot = atan2(M23 = 0, M13 = −1)
    //   = 180°, psi = atan2(M32 = 1, −M31 = 0) = 90°; origin = −T·6 Å = (−6, 12, −18) Å.
    //   Dynamo ↔ RELION: tdrot = psi − 90° = 0°, narot = rot + 90° = 270° ≡ −90°.
    const pose: Pose = { phi: radians(90), theta: radians(90), psi: 0, tx: 1, ty: -2, tz: 3 };
    const R = eulerToMatrix(pose);
    expect(Array.from(R)).toEqual([0, -1, 0, 0, 0, 1, -1, 0, 0]);
    expect(Array.from(applyMat(R, [0, 0, 1]))).toEqual([0, 1, 0]);
    const row = parseDynamoTable(tblOf([pose]), 'mem.tbl')[0].row;
    expect(row.slice(3, 9)).toEqual([1, -2, 3, 0, 90, -90]);
    const relion = poseToRelion(pose, VOXEL);
    expect(relion[0]).toBeCloseTo(180, 12);
    expect(relion[1]).toBeCloseTo(90, 12);
    expect(relion[2]).toBeCloseTo(90, 12);
    expect(relion.slice(3)).toEqual([-6, 12, -18]);
  });

  it('matches the published RELION/Dynamo pair that reconstructs identically (A. Burt, eulerangles notes)', () => {
    // Dynamo (−47.2730, 1.1777, −132.3000) and RELION (137.7000, 1.1777, 42.7270) describe the same particle
    const R = rotationFromDynamo({ tdrot: -47.273, tilt: 1.1777, narot: -132.3 });
    expect(rotationAngle(R, relionMatrix(137.7, 1.1777, 42.727))).toBeLessThan(1e-12);
    const table = { name: 'p', columns: [...RELION_POSE_COLUMNS], rows: [[137.7, 1.1777, 42.727, 0, 0, 0]] };
    expect(rotationAngle(eulerToMatrix(poseFromRelion(table, 0, 1, 'mem')), R)).toBeLessThan(1e-12);
  });

  it('round-trips angles through matrices exactly, with tilt in [0°, 180°], including gimbal lock', () => {
    const rng = new Rng(2);
    const rotations = Array.from({ length: 200 }, () => randomRotation(rng));
    for (const theta of [0, 1e-12, 1e-7, Math.PI - 1e-9, Math.PI]) rotations.push(eulerToMatrix({ phi: 0.4, theta, psi: -1.1 }));
    for (const R of rotations) {
      const a = dynamoFromRotation(R);
      expect(a.tilt).toBeGreaterThanOrEqual(0);
      expect(a.tilt).toBeLessThanOrEqual(180);
      expect(Math.abs(a.tdrot)).toBeLessThanOrEqual(180);
      expect(Math.abs(a.narot)).toBeLessThanOrEqual(180);
      expect(rotationAngle(rotationFromDynamo(a), R)).toBeLessThan(1e-12);
    }
  });

  it('agrees with RELION as tdrot = psi − 90°, narot = rot + 90° (mod 360°)', () => {
    const rng = new Rng(3);
    const mod360 = (x: number) => ((x % 360) + 540) % 360 - 180;
    for (let i = 0; i < 50; i++) {
      const pose = randomPose(rng);
      const d = poseToDynamo(pose);
      const [rot, tilt, psi] = poseToRelion(pose, VOXEL);
      expect(d.tilt).toBeCloseTo(tilt, 9);
      expect(mod360(d.tdrot - (psi - 90))).toBeCloseTo(0, 9);
      expect(mod360(d.narot - (rot + 90))).toBeCloseTo(0, 9);
    }
  });
});

describe('pose files: STAR ↔ tbl ↔ internal', () => {
  it('round-trip through the text of both formats to 1e-9', () => {
    const rng = new Rng(4);
    const poses = Array.from({ length: 50 }, () => randomPose(rng));
    poses.push({ phi: 0.3, theta: 0, psi: 0, tx: 0.5, ty: 0, tz: -0.25 }, { phi: 0, theta: Math.PI, psi: 1, tx: 0, ty: 0, tz: 0 });
    const viaTbl = posesFromTbl(tblOf(poses));
    const viaStar = posesFromStar(starOf(poses));
    const starTblStar = posesFromStar(starOf(posesFromTbl(tblOf(viaStar))));
    const tblStarTbl = posesFromTbl(tblOf(posesFromStar(starOf(viaTbl))));
    poses.forEach((p, i) => {
      expectSamePose(viaTbl[i], p);
      expectSamePose(viaStar[i], p);
      expectSamePose(starTblStar[i], p);
      expectSamePose(tblStarTbl[i], p);
    });
  });

  it('write a STAR and a tbl that describe the same physical pose (matrix and shift, each program’s own formulas)', () => {
    const rng = new Rng(5);
    const poses = Array.from({ length: 30 }, () => randomPose(rng));
    const star = parseStar(starOf(poses), 'mem.star')[0];
    const tbl = parseDynamoTable(tblOf(poses), 'mem.tbl');
    poses.forEach((pose, r) => {
      const [rot, tilt, psi, ox, oy, oz] = RELION_POSE_COLUMNS.map((c) => starNumber(star, r, c, 'mem.star'));
      const [dx, dy, dz, tdrot, dtilt, narot] = tbl[r].row.slice(3, 9);
      // both programs' reference → particle matrices, from their own formulas, and ours
      const relion = relionMatrix(rot, tilt, psi);
      const dynamo = transpose(dynamoEuler2matrix(tdrot, dtilt, narot));
      expect(rotationAngle(relion, dynamo)).toBeLessThan(1e-9);
      expect(rotationAngle(relion, eulerToMatrix(pose))).toBeLessThan(1e-9);
      // the particle centre: box centre + (dx, dy, dz) pixels = box centre − origin / voxel
      expect(Math.abs(ox + dx * VOXEL)).toBeLessThan(1e-9);
      expect(Math.abs(oy + dy * VOXEL)).toBeLessThan(1e-9);
      expect(Math.abs(oz + dz * VOXEL)).toBeLessThan(1e-9);
    });
  });
});

describe('Dynamo tables', () => {
  // two rows as Dynamo writes them (35 columns), the second with ftype 0
  const text =
    '1 1 0 2.5178 -3.523 2.1043 175.66 90.681 -129.51 0.15858 0.30415 0 1 -60 60 0 0 0 0 1 1 9 0 141.28 114.71 163.08 0 0 0 0 0 0 0 0 5\n' +
    '7 0 1 0 0 0 10 20 30 0.5 0 0 0 0 0 0 0 0 0 3 2 4 0 1 2 3 0 0 0 0 0 0 0 0 2\n';

  it('read tag, pose, cc and wedge, and carry the other columns through a rewrite', () => {
    const [a, b] = parseDynamoTable(text, 't.tbl');
    expect([a.tag, a.tiltMinDeg, a.tiltMaxDeg, a.cc]).toEqual([1, -60, 60, 0.15858]);
    expect([a.pose.tx, a.pose.ty, a.pose.tz]).toEqual([2.5178, -3.523, 2.1043]);
    expect(rotationAngle(eulerToMatrix(a.pose), transpose(dynamoEuler2matrix(175.66, 90.681, -129.51)))).toBeLessThan(1e-12);
    expect([b.tag, b.tiltMinDeg, b.tiltMaxDeg]).toEqual([7, -90, 90]);
    const again = parseDynamoTable(formatDynamoTable([a, b]), 'again.tbl');
    for (const [before, after] of [[a, again[0]], [b, again[1]]]) {
      expectSamePose(after.pose, before.pose);
      // tomo, reg, class, x, y, z, sref and the aligned/averaged flags are untouched
      for (const c of [2, 3, 11, 20, 21, 22, 24, 25, 26, 35]) expect(after.row[c - 1]).toBe(before.row[c - 1]);
    }
  });

  it('write 35 columns, ftype 1 with the tilt range, or ftype 0 for full sampling', () => {
    const pose = { phi: 0, theta: 0, psi: 0, tx: 0, ty: 0, tz: 0 };
    const [wedge, full] = formatDynamoTable([
      { tag: 3, pose, tiltMinDeg: -50, tiltMaxDeg: 40, cc: 0.25 },
      { tag: 4, pose, tiltMinDeg: -90, tiltMaxDeg: 90 },
    ]).trim().split('\n').map((l) => l.split(' ').map(Number));
    expect(wedge).toHaveLength(35);
    expect([wedge[0], wedge[1], wedge[9], wedge[12], wedge[13], wedge[14]]).toEqual([3, 1, 0.25, 1, -50, 40]);
    expect(full[12]).toBe(0);
  });

  it('explain malformed tables with the file, line and column', () => {
    const good = '1 1 0 0 0 0 0 0 0 0 0 0 1 -60 60';
    expect(() => parseDynamoTable('1 1 0 0 0 0 0 0 0\n', 'short.tbl')).toThrow(/short\.tbl:1: 9 columns; subtomo needs at least 15/);
    expect(() => parseDynamoTable(`${good}\n1 1 0 0 0 x 0 0 0 0 0 0 1 -60 60\n`, 'nan.tbl')).toThrow(/nan\.tbl:2: column 6 is not a number: 'x'/);
    expect(() => parseDynamoTable(`${good}\n${good}\n`, 'dup.tbl')).toThrow(/dup\.tbl:2: tag 1 already used on line 1/);
    expect(() => parseDynamoTable('1 1 0 0 0 0 0 0 0 0 0 0 2 0 0 -60 60\n', 'x.tbl')).toThrow(/x\.tbl:1: ftype 2 \(column 13\) is not supported/);
    expect(() => parseDynamoTable('1 1 0 0 0 0 0 0 0 0 0 0 1 60 -60\n', 'r.tbl')).toThrow(/r\.tbl:1: tilt range \(columns 14–15\) is \[60°, -60°\]/);
    expect(() => parseDynamoTable('\0\u0001binary', 'b.tbl')).toThrow(/b\.tbl is a binary Dynamo table/);
    expect(() => parseDynamoTable('\n\n', 'empty.tbl')).toThrow(/empty\.tbl: the Dynamo table has no rows/);
  });
});
