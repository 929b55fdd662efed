/**
 * Merging classes that hold one structure (core/classify.ts classSimilarity measures how alike two are): which
 * merges a set of similarities makes, and how a merge reads in logs. No numerics here, so status and history
 * lines can name merges without loading the alignment kernels.
 */

export interface ClassMerge {
  /** The class merged away (0-based). */
  class: number;
  /** The class it joins. */
  into: number;
  similarity: number;
}

/** A merge as logs and status lines print it (classes numbered from 1). */
export function mergeText(m: ClassMerge): string {
  return `class ${m.class + 1} merged into ${m.into + 1} (similarity ${m.similarity.toFixed(2)})`;
}

/**
 * The merges among classes (`sizes[k]` particles; `similarity(k, l)` as classSimilarity) whose similarity is
 * at least `threshold`: most similar pair first, the smaller class (on a tie the higher-numbered) joining the
 * larger; a class merged away takes part in no further merge, and its partner's merges are judged on its own
 * map (the merged map exists only after the next alignment).
 */
export function classMerges(classes: readonly number[], sizes: readonly number[], similarity: (k: number, l: number) => number, threshold: number): ClassMerge[] {
  const pairs: { k: number; l: number; s: number }[] = [];
  for (let i = 0; i < classes.length; i++) {
    for (let j = i + 1; j < classes.length; j++) pairs.push({ k: classes[i], l: classes[j], s: similarity(classes[i], classes[j]) });
  }
  pairs.sort((x, y) => y.s - x.s);
  const gone = new Set<number>();
  const merges: ClassMerge[] = [];
  for (const { k, l, s } of pairs) {
    if (s < threshold) break;
    if (gone.has(k) || gone.has(l)) continue;
    const [small, large] = sizes[l] < sizes[k] || (sizes[l] === sizes[k] && l > k) ? [l, k] : [k, l];
    gone.add(small);
    merges.push({ class: small, into: large, similarity: s });
  }
  return merges;
}
