/**
 * An AverageJob's work, shared by the in-process path (`runAverageJob`) and the MPI ranks (averageRank.ts):
 * both read particles and add them with the same code, so their half maps agree to float64 rounding.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type HalfMaps, HalfMapSums } from '../core/halfmaps.ts';
import { parseSymmetry, symmetrise } from '../core/symmetry.ts';
import type { Volume } from '../core/volume.ts';
import { readMrcHeader, writeMrc } from '../io/mrc.ts';
import { readVolume } from '../io/volumes.ts';
import type { AverageJob } from '../model/jobs.ts';
import { readParticleTransfer } from './particleTransfer.ts';

export interface AverageProgress {
  phase: 'average';
  done: number;
  total: number;
  particle: string;
}

/** Box size and voxel size of the job's average, from the first particle (its header, or the job's voxel size). */
export async function averageGeometry(job: AverageJob): Promise<{ n: number; voxelSize: number }> {
  if (job.particles.length === 0) throw new Error('average job has no particles');
  const first = job.particles[0];
  if (job.voxelSize !== undefined) {
    const v = await readParticle(first.name, first.path, job.voxelSize);
    return { n: v.n, voxelSize: job.voxelSize };
  }
  const header = await readMrcHeader(first.path).catch((err: Error) => {
    throw new Error(`particle ${first.name}: ${err.message}`);
  });
  if (header.nx !== header.ny || header.ny !== header.nz) {
    throw new Error(`particle ${first.name} (${first.path}) is ${header.nx}×${header.ny}×${header.nz}, not a cube`);
  }
  if (!(header.voxelSize > 0)) throw new Error(`particle ${first.name} (${first.path}) has no voxel size in its header`);
  return { n: header.nx, voxelSize: header.voxelSize };
}

async function readParticle(name: string, path: string, voxelSize?: number): Promise<Volume> {
  try {
    return await readVolume(path, voxelSize === undefined ? {} : { voxelSize });
  } catch (err) {
    throw new Error(`particle ${name}: ${(err as Error).message}`);
  }
}

/** Reads particles first … first+count−1 of the job and adds each to its half-set in `sums`. */
export async function accumulateParticles(
  job: AverageJob,
  first: number,
  count: number,
  sums: HalfMapSums,
  onParticle?: (done: number, name: string) => void,
): Promise<void> {
  for (let k = 0; k < count; k++) {
    const p = job.particles[first + k];
    const volume = await readParticle(p.name, p.path, job.voxelSize);
    const transfer = await readParticleTransfer(p.name, p, volume);
    try {
      sums.add(p.half, volume, p.pose, transfer);
    } catch (err) {
      throw new Error(`particle ${p.name} (${p.path}): ${(err as Error).message}`);
    }
    onParticle?.(k + 1, p.name);
  }
}

/**
 * Finishes the half maps, imposes the job's symmetry on each (the halves stay independent: each is
 * symmetrised on its own), and writes the three MRCs of `job.out` (each atomically).
 */
export async function finishAverage(job: AverageJob, sums: HalfMapSums): Promise<HalfMaps> {
  const finished = sums.finish(job.floorFraction);
  const group = job.symmetry ? parseSymmetry(job.symmetry) : null;
  const maps = group && group.operators.length > 1
    ? { odd: symmetrise(finished.odd, group), even: symmetrise(finished.even, group), combined: symmetrise(finished.combined, group) }
    : finished;
  const count = sums.odd.count + sums.even.count;
  for (const key of ['odd', 'even', 'combined'] as const) {
    await mkdir(dirname(job.out[key]), { recursive: true });
    await writeMrc(job.out[key], maps[key], { labels: [`subtomo average: ${key} of ${count} particles${job.symmetry ? `, ${job.symmetry}` : ''}`] });
  }
  return maps;
}

/** The whole job in this process (the P = 1 path of `subtomo average`). */
export async function runAverageJob(job: AverageJob, onProgress?: (p: AverageProgress) => void): Promise<HalfMaps> {
  const { n, voxelSize } = await averageGeometry(job);
  const sums = new HalfMapSums(n, voxelSize);
  const total = job.particles.length;
  await accumulateParticles(job, 0, total, sums, (done, particle) => onProgress?.({ phase: 'average', done, total, particle }));
  return finishAverage(job, sums);
}
