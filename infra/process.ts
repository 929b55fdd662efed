/** Liveness of a process recorded in a pidfile or temp-dir name. */
import { readFileSync } from 'node:fs';

/**
 * True if `pid` exists and is not a zombie (in a container PID 1 may never reap a detached server whose
 * parent exited, and a zombie still answers kill(pid, 0)).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat[stat.lastIndexOf(')') + 2];
    return state !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}
