import { describe, expect, it } from 'vitest';
import type { StepEntry } from '../app/campaignHistory.ts';
import { iterationTimings } from '../bench/paper-campaigns.ts';

const ref = (name: string) => ({ path: `/store/${name}`, sha256: name.padEnd(64, '0'), bytes: 1 });

function step(iteration: number, name: string, from: number, to: number | undefined, extra: Partial<StepEntry> = {}): StepEntry {
  return {
    run: 1, iteration, step: name, activity: name, scheduledMs: from * 1000, endMs: to === undefined ? undefined : to * 1000,
    outcome: to === undefined ? 'running' : 'completed', attempt: 1, ...extra,
  };
}

describe('iterationTimings (wall time per alignment pass from a campaign history)', () => {
  it('adds FRM and refinement per aligned iteration, flags reused steps and keeps the refine step\'s alignment', () => {
    const steps: StepEntry[] = [
      step(0, 'load', 0, 5), step(0, 'fsc', 5, 6),
      step(1, 'frm', 10, 13, { result: { reused: true } }), step(1, 'refine', 13, 40, { result: { alignment: ref('a1'), reused: false } }),
      step(1, 'average', 40, 42), step(1, 'fsc', 42, 43), step(1, 'lowpass', 43, 44), step(1, 'report', 44, 45),
      // Iteration 2: a failed refine attempt, then the completed one; the failure must not count.
      step(2, 'frm', 50, 52), step(2, 'refine', 52, 60, { outcome: 'failed' }),
      step(2, 'refine', 61, 90, { attempt: 2, result: { alignment: ref('a2'), reused: false } }),
      step(2, 'average', 90, 91), step(2, 'fsc', 91, 92), step(2, 'lowpass', 92, 93), step(2, 'report', 93, 95),
      // Iteration 3 is still running: no timing yet.
      step(3, 'frm', 100, 102), step(3, 'refine', 102, undefined),
    ];
    const t = iterationTimings(steps);
    expect(t.map((x) => x.iteration)).toEqual([1, 2]);
    expect(t[0]).toMatchObject({ frmSeconds: 3, refineSeconds: 27, passSeconds: 30, iterationSeconds: 35, passReused: true, alignment: ref('a1') });
    expect(t[1]).toMatchObject({ frmSeconds: 2, refineSeconds: 29, passSeconds: 31, iterationSeconds: 45, passReused: false, alignment: ref('a2') });
  });
});
