/**
 * The local refinement methods of Algorithm 3 — the one list every layer (core/align.ts, job files, CLI,
 * campaigns) uses: 'sag' = SAG Algorithm 2 (mini-batches, the paper's method), 'sag1' = SAG Algorithm 1,
 * 'lm' = Xu's Levenberg–Marquardt, 'chen' = Chen's FRM-iterative search.
 */
export type AlignMethod = 'sag' | 'sag1' | 'lm' | 'chen';
export const ALIGN_METHODS: readonly AlignMethod[] = ['sag', 'sag1', 'lm', 'chen'];
