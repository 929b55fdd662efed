/**
 * Splits an `mpirun --tag-output` stream back into per-rank lines.
 *
 * mpirun forwards rank output in chunks of at most ~4 KB and prefixes every chunk with `[job,rank]<stdout>:`,
 * even when the chunk starts mid-line, and chunks of different ranks interleave: a long line of rank 0 can be
 * cut by a chunk of rank 1 without a newline in between. A tagged piece followed by another tag on the same
 * output line is therefore a partial line of its rank; the piece ending the output line completes it.
 * Untagged text is mpirun's own (error reports, help messages).
 *
 * Bytes are handled as latin1 (one char per byte) so a tag inserted between the bytes of a UTF-8 character
 * cannot corrupt it; each reassembled line is decoded as UTF-8 afterwards.
 */
const TAG = /\[\d+,(\d+)\]<(?:stdout|stderr|stddiag)>:/g;

export class TaggedOutputDemux {
  private pending = '';
  private readonly partialLines = new Map<number, string>();

  constructor(
    private readonly onRankLine: (rank: number, line: string) => void,
    private readonly onLauncherLine: (line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    const text = this.pending + chunk.toString('latin1');
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.outputLine(text.slice(start, nl));
      start = nl + 1;
    }
    this.pending = text.slice(start);
  }

  /** Flushes what is left when the stream closes (a last line without newline, cut-off rank lines). */
  end(): void {
    if (this.pending) this.outputLine(this.pending);
    this.pending = '';
    for (const [rank, partial] of this.partialLines) this.onRankLine(rank, utf8(partial));
    this.partialLines.clear();
  }

  private outputLine(text: string): void {
    const tags = [...text.matchAll(TAG)];
    const untagged = tags.length ? text.slice(0, tags[0]!.index) : text;
    if (untagged) this.onLauncherLine(utf8(untagged));
    tags.forEach((tag, i) => {
      const rank = Number(tag[1]);
      const next = tags[i + 1];
      const piece = (this.partialLines.get(rank) ?? '') + text.slice(tag.index! + tag[0].length, next?.index);
      if (next) {
        this.partialLines.set(rank, piece);
      } else {
        this.partialLines.delete(rank);
        this.onRankLine(rank, utf8(piece));
      }
    });
  }
}

function utf8(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8');
}
