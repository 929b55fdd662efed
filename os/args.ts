/** Minimal `--flag value` / `--switch` parser with typed accessors and messages that name the flag. */
export class Args {
  private readonly values = new Map<string, string | true>();
  readonly positional: string[] = [];

  constructor(argv: readonly string[]) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (a.startsWith('--')) {
        const eq = a.indexOf('=');
        if (eq > 0) this.values.set(a.slice(2, eq), a.slice(eq + 1));
        else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) this.values.set(a.slice(2), argv[++i]);
        else this.values.set(a.slice(2), true);
      } else this.positional.push(a);
    }
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  string(name: string, fallback?: string): string {
    const v = this.values.get(name);
    if (v === undefined || v === true) {
      if (fallback !== undefined) return fallback;
      throw new UsageError(`missing --${name}`);
    }
    return v;
  }

  optionalString(name: string): string | undefined {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  number(name: string, fallback?: number): number {
    const v = this.values.get(name);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new UsageError(`missing --${name}`);
    }
    const x = Number(v);
    if (v === true || !Number.isFinite(x)) throw new UsageError(`--${name} must be a number, got '${v}'`);
    return x;
  }

  int(name: string, fallback?: number): number {
    const x = this.number(name, fallback);
    if (!Number.isInteger(x)) throw new UsageError(`--${name} must be an integer, got ${x}`);
    return x;
  }
}

export class UsageError extends Error {}
