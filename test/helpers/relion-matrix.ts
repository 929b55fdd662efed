/**
 * RELION's Euler_angles2matrix (src/euler.cpp, from Xmipp), written out independently of core/rotate.ts:
 * the matrix A that maps the reference's coordinates into the particle's (io/star.ts: A is our R).
 */
import { radians } from '../../core/rotate.ts';
import type { Mat3 } from '../../core/rotate.ts';

export function relionMatrix(rotDeg: number, tiltDeg: number, psiDeg: number): Mat3 {
  const [a, b, g] = [radians(rotDeg), radians(tiltDeg), radians(psiDeg)];
  const ca = Math.cos(a), sa = Math.sin(a), cb = Math.cos(b), sb = Math.sin(b), cg = Math.cos(g), sg = Math.sin(g);
  const cc = cb * ca, cs = cb * sa, sc = sb * ca, ss = sb * sa;
  return Float64Array.of(
    cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb,
    -sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb,
    sc, ss, cb,
  );
}
