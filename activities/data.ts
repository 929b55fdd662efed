/**
 * Campaign data activities: simulate a data set into the artifact store or load one from a STAR file
 * (validating every particle MRC), and the deterministic odd/even split into gold-standard half-sets.
 */
import { basename, join, resolve } from 'node:path';
import { groelPhantom } from '../core/phantom.ts';
import { radians } from '../core/rotate.ts';
import { SimulationConfigError, densityModel, validateSimulationConfig, type SimulationConfig } from '../core/simulate.ts';
import { tiltRangeDegrees } from '../core/wedge.ts';
import { writeSimulatedDataset } from '../drivers/simulate.ts';
import { refOf, type ArtifactRef } from '../io/artifacts.ts';
import { readParticleStar, type ParticleStar } from '../io/particlestar.ts';
import { buildAssembly, readStructure } from '../io/pdb.ts';
import { assertNotConstant, readVolume } from '../io/volumes.ts';
import type { SimulatedData, StarData } from '../model/campaign.ts';
import { CTF_DEFAULTS, SIMULATION_DEFAULTS } from '../model/defaults.ts';
import { invalidInput, reportProgress, runCampaignStep, type Reuse } from './common.ts';
import { PARTICLE_SET_FORMAT, readParticleSet, writeParticleSet, type ParticleRecord } from './particles.ts';

export interface DataInput {
  workdir: string;
  data: SimulatedData | StarData;
}

export interface DataResult extends Reuse {
  /** The particle set (activities/particles.ts). */
  particles: ArtifactRef;
  count: number;
  boxSize: number;
  voxelSize: number;
}

/** Config field that holds each SimulationConfig parameter, for error messages. */
const CONFIG_FIELD: Record<string, string> = {
  n: 'data.size',
  voxelSize: 'data.voxel',
  resolution: 'data.resolution',
  snr: 'data.snr',
  maxShift: 'data.maxShift',
  seed: 'data.seed',
  tilt: 'data.tiltMin/data.tiltMax',
  tiltStep: 'data.tiltStep',
  'ctf.defocusAngstrom': 'data.defocus',
};

/** The simulator's parameters for a campaign's `data` section; an impossible one names its config field. */
export function simulationConfigOf(d: SimulatedData): SimulationConfig {
  const config: SimulationConfig = {
    n: d.size,
    voxelSize: d.voxel,
    resolution: d.resolution,
    tilt: tiltRangeDegrees(d.tiltMin, d.tiltMax),
    tiltStep: radians(d.tiltStep),
    snr: d.snr === 'inf' ? Infinity : d.snr,
    maxShift: d.maxShift,
    seed: d.seed,
    imaging: { ctf: { ...CTF_DEFAULTS, defocusAngstrom: d.defocus * 1e4 }, mtf: true },
  };
  try {
    validateSimulationConfig(config);
  } catch (err) {
    if (err instanceof SimulationConfigError) {
      throw invalidInput(`config field '${CONFIG_FIELD[err.field] ?? `data.${err.field}`}': ${err.message}`, err);
    }
    throw err;
  }
  return config;
}

/**
 * Simulates the data set into the campaign's artifact store (a STAR file with its particle MRCs, as
 * `subtomo simulate` writes them) or takes the user's STAR file, then loads it: every particle MRC is read in
 * full and checked, so a corrupt file stops the campaign at once, naming it.
 */
export async function simulateOrLoad(input: DataInput): Promise<DataResult> {
  let star: ArtifactRef;
  let simulated = null;
  if (input.data.kind === 'simulate') {
    simulated = await simulateStep(input.workdir, input.data);
    star = simulated.outputs.star;
  } else {
    star = await refOf(resolve(input.data.star)).catch((err: Error) => {
      throw invalidInput(`config field 'data.star': ${err.message}`, err);
    });
  }
  const loaded = await loadStep(input.workdir, star);
  const { set } = await readParticleSet(loaded.outputs.particles);
  return {
    particles: loaded.outputs.particles,
    count: set.particles.length,
    boxSize: set.boxSize,
    voxelSize: set.voxelSize,
    reused: loaded.reused && (simulated?.reused ?? true),
  };
}

async function simulateStep(workdir: string, data: SimulatedData) {
  const config = simulationConfigOf(data);
  const pdb = data.pdb ? await refOf(resolve(data.pdb)).catch((err: Error) => {
    throw invalidInput(`config field 'data.pdb': ${err.message}`, err);
  }) : undefined;
  const { pdb: _path, ...params } = data;
  return runCampaignStep(workdir, 'simulate', params, pdb ? { pdb } : {}, async (dir) => {
    let atoms;
    try {
      atoms = pdb ? buildAssembly(readStructure(pdb.path)) : groelPhantom();
    } catch (err) {
      throw invalidInput(`config field 'data.pdb': ${(err as Error).message}`, err);
    }
    const { weighting } = SIMULATION_DEFAULTS;
    const source = pdb ? basename(pdb.path) : 'built-in GroEL-like phantom';
    const plan = { config, count: data.particles, model: densityModel(atoms, weighting), source, weighting };
    const files = await writeSimulatedDataset(dir, plan, (done, file) =>
      reportProgress({ step: 'simulate', done, total: data.particles, detail: file }));
    return {
      ...Object.fromEntries(files.particles.map((file) => [`particle:${file}`, file])),
      reference: files.reference,
      star: files.star,
      simulation: files.metadata,
    };
  });
}

/** The particles of a STAR file with their MRCs hashed; a problem is InvalidInput naming the file. */
async function starParticles(star: ArtifactRef): Promise<{ parsed: ParticleStar; refs: ArtifactRef[] }> {
  let parsed: ParticleStar;
  try {
    parsed = await readParticleStar(star.path);
  } catch (err) {
    throw invalidInput((err as Error).message, err);
  }
  const refs: ArtifactRef[] = [];
  const paths = new Map<string, number>();
  for (const [row, p] of parsed.particles.entries()) {
    const twice = paths.get(p.path);
    if (twice !== undefined) {
      throw invalidInput(`${star.path}: rows ${twice + 1} and ${row + 1} name the same file ${p.path}; each particle must be listed once (one half-set each)`);
    }
    paths.set(p.path, row);
    refs.push(await refOf(p.path).catch((err: Error) => {
      throw invalidInput(`${star.path}: particle ${row + 1} (${p.imageName}): ${err.message}`, err);
    }));
  }
  return { parsed, refs };
}

async function loadStep(workdir: string, star: ArtifactRef) {
  const { parsed, refs } = await starParticles(star);
  const inputs: Record<string, ArtifactRef> = { star };
  refs.forEach((ref, i) => (inputs[`particle${i}`] = ref));
  return runCampaignStep(workdir, 'load', {}, inputs, async (dir) => {
    let boxSize = 0;
    const records: ParticleRecord[] = [];
    for (const [i, p] of parsed.particles.entries()) {
      // Every map is read in full now, so a corrupt one stops the campaign before any work is spent on it.
      let volume;
      try {
        volume = await readVolume(p.path, { voxelSize: parsed.voxelSize });
        assertNotConstant(volume, p.path);
      } catch (err) {
        throw invalidInput(`particle ${i + 1} of ${star.path}: ${(err as Error).message}`, err);
      }
      if (i === 0) boxSize = volume.n;
      else if (volume.n !== boxSize) {
        throw invalidInput(`${p.path} is ${volume.n}³ but ${parsed.particles[0].path} is ${boxSize}³; all particles of a campaign need one box size`);
      }
      const { path, sha256, bytes } = refs[i];
      records.push({ name: p.imageName, path, sha256, bytes, tilt: p.tilt, half: p.half });
      await reportProgress({ step: 'load', done: i + 1, total: parsed.particles.length, detail: p.imageName });
    }
    await writeParticleSet(join(dir, 'particles.json'), {
      format: PARTICLE_SET_FORMAT, source: star.path, boxSize, voxelSize: parsed.voxelSize, particles: records,
    });
    return { particles: 'particles.json' };
  });
}

export interface SplitResult extends Reuse {
  /** The particle set whose half-sets the campaign uses from now on. */
  halves: ArtifactRef;
  odd: number;
  even: number;
}

/**
 * Fixes the gold-standard split for the campaign: the half-set of each particle is the STAR's rlnRandomSubset
 * or, without one, alternating rows (odd = 1st, 3rd, …; io/particlestar.ts); both halves need 2 particles.
 */
export async function splitHalves(input: { workdir: string; particles: ArtifactRef }): Promise<SplitResult> {
  const { set, particles } = await readParticleSet(input.particles);
  const odd = particles.filter((p) => p.half === 'odd').length;
  const even = particles.length - odd;
  if (Math.min(odd, even) < 2) {
    throw invalidInput(`${set.source}: ${particles.length} particles give half-sets of ${odd} (odd) and ${even} (even); each needs at least 2`);
  }
  const step = await runCampaignStep(input.workdir, 'split', {}, { particles: input.particles }, async (dir) => {
    await writeParticleSet(join(dir, 'halves.json'), { ...set, particles: particles.map(({ ref: _ref, ...p }) => p) });
    return { halves: 'halves.json' };
  });
  return { halves: step.outputs.halves, odd, even, reused: step.reused };
}
