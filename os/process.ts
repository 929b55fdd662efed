/** Process state from Linux /proc: liveness of a recorded process, and what the MPI launcher needs to end a job. */
import { readFileSync, statSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  state: string;
  sessionId: number;
  /** Clock ticks after boot (field 22 of /proc/<pid>/stat): tells a recycled pid from the original process. */
  startTime: number;
}

/** The argument vector of a live process (/proc/<pid>/cmdline), or null if it is gone. */
export function commandLine(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
  } catch {
    return null;
  }
}

/** Owner (real uid) of a live process, or null if it is gone. */
export function processOwner(pid: number): number | null {
  try {
    return statSync(`/proc/${pid}`).uid;
  } catch {
    return null;
  }
}

/** True if the process `pid` is alive and is the one that started at `startTime` (not a recycled pid). */
export function sameProcessAlive(pid: number, startTime: number): boolean {
  const info = readProcess(pid);
  return info !== null && info.state !== 'Z' && info.startTime === startTime;
}

export function readProcess(pid: number): ProcessInfo | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pid, state: fields[0]!, sessionId: Number(fields[3]), startTime: Number(fields[19]) };
}

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
  if (process.platform !== 'linux') return true;
  const info = readProcess(pid);
  return info !== null && info.state !== 'Z';
}
