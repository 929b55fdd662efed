/**
 * Each particle's CTF from a RELION 5 tomogram set (io/particleCtf.ts through drivers/particleList.ts) against
 * a line-by-line transcription of RELION 5's Tomogram::setProjectionMatrix, getDepthOffset and getCtf
 * (src/jaz/tomography/tomogram.cpp) with ParticleSet::getPosition (particle_set.cpp), on the golden lists of
 * test/data/lists; CTF metadata that is incomplete or disagrees with the particles is refused naming the file,
 * the particle and the value; and the CTF columns survive writing the list back.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { radians } from '../core/rotate.ts';
import { prepareParticles, readPreparedList } from '../drivers/particleList.ts';
import { formatParticleList, readParticleList } from '../io/particles.ts';
import { parseStar } from '../io/star.ts';
import type { TiltCtf } from '../model/particles.ts';
import { relionMatrix } from './helpers/relion-matrix.ts';

const DATA = fileURLToPath(new URL('./data/lists/', import.meta.url));
const PROJECT = join(DATA, 'relion-project');
const R5 = join(PROJECT, 'Extract/job020/particles.star');
const R4 = join(PROJECT, 'Extract/job005/particles.star');
const WITH_CTF = join(PROJECT, 'Tomograms/job011/tomograms.star');
const WEDGE_ONLY_TS02 = join(PROJECT, 'Tomograms/job010/tomograms.star');

const work = mkdtempSync(join(tmpdir(), 'subtomo-particle-ctf-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Row = Record<string, string>;

/** Rows of a block of a STAR file, values as text by label. */
function rows(path: string, block: string): Row[] {
  const table = parseStar(readFileSync(path, 'utf8'), path).find((t) => t.name === block)!;
  return table.rows.map((row) => Object.fromEntries(table.columns.map((c, i) => [c, String(row[i])])));
}

// ---- RELION 5, transcribed: 4×4 matrices acting on column vectors (gravis' row-major constructors).
type M4 = number[][];
const mul = (a: M4, b: M4): M4 => a.map((r) => b[0].map((_, j) => r.reduce((s, v, k) => s + v * b[k][j], 0)));
const translation = (v: number[]): M4 => [[1, 0, 0, v[0]], [0, 1, 0, v[1]], [0, 0, 1, v[2]], [0, 0, 0, 1]];
/** gravis t3Matrix::rotation(axis, angle in degrees): nnᵀ + cos·(I − nnᵀ) + sin·[n]×. */
function rotation(n: number[], deg: number): M4 {
  const a = radians(deg);
  const s: number[][] = [[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]];
  const entry = (i: number, j: number) => n[i] * n[j] + Math.cos(a) * ((i === j ? 1 : 0) - n[i] * n[j]) + Math.sin(a) * s[i][j];
  const m = [0, 1, 2].map((i) => [0, 1, 2].map((j) => entry(i, j)));
  return [[...m[0], 0], [...m[1], 0], [...m[2], 0], [0, 0, 0, 1]];
}

/** Tomogram::setProjectionMatrix (the tilt image's size only shifts x and y, so any size does). */
function projectionMatrix(global: Row, tilt: Row): M4 {
  const px = Number(global.rlnTomoTiltSeriesPixelSize);
  const size = ['rlnTomoSizeX', 'rlnTomoSizeY', 'rlnTomoSizeZ'].map((l) => Number(global[l]));
  const s0 = translation(size.map((w) => -Math.trunc(w / 2)));
  const s1 = translation([Number(tilt.rlnTomoXShiftAngst) / px, Number(tilt.rlnTomoYShiftAngst) / px, 0]);
  const s2 = translation([2048, 2048, 0]);
  const r0 = rotation([1, 0, 0], Number(tilt.rlnTomoXTilt ?? 0));
  const r1 = rotation([0, 1, 0], Number(tilt.rlnTomoYTilt));
  const r2 = rotation([0, 0, 1], Number(tilt.rlnTomoZRot));
  return [s1, s2, r2, r1, r0, s0].reduce(mul);
}

/** ParticleSet::getPosition(…, apply_origin_shifts = true), tilt-series pixels. */
function particlePosition(particle: Row, global: Row): number[] {
  const px = Number(global.rlnTomoTiltSeriesPixelSize);
  const centre = ['rlnTomoSizeX', 'rlnTomoSizeY', 'rlnTomoSizeZ'].map((l) => Number(global[l]) / 2);
  const decentred = 'rlnCenteredCoordinateXAngst' in particle
    ? ['X', 'Y', 'Z'].map((a, i) => Number(particle[`rlnCenteredCoordinate${a}Angst`]) / px + centre[i])
    : ['X', 'Y', 'Z'].map((a) => Number(particle[`rlnCoordinate${a}`]));
  const A = 'rlnTomoSubtomogramRot' in particle
    ? relionMatrix(Number(particle.rlnTomoSubtomogramRot), Number(particle.rlnTomoSubtomogramTilt), Number(particle.rlnTomoSubtomogramPsi))
    : Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
  const origin = ['X', 'Y', 'Z'].map((a) => Number(particle[`rlnOrigin${a}Angst`]));
  return decentred.map((v, i) => v - (A[3 * i] * origin[0] + A[3 * i + 1] * origin[1] + A[3 * i + 2] * origin[2]) / px);
}

/** Tomogram::getCtf(frame, position): defocus U and V at the particle, Å. */
function relionDefocus(global: Row, tilt: Row, position: number[]): [number, number] {
  const P = projectionMatrix(global, tilt);
  const centre = ['rlnTomoSizeX', 'rlnTomoSizeY', 'rlnTomoSizeZ'].map((l) => Number(global[l]) / 2);
  const z = (p: number[]) => P[2][0] * p[0] + P[2][1] * p[1] + P[2][2] * p[2] + P[2][3];
  const slope = 'rlnTomoDefocusSlope' in global ? Number(global.rlnTomoDefocusSlope) : 1;
  const dz = Number(global.rlnTomoHand) * Number(global.rlnTomoTiltSeriesPixelSize) * slope * (z(position) - z(centre));
  return [Number(tilt.rlnDefocusU) + dz, Number(tilt.rlnDefocusV) + dz];
}

/** RELION's per-tilt CTF of every particle of `list` (a STAR path), by tomogram name and particle row. */
function relionCtfs(list: string, tomograms: string): { U: number; V: number; angle: number; astig: number; pre: number }[][] {
  const globals = new Map(rows(tomograms, 'global').map((g) => [g.rlnTomoName, g]));
  return rows(list, 'particles').map((particle) => {
    const global = globals.get(particle.rlnTomoName)!;
    const tilts = rows(join(PROJECT, global.rlnTomoTiltSeriesStarFile), particle.rlnTomoName);
    const position = particlePosition(particle, global);
    return tilts
      .map((t) => {
        const [U, V] = relionDefocus(global, t, position);
        const astig = Number(t.rlnDefocusAngle) - Number(t.rlnTomoZRot);
        return { U, V, angle: Number(t.rlnTomoYTilt), astig, pre: Number(t.rlnMicrographPreExposure) };
      })
      .sort((a, b) => a.angle - b.angle);
  });
}

function expectTilts(ours: TiltCtf[], relion: ReturnType<typeof relionCtfs>[number], tolerance: number): void {
  expect(ours.map((t) => t.angle)).toEqual(relion.map((t) => radians(t.angle)));
  ours.forEach((t, i) => {
    expect(Math.abs(t.defocusU - relion[i].U)).toBeLessThan(tolerance);
    expect(Math.abs(t.defocusV - relion[i].V)).toBeLessThan(tolerance);
    expect(t.astigmatismAngle).toBeCloseTo(radians(relion[i].astig), 12);
    expect(t.preExposure).toBe(relion[i].pre);
  });
}

describe('RELION 5 per-tilt CTF at each particle', () => {
  it('is Tomogram::getCtf at ParticleSet::getPosition: depth through Ry·Rx, handedness, slope, origin shifts turned by S', async () => {
    const prepared = await readPreparedList(R5, { tomograms: WITH_CTF });
    const relion = relionCtfs(R5, WITH_CTF);
    prepared.particles.forEach((p, i) => {
      expect(p.ctf!.optics).toEqual({ voltageKv: 300, csMillimetre: 2.7, amplitudeContrast: 0.1 });
      // Measured: ≤ 4e-12 Å.
      expectTilts(p.ctf!.tilts, relion[i], 1e-9);
    });
    // The depth matters: TS_01/2 sits 2 kÅ off the tilt axis, so at ±60° its defocus moves by about 1.6 kÅ.
    const central = rows(join(PROJECT, 'Tomograms/job011/tilt_series/TS_01.star'), 'TS_01').map((t) => Number(t.rlnDefocusU));
    expect(Math.abs(prepared.particles[1].ctf!.tilts[0].defocusU - Math.min(...central))).toBeGreaterThan(1000);
    // And so does the origin shift RELION applies (−S·origin): TS_01/3 is shifted by 15 Å.
    const global = rows(WITH_CTF, 'global')[0];
    const particle = rows(R5, 'particles')[2];
    const unshifted = particlePosition({ ...particle, rlnOriginXAngst: '0', rlnOriginYAngst: '0', rlnOriginZAngst: '0' }, global);
    const lowest = rows(join(PROJECT, global.rlnTomoTiltSeriesStarFile), 'TS_01').find((t) => t.rlnTomoYTilt === '-60.000000')!;
    expect(Math.abs(relionDefocus(global, lowest, unshifted)[0] - prepared.particles[2].ctf!.tilts[0].defocusU)).toBeGreaterThan(5);
  });

  it('RELION 4 coordinates (tilt-series pixels, origin 0) give the same CTF as RELION 5 reads them', async () => {
    const prepared = await readPreparedList(R4, { tomograms: WITH_CTF });
    const relion = relionCtfs(R4, WITH_CTF);
    prepared.particles.forEach((p, i) => expectTilts(p.ctf!.tilts, relion[i], 1e-9));
    expect(prepared.list.ctfPremultiplied).toBe(true);
  });

  it('a particle without per-tilt defocus keeps its rlnCtfImage; --no-ctf and a list without tomograms give none', async () => {
    const prepared = await readPreparedList(R5, { tomograms: WEDGE_ONLY_TS02 });
    expect(prepared.particles.map((p) => [p.name, p.ctf !== undefined, p.ctfImage !== undefined])).toEqual([
      ['TS_01/1', true, true], ['TS_01/2', true, true], ['TS_01/3', true, true], ['TS_02/1', false, true],
    ]);
    // job010's TS_01: hand −1, slope 1, no x tilt; the wedge and the CTF's tilts are the same images.
    expectTilts(prepared.particles[0].ctf!.tilts, relionCtfs(R5, WEDGE_ONLY_TS02)[0], 1e-9);
    const off = await readPreparedList(R5, { tomograms: WITH_CTF, ctf: false });
    expect(off.particles.every((p) => p.ctf === undefined && p.ctfImage === undefined)).toBe(true);
    const bare = await readPreparedList(R5, { tiltRange: { min: -1, max: 1 } });
    expect(bare.particles.every((p) => p.ctf === undefined)).toBe(true);
  });
});

describe('CTF metadata that cannot be used is refused, naming where', () => {
  /** A copy of the project with `edit` applied to files (paths relative to the project). */
  function project(name: string, edits: Record<string, (text: string) => string>): string {
    const dir = join(work, name);
    cpSync(PROJECT, dir, { recursive: true });
    for (const [file, edit] of Object.entries(edits)) writeFileSync(join(dir, file), edit(readFileSync(join(dir, file), 'utf8')));
    return dir;
  }
  const prepare = (dir: string, tomograms = 'Tomograms/job011/tomograms.star', list = 'Extract/job020/particles.star') =>
    readPreparedList(join(dir, list), { tomograms: join(dir, tomograms) });
  const TS01 = 'Tomograms/job011/tilt_series/TS_01.star';
  /** The tilt table without column `label` (1-based `column`). */
  const dropTiltColumn = (text: string, label: string, column: number) =>
    text
      .split('\n')
      .filter((l) => !l.startsWith(`_${label} `))
      .map((l) => (l.startsWith('frames/') ? l.trim().split(/\s+/).filter((_, c) => c !== column - 1).join(' ') : l))
      .join('\n');

  it('a particle whose tomogram has no defocus and which has no CTF volume', async () => {
    const withoutCtfImages = (t: string) =>
      t.replace('_rlnCtfImage #21 \n', '').replace(/ Extract\/job020\/Subtomograms\/TS_0\d\/\d_weights\.mrc/g, '');
    const dir = project('no-defocus', { 'Extract/job020/particles.star': withoutCtfImages });
    await expect(prepare(dir, 'Tomograms/job010/tomograms.star')).rejects.toThrow(
      /particles\.star: particle TS_02\/1 has no CTF: its tomogram TS_02 has no per-tilt defocus .* other tomograms of the set have one/,
    );
  });

  it('no handedness, a tilt image without defocus V, two images at one tilt angle', async () => {
    const noHand = project('no-hand', {
      'Tomograms/job011/tomograms.star': (t) => t.replace('_rlnTomoHand #6 \n', '_rlnTomoHandX #6 \n'),
    });
    await expect(prepare(noHand)).rejects.toThrow(
      /particle TS_01\/1: tomogram TS_01 has per-tilt defocus but the tomogram set gives no _rlnTomoHand/,
    );
    const noV = project('no-v', { [TS01]: (t) => dropTiltColumn(t, 'rlnDefocusV', 7) });
    await expect(prepare(noV)).rejects.toThrow(
      /particle TS_01\/1: .*TS_01\.star:\d+: tomogram TS_01's tilt image has no _rlnDefocusV, which its CTF needs/,
    );
    const twice = project('twice', { [TS01]: (t) => t.replace('    28.500000    85.400000', '    -1.500000    85.400000') });
    await expect(prepare(twice)).rejects.toThrow(
      /TS_01\.star:\d+: tomogram TS_01 has two tilt images at -1\.50° \(the other: .*TS_01\.star:\d+\)/,
    );
  });

  it('optics that disagree or are missing, voxels finer than the tilt series, a wedge that disagrees with the CTF', async () => {
    const at200kV = (t: string) => t.replace(/TS_01 {3}300\.000000/, 'TS_01   200.000000');
    const voltage = project('voltage', { 'Tomograms/job011/tomograms.star': at200kV });
    await expect(prepare(voltage)).rejects.toThrow(
      /tomogram TS_01 has _rlnVoltage 200 in the tomogram set but 300 in the particles' optics group/,
    );
    const oneAngstrom = (t: string) => t.replace('     5.400000           64', '     1.000000           64');
    const fine = project('fine', { 'Extract/job020/particles.star': oneAngstrom });
    await expect(prepare(fine)).rejects.toThrow(
      /the subtomograms have 1 Å voxels, finer than the 1\.35 Å pixels of tomogram TS_01's tilt series/,
    );
    const listed = join(work, 'tilt-columns.star');
    const subtomo = readFileSync(R5, 'utf8')
      .replace('_rlnLogLikeliContribution #23 \n', '_rlnLogLikeliContribution #23 \n_subtomoTiltMinDeg #24 \n_subtomoTiltMaxDeg #25 \n')
      .replace(/(e\+04) \n/g, '$1 -60 60 \n');
    writeFileSync(listed, subtomo);
    const list = await readParticleList(listed, { tomograms: WITH_CTF, projectDirectory: PROJECT });
    await expect(prepareParticles(list)).rejects.toThrow(
      /particle TS_01\/1 has the tilt range -60\.00° … 60\.00° but the tilt images of its CTF span -60\.00° … 58\.50° \(tomogram TS_01\)/,
    );
  });
});

describe('CTF columns when the list is written back', () => {
  it('the same flavour keeps rlnCtfImage and rlnCtfDataAreCtfPremultiplied; a conversion carries both', async () => {
    const list = await readParticleList(R5, { tomograms: WITH_CTF });
    const same = parseStar(formatParticleList(list, 'relion5', PROJECT), 'out');
    const source = parseStar(readFileSync(R5, 'utf8'), R5);
    expect(same.find((t) => t.name === 'optics')).toEqual(source.find((t) => t.name === 'optics'));
    expect(same.find((t) => t.name === 'particles')!.columns).toContain('rlnCtfImage');
    const out = join(work, 'as-relion4.star');
    writeFileSync(out, formatParticleList(list, 'relion4', PROJECT));
    const back = await readParticleList(out, { projectDirectory: PROJECT, tomograms: WITH_CTF });
    expect(back.ctfPremultiplied).toBe(true);
    expect(back.particles.map((p) => p.ctfImage)).toEqual(list.particles.map((p) => p.ctfImage));
    // Positions and poses carry over, so the CTF at each particle does too.
    const [a, b] = [await prepareParticles(list), await prepareParticles(back)];
    a.particles.forEach((p, i) => {
      b.particles[i].ctf!.tilts.forEach((t, k) => {
        expect(t.angle).toBe(p.ctf!.tilts[k].angle);
        expect(Math.abs(t.defocusU - p.ctf!.tilts[k].defocusU)).toBeLessThan(1e-6);
      });
    });
  });
});
