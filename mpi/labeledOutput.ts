/**
 * Splits the output of `srun --label` (srun(1)) back into per-rank lines.
 *
 * srun writes every piece of task output it forwards as `<task id>: <text>` (the id zero-padded to the width of
 * the largest one) and ends each piece with a newline, also a piece that does not end a line: a task's line
 * longer than one Slurm I/O message (SLURM_IO_MAX_MSG_LEN, 1024 bytes: src/common/io_hdr.h) arrives as several
 * labelled pieces (src/common/write_labelled_message.c). A piece of exactly that size is therefore continued
 * by the next piece of the same task; a line of exactly 1024 bytes is followed by an empty piece that ends it.
 * Unlabelled lines are the batch script's own: srun's and slurmstepd's messages.
 *
 * Bytes are handled as latin1 (one char per byte) so that a piece boundary inside a UTF-8 character cannot
 * corrupt it; each reassembled line is decoded as UTF-8 afterwards.
 */
const LABEL = /^ *(\d+): /;
const SLURM_IO_MAX_MSG_LEN = 1024;

export class LabeledOutputDemux {
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

  /** Flushes what is left once the output is complete (a last line without newline, cut-off rank lines). */
  end(): void {
    if (this.pending) this.outputLine(this.pending);
    this.pending = '';
    for (const [rank, partial] of this.partialLines) this.onRankLine(rank, utf8(partial));
    this.partialLines.clear();
  }

  private outputLine(text: string): void {
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

function utf8(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8');
}
