/**
 * Symmetry expansion of a particle list, as relion_particle_symmetry_expand does it: every particle becomes
 * one copy per operator S of the point group, posed R·S — since the reference is symmetric, Λ_R ref = Λ_{R·S}
 * ref, so each copy is an equally valid pose of the same subtomogram (used to classify or refine the
 * asymmetric parts of a symmetric complex). Copies keep their particle's half-set (assigned by alternating
 * rows first when the list has none), so no subtomogram ends up in both halves.
 */
import { alternatingHalf } from '../core/halfmaps.ts';
import { eulerToMatrix, multiply, poseFromMatrix } from '../core/rotate.ts';
import type { SymmetryGroup } from '../core/symmetry.ts';
import type { Particle, ParticleList } from '../model/particles.ts';

export function expandBySymmetry(list: ParticleList, group: SymmetryGroup): ParticleList {
  const particles: Particle[] = [];
  list.particles.forEach((p, i) => {
    if (!p.pose) throw new Error(`${list.origin.path}: particle ${p.name} has no pose; symmetry expansion needs aligned particles`);
    const R = eulerToMatrix(p.pose);
    const half = p.half ?? alternatingHalf(i);
    group.operators.forEach((S, k) => {
      const pose = poseFromMatrix(multiply(R, S), [p.pose!.tx, p.pose!.ty, p.pose!.tz]);
      particles.push({ ...p, name: k === 0 ? p.name : `${p.name}#${group.name}.${k + 1}`, pose, half });
    });
  });
  return { ...list, particles };
}
