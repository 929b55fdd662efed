/**
 * What the launchers' output demultiplexers share (mpirun --tag-output: taggedOutput.ts; srun --label:
 * labeledOutput.ts): the stream cut into output lines, each handed to the subclass's `outputLine`, which
 * reassembles a rank's line from the pieces the launcher split it into and keeps unfinished ones in
 * `partialLines`. Bytes are handled as latin1 (one char per byte) so that a cut inside a UTF-8 character cannot
 * corrupt it; each reassembled line is decoded as UTF-8 (`utf8`) when it is handed on.
 */
export abstract class RankOutputDemux {
  private pending = '';
  protected readonly partialLines = new Map<number, string>();

  constructor(
    protected readonly onRankLine: (rank: number, line: string) => void,
    protected readonly onLauncherLine: (line: string) => void,
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

  /** One output line of the launcher's stream (latin1, without its newline). */
  protected abstract outputLine(text: string): void;
}

export function utf8(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8');
}
