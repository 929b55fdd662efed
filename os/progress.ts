/**
 * Terminal progress bar: redraws in place on a TTY, prints sparse plain lines otherwise (CI logs, pipes).
 */
export class ProgressBar {
  private done = 0;
  private lastPlain = -1;
  private readonly start = Date.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  tick(step = 1, detail = ''): void {
    this.update(this.done + step, detail);
  }

  update(done: number, detail = ''): void {
    this.done = Math.min(done, this.total);
    const frac = this.total > 0 ? this.done / this.total : 1;
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = frac > 0 ? (elapsed * (1 - frac)) / frac : 0;
    const text = `${this.label} ${this.done}/${this.total} ${(frac * 100).toFixed(0)}% ${elapsed.toFixed(1)}s` +
      (this.done < this.total ? ` eta ${eta.toFixed(0)}s` : '') + (detail ? ` ${detail}` : '');
    if (this.stream.isTTY) {
      const width = 30;
      const filled = Math.round(frac * width);
      this.stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
      if (this.done >= this.total) this.stream.write('\n');
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== this.lastPlain || this.done >= this.total) {
        this.lastPlain = decile;
        this.stream.write(`${text}\n`);
      }
    }
  }
}
