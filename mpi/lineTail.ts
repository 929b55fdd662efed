/** The last lines of a stream, kept for error messages (a failing rank's stderr, the launcher's own words). */
export class LineTail {
  private readonly lines: string[] = [];
  constructor(private readonly max: number) {}
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.max) this.lines.shift();
  }
  get text(): string {
    return this.lines.join('\n');
  }
  get isEmpty(): boolean {
    return this.lines.length === 0;
  }
}
