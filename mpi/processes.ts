/**
 * Finding and ending every process of an mpirun job (Linux /proc).
 *
 * OpenMPI's launcher puts each rank in a process group of its own, so signalling mpirun's process group
 * misses the ranks. They do stay in mpirun's session, and the launcher starts mpirun `detached` (setsid), so
 * the session id of every process of the job is mpirun's pid. Linux does not reuse a pid while any process
 * still carries it as session id, so "session == recorded mpirun pid" identifies the job even after mpirun died.
 */
import { readdirSync } from 'node:fs';
import { readProcess, type ProcessInfo } from '../os/process.ts';

export { readProcess, type ProcessInfo };

/** Live processes of session `sessionId` (zombies are already dead and cannot be signalled away). */
export function sessionMembers(sessionId: number): ProcessInfo[] {
  const members: ProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProcess(Number(name));
    if (info && info.sessionId === sessionId && info.state !== 'Z') members.push(info);
  }
  return members;
}

function signalAll(sessionId: number, signal: NodeJS.Signals): void {
  const targets = [-sessionId, ...sessionMembers(sessionId).map((p) => p.pid)];
  for (const target of targets) {
    try {
      process.kill(target, signal);
    } catch {
      // Already gone (ESRCH): that is what we want.
    }
  }
}

async function waitUntilEmpty(sessionId: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (sessionMembers(sessionId).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * SIGTERM to every process of the session (mpirun forwards it to its ranks too), SIGKILL to whatever is left
 * after `graceMs`. Resolves with the number of processes found alive at the start, once none is left.
 */
export async function terminateSession(sessionId: number, graceMs: number): Promise<number> {
  const alive = sessionMembers(sessionId).length;
  if (alive === 0) return 0;
  signalAll(sessionId, 'SIGTERM');
  if (await waitUntilEmpty(sessionId, graceMs)) return alive;
  signalAll(sessionId, 'SIGKILL');
  if (await waitUntilEmpty(sessionId, 5_000)) return alive;
  const left = sessionMembers(sessionId).map((p) => p.pid);
  throw new Error(`processes ${left.join(', ')} of MPI job session ${sessionId} survived SIGKILL`);
}
