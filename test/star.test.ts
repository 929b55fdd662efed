import { describe, expect, it } from 'vitest';
import { Rng } from '../core/random.ts';
import { eulerToMatrix, radians, randomRotation, rotationAngle, poseFromMatrix } from '../core/rotate.ts';
import type { Mat3 } from '../core/rotate.ts';
import { RELION_POSE_COLUMNS, formatStar, parseStar, poseFromRelion, poseToRelion, starBlock, starNumber } from '../io/star.ts';

/**
 * RELION's Euler_angles2matrix (src/euler.cpp, from Xmipp), written out independently of core/rotate.ts.
 * A particle is the reference rotated actively by this matrix.
 */
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

describe('STAR tables', () => {
  it('round-trips blocks with one loop, quoting values with spaces and writing infinity as inf', () => {
    const tables = [
      { name: 'optics', columns: ['rlnOpticsGroup', 'rlnOpticsGroupName'], rows: [[1, 'group one']] },
      { name: 'particles', columns: ['rlnImageName', 'rlnAngleRot', 'subtomoSnr'], rows: [['p_0001.mrc', 0.1 + 0.2, Infinity], ['p_0002.mrc', -1e-7, 0.003]] },
    ];
    const parsed = parseStar(formatStar(tables), 'mem.star');
    expect(parsed.map((t) => t.name)).toEqual(['optics', 'particles']);
    expect(parsed[0].rows[0]).toEqual(['1', 'group one']);
    const p = starBlock(parsed, 'particles', 'mem.star');
    expect(starNumber(p, 0, 'rlnAngleRot', 'mem.star')).toBe(0.1 + 0.2);
    expect(starNumber(p, 0, 'subtomoSnr', 'mem.star')).toBe(Infinity);
    expect(starNumber(p, 1, 'rlnAngleRot', 'mem.star')).toBe(-1e-7);
  });

  it('reads key–value blocks as one row and reports malformed files with their line', () => {
    const kv = parseStar('data_general\n_rlnTomoName  tomo_1\n_rlnPixelSize 1.5 # comment\n', 'kv.star');
    expect(kv[0]).toEqual({ name: 'general', columns: ['rlnTomoName', 'rlnPixelSize'], rows: [['tomo_1', '1.5']] });
    expect(() => parseStar('data_p\nloop_\n_a #1\n_b #2\n1 2\n3\n', 'short.star')).toThrow(/short\.star:6: 1 values for the 2 columns of data_p/);
    expect(() => parseStar('# nothing\n', 'none.star')).toThrow(/none\.star: no data_ block/);
    expect(() => starBlock(kv, 'particles', 'kv.star')).toThrow(/no data_particles block \(found: data_general\)/);
    expect(() => starNumber(kv[0], 0, 'rlnTomoName', 'kv.star')).toThrow(/_rlnTomoName of row 1 is not a number: 'tomo_1'/);
  });
});

describe('RELION pose conversion', () => {
  it('writes angles whose RELION matrix is our R and origins of −T·voxel, and reads them back', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 20; i++) {
      const R = randomRotation(rng);
      const pose = poseFromMatrix(R, [rng.range(-4, 4), rng.range(-4, 4), rng.range(-4, 4)]);
      const relion = poseToRelion(pose, 6);
      expect(rotationAngle(relionMatrix(relion[0], relion[1], relion[2]), R)).toBeLessThan(1e-9);
      expect(relion[1]).toBeGreaterThanOrEqual(0);
      expect(relion.slice(3)).toEqual([-pose.tx * 6, -pose.ty * 6, -pose.tz * 6]);
      const table = { name: 'particles', columns: [...RELION_POSE_COLUMNS], rows: [relion] };
      const back = poseFromRelion(parseStar(formatStar([table]), 'mem.star')[0], 0, 6, 'mem.star');
      expect(rotationAngle(eulerToMatrix(back), R)).toBeLessThan(1e-9);
      expect(back.tx).toBeCloseTo(pose.tx, 12);
      expect(back.ty).toBeCloseTo(pose.ty, 12);
      expect(back.tz).toBeCloseTo(pose.tz, 12);
    }
  });

  it('maps a rotation of +30° about z to rot = −30°', () => {
    const relion = poseToRelion({ phi: radians(30), theta: 0, psi: 0, tx: 0, ty: 0, tz: 0 }, 1);
    expect(relion[0]).toBeCloseTo(-30, 10);
    expect(relion[1]).toBeCloseTo(0, 10);
    expect(relion[2]).toBeCloseTo(0, 10);
  });
});
