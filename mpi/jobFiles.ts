/**
 * Reading and writing the job files of model/jobs.ts. Rank 0 validates a job before broadcasting it, so a
 * malformed file fails once, naming the file and the field, instead of as a type error deep inside a rank.
 */
import { readFile } from 'node:fs/promises';
import { validateParticleCtf } from '../core/ctf.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import type { AlignJob, AverageJob } from '../model/jobs.ts';
import { parseSymmetry } from '../core/symmetry.ts';
import { ALIGN_METHODS } from '../model/methods.ts';
import type { ParticleCtf } from '../model/particles.ts';

type Raw = Record<string, unknown>;

class JobFileError extends Error {
  constructor(source: string, field: string, problem: string) {
    super(`job file ${source}: ${field} ${problem}`);
    this.name = 'JobFileError';
  }
}

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Checker {
  object(v: unknown, field: string): Raw;
  array(v: unknown, field: string, nonEmpty?: boolean): unknown[];
  string(v: unknown, field: string): string;
  number(v: unknown, field: string, min?: number): number;
}

function checker(source: string): Checker {
  const fail = (field: string, problem: string): never => {
    throw new JobFileError(source, field, problem);
  };
  return {
    object: (v, field) => (isObject(v) ? v : fail(field, 'must be an object')),
    array: (v, field, nonEmpty = false) => {
      if (!Array.isArray(v)) return fail(field, 'must be an array');
      if (nonEmpty && v.length === 0) fail(field, 'must not be empty');
      return v;
    },
    string: (v, field) => (typeof v === 'string' && v !== '' ? v : fail(field, 'must be a non-empty string')),
    number: (v, field, min = -Infinity) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) return fail(field, `must be a finite number, got ${JSON.stringify(v)}`);
      if (v < min) fail(field, `must be ≥ ${min}, got ${v}`);
      return v;
    },
  };
}

const POSE_KEYS = ['phi', 'theta', 'psi', 'tx', 'ty', 'tz'] as const;
const ANGLE_KEYS = ['phi', 'theta', 'psi'] as const;
const SAG_KEYS = ['batchSize', 'maxEpochs', 'tolerance', 'lambda'] as const;

function checkTilt(c: Checker, v: unknown, field: string): void {
  const tilt = c.object(v, field);
  c.number(tilt.min, `${field}.min`);
  c.number(tilt.max, `${field}.max`);
}

const OPTICS_KEYS = ['voltageKv', 'csMillimetre', 'amplitudeContrast'] as const;
const TILT_CTF_KEYS = ['angle', 'defocusU', 'defocusV', 'astigmatismAngle'] as const;

/** A particle's CTF (model/particles.ts ParticleCtf): its shape, then core/ctf.ts's own checks. */
function checkCtf(c: Checker, v: unknown, field: string, source: string): void {
  const ctf = c.object(v, field);
  const optics = c.object(ctf.optics, `${field}.optics`);
  for (const k of OPTICS_KEYS) c.number(optics[k], `${field}.optics.${k}`);
  c.array(ctf.tilts, `${field}.tilts`, true).forEach((t, j) => {
    const tilt = c.object(t, `${field}.tilts[${j}]`);
    for (const k of TILT_CTF_KEYS) c.number(tilt[k], `${field}.tilts[${j}].${k}`);
    if (tilt.preExposure !== undefined) c.number(tilt.preExposure, `${field}.tilts[${j}].preExposure`, 0);
  });
  try {
    validateParticleCtf(ctf as unknown as ParticleCtf);
  } catch (err) {
    throw new JobFileError(source, field, (err as Error).message);
  }
}

export function validateAverageJob(raw: unknown, source: string): AverageJob {
  const c = checker(source);
  const job = c.object(raw, 'the job');
  c.array(job.particles, 'particles', true).forEach((p, i) => {
    const at = `particles[${i}]`;
    const o = c.object(p, at);
    c.string(o.name, `${at}.name`);
    c.string(o.path, `${at}.path`);
    checkTilt(c, o.tilt, `${at}.tilt`);
    if (o.ctf !== undefined) checkCtf(c, o.ctf, `${at}.ctf`, source);
    if (o.ctfImage !== undefined) {
      const image = c.object(o.ctfImage, `${at}.ctfImage`);
      c.string(image.path, `${at}.ctfImage.path`);
      if (typeof image.premultiplied !== 'boolean') throw new JobFileError(source, `${at}.ctfImage.premultiplied`, 'must be true or false');
    }
    const pose = c.object(o.pose, `${at}.pose`);
    for (const k of POSE_KEYS) c.number(pose[k], `${at}.pose.${k}`);
    if (o.half !== 'odd' && o.half !== 'even') throw new JobFileError(source, `${at}.half`, `must be 'odd' or 'even'`);
  });
  const out = c.object(job.out, 'out');
  for (const k of ['odd', 'even', 'combined']) c.string(out[k], `out.${k}`);
  if (job.floorFraction !== undefined) c.number(job.floorFraction, 'floorFraction', 0);
  if (job.voxelSize !== undefined && !(c.number(job.voxelSize, 'voxelSize', 0) > 0)) throw new JobFileError(source, 'voxelSize', 'must be positive');
  if (job.symmetry !== undefined) {
    try {
      parseSymmetry(c.string(job.symmetry, 'symmetry'));
    } catch (err) {
      throw new JobFileError(source, 'symmetry', (err as Error).message);
    }
  }
  return job as unknown as AverageJob;
}

export function validateAlignJob(raw: unknown, source: string): AlignJob {
  const c = checker(source);
  const job = c.object(raw, 'the job');
  if (!ALIGN_METHODS.includes(job.method as never)) {
    throw new JobFileError(source, 'method', `must be one of ${ALIGN_METHODS.join(', ')}, got ${JSON.stringify(job.method)}`);
  }
  c.array(job.particles, 'particles', true).forEach((p, i) => {
    const at = `particles[${i}]`;
    const o = c.object(p, at);
    c.string(o.name, `${at}.name`);
    c.string(o.path, `${at}.path`);
    c.string(o.reference, `${at}.reference`);
    checkTilt(c, o.tilt, `${at}.tilt`);
    c.array(o.candidates, `${at}.candidates`, true).forEach((cand, j) => {
      const co = c.object(cand, `${at}.candidates[${j}]`);
      for (const k of ANGLE_KEYS) c.number(co[k], `${at}.candidates[${j}].${k}`);
      c.number(co.score, `${at}.candidates[${j}].score`);
    });
  });
  c.number(job.maxShift, 'maxShift', 0);
  const mask = c.object(job.mask, 'mask');
  c.number(mask.radius, 'mask.radius', 0);
  c.number(mask.edge, 'mask.edge', 0);
  if (job.alignBox !== undefined) {
    const box = c.number(job.alignBox, 'alignBox', 2);
    if (!Number.isInteger(box) || box % 2 !== 0) throw new JobFileError(source, 'alignBox', `must be an even integer, got ${box}`);
  }
  if (job.sag !== undefined) {
    const sag = c.object(job.sag, 'sag');
    for (const k of Object.keys(sag)) {
      if (!(SAG_KEYS as readonly string[]).includes(k)) throw new JobFileError(source, `sag.${k}`, `is not a SAG setting (${SAG_KEYS.join(', ')})`);
      c.number(sag[k], `sag.${k}`, 0);
    }
  }
  const seed = c.number(job.seed, 'seed', 0);
  if (!Number.isInteger(seed)) throw new JobFileError(source, 'seed', `must be an integer, got ${seed}`);
  c.string(job.out, 'out');
  if (job.outStar !== undefined) c.string(job.outStar, 'outStar');
  return job as unknown as AlignJob;
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read job file ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`job file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

export async function readAverageJob(path: string): Promise<AverageJob> {
  return validateAverageJob(await readJson(path), path);
}

export async function readAlignJob(path: string): Promise<AlignJob> {
  return validateAlignJob(await readJson(path), path);
}

export async function writeJobFile(path: string, job: AlignJob | AverageJob): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(job, null, 1)}\n`);
}

/** The job file named on a rank program's command line. */
export function jobPathArgument(argv: readonly string[], program: string): string {
  if (argv.length !== 1) throw new Error(`usage: mpirun -np P node ${program} JOB.json (got ${argv.length} arguments)`);
  return argv[0];
}
