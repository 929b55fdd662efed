/**
 * The layering of the code base (README "Layout"): a module imports only from its own layer and the layers
 * below it, so the low layers stay reusable (core has no I/O, mpi and activities know nothing of workflows)
 * and the deterministic workflow bundle pulls in no I/O. Checked on every import of every tracked module.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Each layer and the layers it may import from (its own included). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  model: ['model', 'core'], // core only for types (checked below)
  core: ['core', 'model'],
  os: ['os'],
  io: ['io', 'os', 'core', 'model'],
  mpi: ['mpi', 'io', 'os', 'core', 'model'],
  drivers: ['drivers', 'mpi', 'io', 'os', 'core', 'model'],
  activities: ['activities', 'drivers', 'mpi', 'io', 'os', 'core', 'model'],
  workflows: ['workflows', 'model', 'activities', 'io'], // activities and io as types only (checked below)
  infra: ['infra', 'io', 'os', 'model'], // model: the search attributes it registers when the dev server starts
  workers: ['workers', 'workflows', 'activities', 'infra', 'os', 'model'],
  app: ['app', 'workers', 'workflows', 'activities', 'drivers', 'infra', 'io', 'os', 'core', 'model'],
  cli: ['cli', 'app', 'workflows', 'drivers', 'infra', 'mpi', 'io', 'os', 'core', 'model'],
  // The package's entry points (package.json exports): each re-exports the public surface of the layer it
  // names, so a user imports `subtomo/core` and internal modules stay free to move. lib/workflows.ts is
  // bundled into user workflows: it re-exports workflows/ only (checked below).
  lib: ['lib', 'workers', 'workflows', 'activities', 'core', 'io', 'model'],
};

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function modules(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? modules(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

function importsOf(file: string): Import[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const found: Import[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+'(\.{1,2}\/[^']+)'/gms)) {
    found.push({ from: file, to: relative(ROOT, resolve(dirname(join(ROOT, file)), m[2])), typeOnly: Boolean(m[1]) });
  }
  for (const m of text.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)) {
    found.push({ from: file, to: relative(ROOT, resolve(dirname(join(ROOT, file)), m[1])), typeOnly: false });
  }
  return found;
}

const layerOf = (path: string) => path.split('/')[0];
const all = Object.keys(MAY_IMPORT).flatMap(modules).flatMap(importsOf);

describe('layers', () => {
  it('finds the imports it checks', () => {
    expect(all.length).toBeGreaterThan(300);
    expect(all.some((i) => i.from === 'cli/commands/align.ts' && i.to === 'drivers/align.ts')).toBe(true);
  });

  it('every import goes to the same or a lower layer', () => {
    const wrong = all.filter((i) => !MAY_IMPORT[layerOf(i.from)].includes(layerOf(i.to)));
    expect(wrong.map((i) => `${i.from} → ${i.to}`)).toEqual([]);
  });

  it('lib/workflows.ts, which user workflows bundle, takes only workflows/ (and types)', () => {
    const wrong = all.filter((i) => i.from === 'lib/workflows.ts' && !i.typeOnly && layerOf(i.to) !== 'workflows');
    expect(wrong.map((i) => `${i.from} → ${i.to}`)).toEqual([]);
  });

  it('model/ takes only types from core/, workflows/ only types from activities/ and io/ (the workflow bundle stays free of I/O)', () => {
    const typesOnly = (from: string, to: string) => (from === 'model' && to === 'core') || (from === 'workflows' && (to === 'activities' || to === 'io'));
    const wrong = all.filter((i) => !i.typeOnly && typesOnly(layerOf(i.from), layerOf(i.to)));
    expect(wrong.map((i) => `${i.from} → ${i.to}`)).toEqual([]);
  });
});
