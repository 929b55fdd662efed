/**
 * `--flag value` / `--switch` parser with typed accessors and messages that name the flag. Given the flags
 * a command knows, it refuses anything else — an unknown or misspelled flag (naming the closest known one), a
 * value missing after a flag, a value given to a switch — so nobody believes an option was applied that was
 * not.
 */

/** The flags a command accepts. */
export interface FlagSpec {
  /** Flags that take a value (`--out DIR` or `--out=DIR`). */
  values: readonly string[];
  /** Flags without a value (`--fresh`). */
  switches?: readonly string[];
  /** Value flags that may be given more than once (`--mca a=1 --mca b=2`). */
  repeatable?: readonly string[];
}

export class Args {
  private readonly values = new Map<string, string[]>();
  private readonly switches = new Set<string>();
  readonly positional: string[] = [];

  constructor(argv: readonly string[], spec?: FlagSpec) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (!a.startsWith('--')) {
        this.positional.push(a);
        continue;
      }
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      let value: string | undefined = eq > 0 ? a.slice(eq + 1) : undefined;
      if (spec) {
        const isSwitch = spec.switches?.includes(name) ?? false;
        if (!isSwitch && !spec.values.includes(name)) throw new UsageError(unknownFlag(name, spec));
        if (isSwitch) {
          if (value !== undefined) throw new UsageError(`--${name} is a switch and takes no value, got '${value}'`);
          this.switches.add(name);
          continue;
        }
        if (value === undefined) {
          const next = argv[i + 1];
          if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
          value = argv[++i];
        }
        const list = this.values.get(name);
        if (list && !(spec.repeatable?.includes(name) ?? false)) throw new UsageError(`--${name} is given more than once`);
        this.values.set(name, [...(list ?? []), value]);
        continue;
      }
      // Without a spec (benchmarks, internal tools): a following non-flag token is the value.
      if (value === undefined && i + 1 < argv.length && !argv[i + 1].startsWith('--')) value = argv[++i];
      if (value === undefined) this.switches.add(name);
      else this.values.set(name, [...(this.values.get(name) ?? []), value]);
    }
  }

  has(name: string): boolean {
    return this.values.has(name) || this.switches.has(name);
  }

  string(name: string, fallback?: string): string {
    const v = this.values.get(name)?.at(-1);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new UsageError(this.switches.has(name) ? `--${name} needs a value` : `missing --${name}`);
    }
    return v;
  }

  optionalString(name: string): string | undefined {
    return this.values.get(name)?.at(-1);
  }

  /** Every value of a repeatable flag, in order. */
  list(name: string): string[] {
    return [...(this.values.get(name) ?? [])];
  }

  number(name: string, fallback?: number): number {
    const v = this.values.get(name)?.at(-1);
    if (v === undefined) {
      if (fallback !== undefined && !this.switches.has(name)) return fallback;
      throw new UsageError(this.switches.has(name) ? `--${name} needs a value` : `missing --${name}`);
    }
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${name} must be a number, got '${v}'`);
    return x;
  }

  int(name: string, fallback?: number): number {
    const x = this.number(name, fallback);
    if (!Number.isInteger(x)) throw new UsageError(`--${name} must be an integer, got ${x}`);
    return x;
  }
}

export class UsageError extends Error {}

/** The message for an unknown flag, suggesting the closest known one when it is a likely typo. */
function unknownFlag(name: string, spec: FlagSpec): string {
  const known = [...spec.values, ...(spec.switches ?? [])];
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  const hint = best !== null && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? `; did you mean --${best}?` : '';
  return `unknown flag --${name}${hint}`;
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length];
}
