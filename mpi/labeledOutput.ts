/**
 * Splits the output of `srun --label` (srun(1)) back into per-rank lines.
 *
 * srun writes every piece of task output it forwards as `<task id>: <text>` (the id zero-padded to the width of
 * the largest one) and ends each piece with a newline, also a piece that does not end a line: a task's line
 * longer than one Slurm I/O message (SLURM_IO_MAX_MSG_LEN, 1024 bytes: src/common/io_hdr.h) arrives as several
 * labelled pieces (src/common/write_labelled_message.c). A piece of exactly that size is therefore continued
 * by the next piece of the same task; a line of exactly 1024 bytes is followed by an empty piece that ends it.
 * Unlabelled lines are the batch script's own: srun's and slurmstepd's messages.
 */
import { RankOutputDemux, utf8 } from './rankOutput.ts';

const LABEL = /^ *(\d+): /;
const SLURM_IO_MAX_MSG_LEN = 1024;

export class LabeledOutputDemux extends RankOutputDemux {
  protected outputLine(text: string): void {
    const label = LABEL.exec(text);
    if (!label) {
      this.onLauncherLine(utf8(text));
      return;
    }
    const rank = Number(label[1]);
    const piece = text.slice(label[0].length);
    const line = (this.partialLines.get(rank) ?? '') + piece;
    if (piece.length === SLURM_IO_MAX_MSG_LEN) {
      this.partialLines.set(rank, line);
    } else {
      this.partialLines.delete(rank);
      this.onRankLine(rank, utf8(line));
    }
  }
}
