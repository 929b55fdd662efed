/**
 * The Python that runs the ecosystem's own readers (mrcfile, teamtomo's starfile) in interoperability tests:
 * the venv infra/install.sh creates under ${SUBTOMO_CACHE:-~/.cache/subtomo}/interop-venv, else a system
 * python3 that has the modules. Without either a test skips with the reason — except in CI (CI=true), where
 * install.sh has run and a missing reader is a failure, not a skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type PythonFound = { python: string; skipReason?: undefined } | { python?: undefined; skipReason: string };

export function interopVenvPython(): string {
  return join(process.env.SUBTOMO_CACHE ?? join(homedir(), '.cache', 'subtomo'), 'interop-venv', 'bin', 'python');
}

function imports(python: string, modules: readonly string[]): boolean {
  return spawnSync(python, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' }).status === 0;
}

/** A python that can import every one of `modules`. */
export function pythonWith(modules: readonly string[]): PythonFound {
  const venv = interopVenvPython();
  for (const python of [...(existsSync(venv) ? [venv] : []), 'python3']) {
    if (imports(python, modules)) return { python };
  }
  const skipReason = `no python with ${modules.join(', ')}: run infra/install.sh (it creates ${venv})`;
  if (process.env.CI === 'true') throw new Error(`${skipReason}; CI must run the interoperability tests`);
  return { skipReason };
}

/** Runs `script` with `args`; returns its stdout parsed as JSON, or throws with its stderr. */
export function runPythonJson<T>(python: string, script: string, args: readonly string[]): T {
  const run = spawnSync(python, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`python failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}
