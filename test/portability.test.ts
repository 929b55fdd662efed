/**
 * Tracked files never name this machine: not the checkout's absolute location, not the shared data folder's
 * (docs and outputs say `../shared/data/…` or repo-relative paths; tests derive paths from import.meta.url).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

it('no tracked file contains the absolute path of the checkout or of ../shared', () => {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter(Boolean);
  expect(files.length).toBeGreaterThan(100);
  const forbidden = [REPO, join(dirname(REPO), 'shared')];
  const offenders = files.filter((f) => {
    let text: string;
    try {
      text = readFileSync(join(REPO, f), 'latin1');
    } catch {
      return false; // listed but deleted in the working tree
    }
    return forbidden.some((p) => text.includes(p));
  });
  expect(offenders).toEqual([]);
});
