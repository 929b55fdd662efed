/**
 * Contiguous, balanced split of `n` work items over `parts` ranks: the first n mod parts ranks take one item
 * more. Contiguous blocks keep the original item order when results are concatenated in rank order.
 */
export function blockPartition(n: number, parts: number): { counts: number[]; offsets: number[] } {
  if (!Number.isInteger(n) || n < 0) throw new Error(`cannot partition ${n} work items`);
  if (!Number.isInteger(parts) || parts < 1) throw new Error(`cannot partition work over ${parts} ranks`);
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const counts: number[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (let r = 0; r < parts; r++) {
    const c = base + (r < extra ? 1 : 0);
    counts.push(c);
    offsets.push(offset);
    offset += c;
  }
  return { counts, offsets };
}
