import { describe, expect, it } from 'vitest';
import { constrainedCCC } from '../core/ccc.ts';
import { registerMaps } from '../core/register.ts';
import { eulerToMatrix } from '../core/rotate.ts';
import { alignmentCase, poseErrors } from './helpers/alignment-case.ts';

describe('registerMaps', () => {
  it('finds an arbitrary rotation and shift between two maps and brings the moving one into the fixed frame', () => {
    const n = 32;
    for (const seed of [5, 6]) {
      const c = alignmentCase(n, seed, { shift: 2 });
      const before = constrainedCCC(c.reference, c.particle, { mask: c.mask });
      const r = registerMaps(c.reference, c.particle, { mask: c.mask, lowpassShell: n / 2 - 1, maxShift: 5, seed });
      const e = poseErrors(c, eulerToMatrix(r.pose), [r.pose.tx, r.pose.ty, r.pose.tz]);
      expect(e.degrees).toBeLessThan(2);
      expect(e.voxels).toBeLessThan(0.5);
      expect(r.ccc).toBeGreaterThan(0.98);
      const after = constrainedCCC(c.reference, r.registered, { mask: c.mask });
      expect(after).toBeGreaterThan(0.97);
      expect(before).toBeLessThan(0.8);
    }
  });
});
