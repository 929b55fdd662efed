/**
 * Campaign data activities: simulate a data set into the artifact store or load one from a STAR file
 * (validating every particle MRC), and the deterministic odd/even split into gold-standard half-sets.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { alternatingHalf } from '../core/halfmaps.ts';
import { radians } from '../core/rotate.ts';
import { SimulationConfigError, validateSimulationConfig, type SimulationConfig } from '../core/simulate.ts';
import { tiltRangeDegrees } from '../core/wedge.ts';
import { extractParticles } from '../drivers/extract.ts';
import { type ListSelection, type PreparedList, jobCtfOf, prepareParticles } from '../drivers/particleList.ts';
import { trueClasses } from '../drivers/classify.ts';
import { simulatedComponents, writeSimulatedDataset } from '../drivers/simulate.ts';
import { refOf, type ArtifactRef } from '../io/artifacts.ts';
import { formatParticleList, readParticleList } from '../io/particles.ts';
import { assertNotConstant, readVolume } from '../io/volumes.ts';
import { type SimulatedData, type StarData, modelsOf } from '../model/campaign.ts';
import { CTF_DEFAULTS, SIMULATION_DEFAULTS } from '../model/defaults.ts';
import type { ParticleList } from '../model/particles.ts';
import { invalidInput, reportProgress, runCampaignStep, type Reuse } from './common.ts';
import { PARTICLE_SET_FORMAT, readParticleSet, writeParticleSet, type ParticleRecord } from './particles.ts';

export interface DataInput {
  workdir: string;
  data: SimulatedData | StarData;
  /** false: leave the list's CTFs aside (config `ctf: false`): binary wedges only. */
  ctf?: false;
}

export interface DataResult extends Reuse {
  /** The particle set (activities/particles.ts). */
  particles: ArtifactRef;
  count: number;
  boxSize: number;
  voxelSize: number;
  /** The particle list the set was loaded from: the simulated or extracted STAR, or the user's list. */
  list: ArtifactRef;
  /** A simulated set's noise-free density (the simulate step's reference.mrc): the ground truth. */
  truth?: ArtifactRef;
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
  defocusRange: 'data.defocus',
  astigmatism: 'data.astigmatism',
  dose: 'data.dose',
  specimen: 'data.specimen',
  particlesPerTomogram: 'data.particlesPerTomogram',
};

/** The simulator's parameters for a campaign's `data` section; an impossible one names its config field. */
export function simulationConfigOf(d: SimulatedData): SimulationConfig {
  const nominal = typeof d.defocus === 'number' ? d.defocus : (d.defocus[0] + d.defocus[1]) / 2;
  const config: SimulationConfig = {
    n: d.size,
    voxelSize: d.voxel,
    resolution: d.resolution,
    tilt: tiltRangeDegrees(d.tiltMin, d.tiltMax),
    tiltStep: radians(d.tiltStep),
    snr: d.snr === 'inf' ? Infinity : d.snr,
    maxShift: d.maxShift,
    seed: d.seed,
    // With a range the nominal defocus (metadata) is its centre; each tomogram draws its own from the range.
    imaging: { ctf: { ...CTF_DEFAULTS, defocusAngstrom: nominal * 1e4 }, mtf: true },
  };
  if (typeof d.defocus !== 'number') config.defocusRange = [d.defocus[0] * 1e4, d.defocus[1] * 1e4];
  if (d.astigmatism !== undefined) config.astigmatism = d.astigmatism * 1e4;
  if (d.dose !== undefined) config.dose = d.dose;
  if (d.specimen) config.specimen = { width: d.specimen[0] * 10, thickness: d.specimen[1] * 10 };
  if (d.particlesPerTomogram !== undefined) config.particlesPerTomogram = d.particlesPerTomogram;
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
 * `subtomo simulate` writes them) or takes the user's particle list — extracting the particles from their
 * tomograms first when `data.extract` asks (a cached step of its own) — then loads it: every subtomogram is
 * read in full and checked, so a corrupt file stops the campaign at once, naming it.
 */
export async function simulateOrLoad(input: DataInput): Promise<DataResult> {
  const { data, workdir } = input;
  let star: ArtifactRef;
  let truth: ArtifactRef | undefined;
  let upstreamReused = true;
  const selection: ListSelection = { tiltSetting: "the config field 'data.tiltRange' ([min, max] in degrees)", ...(input.ctf === false && { ctf: false }) };
  if (data.kind === 'simulate') {
    const simulated = await simulateStep(workdir, data);
    star = simulated.outputs.star;
    truth = simulated.outputs.reference;
    upstreamReused = simulated.reused;
    // A simulated set with a CTF is a RELION 5 list with its tomogram set: read together, every particle has its CTF.
    if (simulated.outputs.tomograms) selection.tomograms = simulated.outputs.tomograms.path;
  } else {
    if (data.tomograms) selection.tomograms = data.tomograms;
    if (data.pixelSize !== undefined) selection.pixelSize = data.pixelSize;
    if (data.classNumber !== undefined) selection.classNumber = data.classNumber;
    if (data.tiltRange) selection.tiltRange = tiltRangeDegrees(data.tiltRange[0], data.tiltRange[1]);
    star = await refOf(resolve(data.star)).catch((err: Error) => {
      throw invalidInput(`config field 'data.star': ${err.message}`, err);
    });
    if (data.extract) {
      const extracted = await extractStep(workdir, star, data.extract, selection);
      star = extracted.outputs.list;
      upstreamReused = extracted.reused;
      // The extracted list holds only the chosen class, with its tilt ranges, and names its subtomograms
      // relative to its own directory (whatever RELION project the workdir may lie in).
      delete selection.classNumber;
      delete selection.tomograms;
      selection.projectDirectory = dirname(star.path);
    }
  }
  const loaded = await loadStep(workdir, star, selection);
  const { set } = await readParticleSet(loaded.outputs.particles);
  return {
    particles: loaded.outputs.particles,
    count: set.particles.length,
    boxSize: set.boxSize,
    voxelSize: set.voxelSize,
    list: star,
    ...(truth && { truth }),
    reused: loaded.reused && upstreamReused,
  };
}

/** A list read with its selection; a problem is InvalidInput naming the file. */
async function readList(path: string, selection: ListSelection): Promise<ParticleList> {
  try {
    return await readParticleList(path, selection);
  } catch (err) {
    throw invalidInput((err as Error).message, err);
  }
}

/**
 * Cuts the particles of the list out of their tomograms (drivers/extract.ts) into the store. The step is keyed
 * on the list, its tomogram set and the tomograms themselves (by content), the box and the binning.
 */
async function extractStep(workdir: string, star: ArtifactRef, extract: { box: number; binning: number }, selection: ListSelection) {
  const read = await readList(star.path, selection);
  const list = selection.classNumber === undefined ? read : { ...read, particles: read.particles.filter((p) => p.classNumber === selection.classNumber) };
  if (list.particles.length === 0) throw invalidInput(`${star.path}: no particle to extract${selection.classNumber === undefined ? '' : ` of class ${selection.classNumber}`}`);
  if (selection.tiltRange) for (const p of list.particles) p.tilt ??= selection.tiltRange;
  const inputs: Record<string, ArtifactRef> = { list: star };
  for (const [i, file] of (list.origin.companions ?? []).entries()) inputs[`companion${i}`] = await refOf(file);
  const used = new Set(list.particles.map((p) => p.tomogram));
  for (const t of list.tomograms.filter((t) => used.has(t.name) && t.path)) {
    inputs[`tomogram:${t.name}`] = await refOf(t.path!).catch((err: Error) => {
      throw invalidInput(`tomogram ${t.name}: ${err.message}`, err);
    });
  }
  const params = { ...extract, classNumber: selection.classNumber ?? null, tiltRange: selection.tiltRange ?? null, pixelSize: selection.pixelSize ?? null };
  return runCampaignStep(workdir, 'extract', params, inputs, async (dir) => {
    let extracted;
    try {
      extracted = await extractParticles(list, { ...extract, outDir: join(dir, 'Subtomograms') }, (done, name) =>
        reportProgress({ step: 'extract', done, total: list.particles.length, detail: name }));
    } catch (err) {
      throw invalidInput(`extracting the particles of ${star.path}: ${(err as Error).message}`, err);
    }
    await writeFile(join(dir, 'particles.star'), formatParticleList(extracted.list, 'relion4', dir));
    return {
      list: 'particles.star',
      ...Object.fromEntries(extracted.list.particles.map((p) => [`particle:${p.name}`, relative(dir, p.image!)])),
    };
  });
}

async function simulateStep(workdir: string, data: SimulatedData) {
  const config = simulationConfigOf(data);
  const models = modelsOf(data);
  const inputs: Record<string, ArtifactRef> = {};
  for (const [k, m] of models.entries()) {
    if (m.pdb) inputs[models.length === 1 ? 'pdb' : `pdb${k}`] = await refOf(resolve(m.pdb)).catch((err: Error) => {
      throw invalidInput(`config field 'data.pdb': ${err.message}`, err);
    });
  }
  const { pdb: _path, ...params } = data;
  return runCampaignStep(workdir, 'simulate', params, inputs, async (dir) => {
    const { weighting } = SIMULATION_DEFAULTS;
    let components;
    try {
      components = simulatedComponents(models.map((m) => ({ ...(m.pdb && { pdb: m.pdb }), fraction: m.fraction, asymmetricUnit: !m.assembly })), weighting);
    } catch (err) {
      throw invalidInput(`config field 'data.pdb': ${(err as Error).message}`, err);
    }
    const plan = { config, count: data.particles, components, weighting };
    const files = await writeSimulatedDataset(dir, plan, (done, file) =>
      reportProgress({ step: 'simulate', done, total: data.particles, detail: file }));
    return {
      ...Object.fromEntries(files.particles.map((file) => [`particle:${file}`, file])),
      ...Object.fromEntries((files.tiltSeries ?? []).map((file) => [`tilts:${file}`, file])),
      ...(files.tomograms ? { tomograms: files.tomograms } : {}),
      reference: files.reference,
      star: files.star,
      simulation: files.metadata,
    };
  });
}

async function loadStep(workdir: string, star: ArtifactRef, selection: ListSelection) {
  let prepared: PreparedList;
  try {
    prepared = await prepareParticles(await readParticleList(star.path, selection), selection);
  } catch (err) {
    throw invalidInput((err as Error).message, err);
  }
  const refs: ArtifactRef[] = [];
  for (const p of prepared.particles) {
    refs.push(await refOf(p.image).catch((err: Error) => {
      throw invalidInput(`${star.path}: particle ${p.name}: ${err.message}`, err);
    }));
  }
  const inputs: Record<string, ArtifactRef> = { star };
  refs.forEach((ref, i) => (inputs[`particle${i}`] = ref));
  // A particle's CTF volume is read by every averaging step: a changed one must give a new load step.
  for (const [i, p] of prepared.particles.entries()) {
    const image = jobCtfOf(prepared, p).ctfImage;
    if (image) inputs[`ctfImage${i}`] = await refOf(image.path).catch((err: Error) => {
      throw invalidInput(`${star.path}: particle ${p.name}: rlnCtfImage: ${err.message}`, err);
    });
  }
  // The tomogram set and its per-tilt files give the particles' CTFs: the step depends on them too.
  for (const [i, file] of (prepared.list.origin.companions ?? []).entries()) inputs[`companion${i}`] = await refOf(file);
  const params = {
    classNumber: selection.classNumber ?? null, tiltRange: selection.tiltRange ?? null, pixelSize: selection.pixelSize ?? null, ctf: selection.ctf ?? true,
  };
  return runCampaignStep(workdir, 'load', params, inputs, async (dir) => {
    let boxSize = 0;
    const records: ParticleRecord[] = [];
    const truth = trueClasses(prepared.list, prepared.particles);
    for (const [i, p] of prepared.particles.entries()) {
      // Every map is read in full now, so a corrupt one stops the campaign before any work is spent on it.
      let volume;
      try {
        volume = await readVolume(p.image, { voxelSize: prepared.voxelSize });
        assertNotConstant(volume, p.image);
      } catch (err) {
        throw invalidInput(`particle ${i + 1} of ${star.path}: ${(err as Error).message}`, err);
      }
      if (i === 0) boxSize = volume.n;
      else if (volume.n !== boxSize) {
        throw invalidInput(`${p.image} is ${volume.n}³ but ${prepared.particles[0].image} is ${boxSize}³; all particles of a campaign need one box size`);
      }
      const { path, sha256, bytes } = refs[i];
      records.push({
        name: p.name, path, sha256, bytes, tilt: p.tilt, half: p.half ?? alternatingHalf(i), ...(p.pose && { pose: p.pose }),
        ...(truth && { trueClass: truth[i] }), ...jobCtfOf(prepared, p),
      });
      await reportProgress({ step: 'load', done: i + 1, total: prepared.particles.length, detail: p.name });
    }
    await writeParticleSet(join(dir, 'particles.json'), {
      format: PARTICLE_SET_FORMAT, source: star.path, boxSize, voxelSize: prepared.voxelSize, particles: records,
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
