/**
 * Benchmark outputs are committed (docs/results, docs/accuracy), so the paths inside them must not name this
 * machine: paths are written relative to the repository (`.subtomo/paper/…`, `../shared/data/1OEL.pdb`) and
 * resolved against it again when read back.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('..', import.meta.url));

/** An absolute path inside the repository or its parent directory (../shared), as written into outputs. */
export function repoRelative(path: string): string {
  const rel = relative(REPO, path);
  return rel.split(sep)[0] === '..' && rel.split(sep)[1] === '..' ? path : rel;
}

/** A path read back from an output: relative ones are relative to the repository. */
export function fromRepo(path: string): string {
  return isAbsolute(path) ? path : resolve(REPO, path);
}

/** JSON with every absolute path near the repository written relative to it; `also` replaces other values. */
export function portableJson(value: unknown, indent?: number, also: (v: unknown) => unknown = (v) => v): string {
  return `${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' && isAbsolute(v) ? repoRelative(v) : also(v)), indent)}\n`;
}

/** Parses portableJson output, resolving the values of the path-valued keys against the repository again. */
export function parsePortableJson<T>(text: string, pathKeys: readonly string[]): T {
  return JSON.parse(text, (key, v: unknown) => (typeof v === 'string' && pathKeys.includes(key) ? fromRepo(v) : v)) as T;
}
