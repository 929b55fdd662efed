/**
 * A candidate whose refinement fails is recorded and never ends a run (core/align.ts alignParticle and
 * mpi/alignWork.ts, in process and on 2 MPI ranks), and the SNR 0.001 case that ended whole runs before
 * (SAG walked the reference out of the box: "the transformed reference is constant inside the mask")
 * completes.
 *
 * A deterministic failure: a reference that varies along z only has all its signal on the kz axis, which
 * a ±30° tilt series about y never observes; a candidate that leaves it unturned has nothing to match
 * (FTM: no signal inside the wedge overlap), one turned by 90° about y has.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alignParticle } from '../core/align.ts';
import { applyFourierFilter, softSphereMask } from '../core/filters.ts';
import { Rng } from '../core/random.ts';
import { identity, matrixToEuler, randomRotation, rotationAngle, rotationY, transformVolumeByMatrix } from '../core/rotate.ts';
import { Volume } from '../core/volume.ts';
import { symmetricTilt, tiltRangeDegrees, wedgeMask } from '../core/wedge.ts';
import { writeMrc } from '../io/mrc.ts';
import type { AlignJob, ParticleAlignment } from '../model/jobs.ts';
import { runAlignJob } from '../mpi/alignWork.ts';
import { writeJobFile } from '../mpi/jobFiles.ts';
import { runMpiJob } from '../mpi/launcher.ts';
import { randomBlobs, renderBlobs } from './helpers/blobs.ts';

const n = 24;
const wedge = symmetricTilt(30);
const turned = rotationY(Math.PI / 2);

/** Two slabs normal to z (signal on the kz axis only). */
function planes(): Volume {
  const v = new Volume(n, 8);
  for (let z = 0; z < n; z++) {
    const value = Math.exp(-((z - 12) ** 2) / 8) + 0.5 * Math.exp(-((z - 7) ** 2) / 4);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) v.set(x, y, z, value);
  }
  return v;
}

function turnedParticle(reference: Volume, seed: number): Volume {
  const p = applyFourierFilter(transformVolumeByMatrix(reference, turned, [0.5, 0, 0]), wedgeMask(n, wedge));
  const rng = new Rng(seed);
  return p.withData(p.data.map((x) => x + 0.05 * rng.gaussian()));
}

describe('alignParticle: failed candidates', () => {
  const reference = planes();
  const particle = turnedParticle(reference, 3);
  const settings = { method: 'sag' as const, maxShift: 4, mask: softSphereMask(n, 8, 2), wedgeParticle: wedge, seed: 1 };

  it('records a candidate that cannot be refined and keeps the best valid one', () => {
    const r = alignParticle(reference, particle, { ...settings, candidates: [{ R: identity() }, { R: turned }] });
    expect(r.failures).toEqual([{ candidate: 0, reason: 'translation search: particle or rotated reference has no signal inside the wedge overlap' }]);
    expect(r.perCandidate.map((c) => c.candidateIndex)).toEqual([1]);
    expect(r.best!.candidateIndex).toBe(1);
    expect((rotationAngle(Float64Array.from(r.best!.R), turned) * 180) / Math.PI).toBeLessThan(2);
  });

  it('returns no best, and every reason, when no candidate can be refined', () => {
    const r = alignParticle(reference, particle, { ...settings, candidates: [{ R: identity() }, { R: identity() }] });
    expect(r.best).toBeNull();
    expect(r.perCandidate).toEqual([]);
    expect(r.failures.map((f) => f.candidate)).toEqual([0, 1]);
  });

  it('still throws on bad input, before any refinement', () => {
    expect(() => alignParticle(reference, particle, { ...settings, candidates: [{ R: turned }, { R: [1, 0, 0, 0, 1, 0, 0, 0, Number.NaN] }] }))
      .toThrow(/candidate 1: rotation entry 8 is NaN/);
  });
});

describe('SAG at SNR 0.001 (asymmetric object, tilt −50…+70°)', () => {
  it('completes every candidate of the case that ended runs, the shifts inside their bound', () => {
    // Before the fix, candidate 3 of this particle threw "the transformed reference is constant inside the
    // mask (moved out of the box?)" from refineSag and alignParticle passed it on.
    const m = 32;
    const rng = new Rng(3);
    const blobs = randomBlobs(rng, 6, 2.5, 1, 1.8);
    const support = softSphereMask(m, 5, 0);
    const reference = renderBlobs(blobs, m);
    for (let i = 0; i < support.length; i++) reference.data[i] *= support[i];
    const trueR = randomRotation(rng);
    const tilt = tiltRangeDegrees(-50, 70);
    const clean = applyFourierFilter(renderBlobs(blobs, m, trueR, [1, -1, 0.5]), wedgeMask(m, tilt));
    let power = 0;
    for (const x of clean.data) power += (x * x) / clean.data.length;
    const sigma = Math.sqrt(power / 0.001);
    const particle = clean.withData(clean.data.map((x) => x + sigma * rng.gaussian()));
    const candidates = Array.from({ length: 6 }, (_, k) => ({ R: k === 0 ? trueR : randomRotation(rng) }));
    const maxShift = 15;
    const r = alignParticle(reference, particle, { method: 'sag', candidates, maxShift, mask: softSphereMask(m, 4, 1), wedgeParticle: tilt, seed: 3 });
    expect(r.failures).toEqual([]);
    expect(r.perCandidate).toHaveLength(6);
    for (const c of r.perCandidate) {
      expect(Math.hypot(...c.t)).toBeLessThanOrEqual(maxShift + 1e-9);
      expect(Number.isFinite(c.dissimilarity)).toBe(true);
      expect(c.capped).toBe(false);
    }
  });
});

describe('mpi/alignWork.ts: failed candidates and particles, in process and on 2 MPI ranks', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'subtomo-align-robustness-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const euler = (R: Float64Array) => ({ ...matrixToEuler(R), score: 1 });
  const job = (out: string): AlignJob => ({
    method: 'sag',
    particles: [
      // one candidate fails, the other refines
      { name: 'p1', path: join(scratch, 'p1.mrc'), tilt: wedge, reference: join(scratch, 'ref.mrc'), candidates: [euler(identity()), euler(turned)] },
      // no candidate can be refined: flagged, the run goes on
      { name: 'p2', path: join(scratch, 'p2.mrc'), tilt: wedge, reference: join(scratch, 'ref.mrc'), candidates: [euler(identity())] },
      { name: 'p3', path: join(scratch, 'p3.mrc'), tilt: wedge, reference: join(scratch, 'ref.mrc'), candidates: [euler(turned), euler(identity())] },
    ],
    maxShift: 4,
    mask: { radius: 8, edge: 2 },
    // a cap no refinement of these degenerate slabs can converge within, so the count is exercised
    sag: { maxEpochs: 1 },
    seed: 7,
    out: join(scratch, out, 'aligned.json'),
    outStar: join(scratch, out, 'aligned.star'),
  });
  let inProcess: ParticleAlignment[];

  beforeAll(async () => {
    const reference = planes();
    await writeMrc(join(scratch, 'ref.mrc'), reference);
    await writeMrc(join(scratch, 'p1.mrc'), turnedParticle(reference, 11));
    await writeMrc(join(scratch, 'p2.mrc'), turnedParticle(reference, 12));
    await writeMrc(join(scratch, 'p3.mrc'), turnedParticle(reference, 13));
  });

  it('records them in the results and finishes the run', async () => {
    inProcess = await runAlignJob(job('local'));
    const [p1, p2, p3] = inProcess;
    const reason = 'translation search: particle or rotated reference has no signal inside the wedge overlap';
    expect(p1.failed).toBe(false);
    expect(p1.candidateIndex).toBe(1);
    expect(p1.candidateFailures).toEqual([{ candidate: 0, reason }]);
    expect(p1.perCandidate[0]).toBeNull();
    expect(p1.perCandidate[1]).toBe(p1.dissimilarity);
    // the one refinement ran into the safety cap, and is counted
    expect(p1.capped).toBe(1);
    expect(p2.failed).toBe(true);
    expect(p2.candidateFailures).toEqual([{ candidate: 0, reason }]);
    expect(p2.perCandidate).toEqual([null]);
    expect([p2.ccc, p2.dissimilarity, p2.iterations]).toEqual([0, 2, 0]);
    expect(p3.failed).toBe(false);
    expect(p3.candidateIndex).toBe(0);
    expect(p3.candidateFailures.map((f) => f.candidate)).toEqual([1]);
  });

  it('gives the same results on 2 MPI ranks', async () => {
    const mpiJob = job('mpi');
    const jobFile = join(scratch, 'mpi-job.json');
    await writeJobFile(jobFile, mpiJob);
    await runMpiJob({ np: 2, entry: fileURLToPath(new URL('../mpi/alignRank.ts', import.meta.url)), args: [jobFile] });
    expect(JSON.parse(readFileSync(mpiJob.out, 'utf8'))).toEqual(inProcess);
  });
});
