/**
 * Splits an `mpirun --tag-output` stream back into per-rank lines.
 *
 * mpirun forwards rank output in chunks of at most ~4 KB and prefixes every chunk with `[job,rank]<stdout>:`,
 * even when the chunk starts mid-line, and chunks of different ranks interleave: a long line of rank 0 can be
 * cut by a chunk of rank 1 without a newline in between. A tagged piece followed by another tag on the same
 * output line is therefore a partial line of its rank; the piece ending the output line completes it.
 * Untagged text is mpirun's own (error reports, help messages).
 */
import { RankOutputDemux, utf8 } from './rankOutput.ts';

const TAG = /\[\d+,(\d+)\]<(?:stdout|stderr|stddiag)>:/g;

export class TaggedOutputDemux extends RankOutputDemux {
  protected outputLine(text: string): void {
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
