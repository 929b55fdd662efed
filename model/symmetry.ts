/**
 * Names of the point groups subtomo supports — cyclic C_n and dihedral D_n (RELION's conventions: the n-fold
 * axis on z, a D_n two-fold on x; core/symmetry.ts builds the rotations). A leaf module, so configs can be
 * validated where no numerics may be loaded (the workflow bundle).
 */
export type SymmetryKind = 'C' | 'D';

export interface SymmetryName {
  /** Canonical name, e.g. 'C1', 'C7', 'D7'. */
  name: string;
  kind: SymmetryKind;
  /** n of C_n / D_n. */
  n: number;
  /** Number of rotations of the group: n for C_n, 2n for D_n. */
  order: number;
}

// A larger order is a typo rather than a structure: no real complex has a 1000-fold axis.
const MAX_ORDER = 1000;

/**
 * The group named by `text` ('C1', 'c7', ' D7 ' …). Throws an error naming the text and the accepted forms
 * for anything else, including T, O, I and helical symmetry, which subtomo does not support.
 */
export function parseSymmetryName(text: string): SymmetryName {
  const m = /^\s*([CcDd])\s*(\d+)\s*$/.exec(text);
  const n = m ? Number(m[2]) : NaN;
  if (!m || n < 1 || n > MAX_ORDER) {
    throw new RangeError(
      `unknown symmetry '${text}': expected C<n> or D<n> with 1 ≤ n ≤ ${MAX_ORDER}, e.g. C1 (no symmetry), C7 or D7 ` +
        '(GroEL); tetrahedral (T), octahedral (O), icosahedral (I) and helical symmetry are not supported',
    );
  }
  const kind = m[1].toUpperCase() as SymmetryKind;
  return { name: `${kind}${n}`, kind, n, order: kind === 'D' ? 2 * n : n };
}
