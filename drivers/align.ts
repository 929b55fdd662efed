/**
 * The paper's Algorithm 3 for a list of particles — the one driver behind `subtomo align` and the campaign's
 * `frm` and `refine` steps:
 *
 *   1. `findCandidates`: the top-N FRM rotations of each particle against its reference (core/frm.ts), in
 *      this process;
 *   2. `runAlignment`: every (particle × candidate) pair refined locally — FTM shift, then SAG, LM or Chen —
 *      in this process or on MPI ranks (mpi/alignRank.ts; both run mpi/alignWork.ts), the lowest
 *      dissimilarity winning per particle.
 *
 * Callers supply how volumes are read (the CLI from the user's files, activities from verified artifacts).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type FrmOptions, frmCandidates } from '../core/frm.ts';
import { type Euler, eulerToMatrix } from '../core/rotate.ts';
import { parseSymmetry } from '../core/symmetry.ts';
import type { Volume } from '../core/volume.ts';
import type { TiltRange } from '../core/wedge.ts';
import type { AlignJob, AlignParticle, ParticleAlignment, ParticleCtfRef } from '../model/jobs.ts';
import { type RankTiming, alignPairs, runAlignJob } from '../mpi/alignWork.ts';
import { alignmentView } from '../mpi/particleTransfer.ts';
import { type Execution, runOnRanks } from './execution.ts';

const ALIGN_RANK = fileURLToPath(new URL('../mpi/alignRank.ts', import.meta.url));

/** How the pairs are refined: everything of an AlignJob but its particles and outputs. */
export type RefinementSettings = Pick<AlignJob, 'method' | 'maxShift' | 'mask' | 'alignBox' | 'sag' | 'seed'>;

/** What a user chooses for an alignment (CLI flags, a campaign's `alignment` section). */
export interface AlignSettings extends RefinementSettings {
  /** FRM candidates per particle. */
  candidates: number;
  /** FRM bandwidth. */
  bandwidth: number;
  /** Point group of the structure: symmetry mates of a rotation are one FRM candidate (core/symmetry.ts). */
  symmetry?: string;
  /**
   * Local search: each target's candidates are its prior rotation and the FRM peaks within this many
   * radians of it (under the symmetry). Absent: global search.
   */
  angularRange?: number;
}

/** A particle to align and the reference it is aligned to; its CTF (if any) makes the comparison CTF-aware (mpi/particleTransfer.ts alignmentView). */
export interface AlignTarget extends ParticleCtfRef {
  name: string;
  path: string;
  tilt: TiltRange;
  reference: string;
  /** The particle's known rotation, where a local search starts (AlignSettings.angularRange). */
  prior?: Euler;
}

export interface VolumeReader {
  reference(path: string): Promise<Volume>;
  particle(target: AlignTarget): Promise<Volume>;
}

/** FRM rotation candidates of every target (references read once per path); `onParticle` after each. */
export async function findCandidates(
  targets: readonly AlignTarget[],
  settings: Pick<AlignSettings, 'bandwidth' | 'candidates' | 'symmetry' | 'angularRange'>,
  read: VolumeReader,
  onParticle?: (done: number, name: string) => void | Promise<void>,
): Promise<AlignParticle[]> {
  const references = new Map<string, Volume>();
  const symmetry = settings.symmetry ? parseSymmetry(settings.symmetry) : undefined;
  const out: AlignParticle[] = [];
  for (const target of targets) {
    let reference = references.get(target.reference);
    if (!reference) {
      reference = await read.reference(target.reference);
      references.set(target.reference, reference);
    }
    const volume = await alignmentView(target.name, target, await read.particle(target));
    const found = frmCandidates(reference, volume, {
      bandwidth: settings.bandwidth, topN: settings.candidates, wedgeParticle: target.tilt, symmetry, ...localSearch(target, settings.angularRange),
    });
    if (found.length === 0) throw new Error(`particle ${target.name}: FRM found no rotation candidate`);
    out.push({ ...target, candidates: found.map((c) => ({ ...c.euler, score: c.score })) });
    await onParticle?.(out.length, target.name);
  }
  return out;
}

/** FrmOptions.near of a target under a local search (none for a global one). */
function localSearch(target: AlignTarget, angularRange: number | undefined): Pick<FrmOptions, 'near'> {
  if (angularRange === undefined) return {};
  if (!target.prior) throw new Error(`particle ${target.name}: a local search (angular range) needs its prior pose, and it has none`);
  return { near: { R: eulerToMatrix(target.prior), angle: angularRange } };
}

/** The AlignJob of `particles` under `settings`, writing its results (and optionally a STAR) to `out`. */
export function alignJob(particles: AlignParticle[], settings: RefinementSettings, out: { results: string; star?: string }): AlignJob {
  return {
    method: settings.method,
    particles,
    maxShift: settings.maxShift,
    mask: settings.mask,
    ...(settings.alignBox !== undefined && { alignBox: settings.alignBox }),
    ...(settings.sag !== undefined && Object.keys(settings.sag).length > 0 && { sag: settings.sag }),
    seed: settings.seed,
    out: out.results,
    ...(out.star !== undefined && { outStar: out.star }),
  };
}

export interface AlignmentOutcome {
  results: ParticleAlignment[];
  /** Per-rank timings of an MPI run (load balance), null in process. */
  ranks: RankTiming[] | null;
  /** Particle × candidate refinements. */
  pairs: number;
}

/** Mean CCC of the particles that refined (a failed particle's CCC is a placeholder); NaN if none did. */
export function meanRefinedCcc(results: readonly ParticleAlignment[]): number {
  const refined = results.filter((r) => !r.failed);
  return refined.reduce((sum, r) => sum + r.ccc, 0) / refined.length;
}

/**
 * What a scientist should know about an alignment besides its poses: particles none of whose candidates
 * refined (left out of averages), candidates that failed, refinements stopped at their iteration cap.
 */
export function alignmentWarnings(results: readonly ParticleAlignment[]): string[] {
  const lines: string[] = [];
  const failed = results.filter((r) => r.failed);
  if (failed.length > 0) {
    const named = failed.slice(0, 5).map((r) => r.name).join(', ');
    lines.push(
      `warning: ${failed.length} particle(s) could not be refined from any candidate (${named}${failed.length > 5 ? ', …' : ''}): ` +
        `${failed[0].candidateFailures[0]?.reason ?? 'no reason recorded'}; they keep their input pose and are left out of averages`,
    );
  }
  const candidateFailures = results.reduce((sum, r) => sum + (r.failed ? 0 : r.candidateFailures.length), 0);
  if (candidateFailures > 0) lines.push(`note: ${candidateFailures} candidate refinement(s) failed; their particles kept their best valid candidate`);
  const capped = results.reduce((sum, r) => sum + r.capped, 0);
  if (capped > 0) lines.push(`note: ${capped} refinement(s) stopped at the iteration cap (sag.maxEpochs) before converging`);
  return lines;
}

/** Refines every pair of `job` and writes its outputs; progress counts pairs. */
export async function runAlignment(job: AlignJob, exec: Execution): Promise<AlignmentOutcome> {
  const pairs = alignPairs(job).length;
  if (!exec.mpi) {
    const results = await runAlignJob(job, (p) => {
      exec.signal?.throwIfAborted();
      exec.onProgress?.(p.done, `${p.particle} #${p.candidate + 1}`);
    });
    return { results, ranks: null, pairs };
  }
  const done = await runOnRanks(ALIGN_RANK, job, job.out, { ...exec, mpi: exec.mpi });
  const ranks = (done.result as { ranks?: RankTiming[] } | undefined)?.ranks ?? null;
  const results = JSON.parse(await readFile(job.out, 'utf8')) as ParticleAlignment[];
  return { results, ranks, pairs };
}
