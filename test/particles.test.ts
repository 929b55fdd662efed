/**
 * Particle lists in and out (io/particles.ts): the golden files of test/data/lists (README there) read in
 * every flavour, against io/star.ts's and io/dynamo.ts's tested pose conventions and RELION's own formulas;
 * writing back into the flavour read keeps every block, column and row; conversions between flavours keep
 * poses, positions, classes, half-sets and tilt ranges; malformed input is reported with file, line, column.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { applyMat, degrees, eulerToMatrix, multiply, poseFromMatrix, radians, rotationAngle } from '../core/rotate.ts';
import type { Pose } from '../core/rotate.ts';
import { tiltRangeDegrees } from '../core/wedge.ts';
import { prepareParticles } from '../drivers/particleList.ts';
import type { ParticleList } from '../model/particles.ts';
import { rotationFromDynamo } from '../io/dynamo.ts';
import {
  centredAngstrom,
  formatParticleList,
  poseInTomogram,
  positionInPixels,
  readParticleList,
  writeParticleList,
} from '../io/particles.ts';
import { alignedParticleStar, readParticleStar, tiltColumns } from '../io/particlestar.ts';
import { RELION_POSE_COLUMNS, formatStar, parseStar, poseFromRelion } from '../io/star.ts';
import { relionMatrix } from './helpers/relion-matrix.ts';

const DATA = fileURLToPath(new URL('./data/lists/', import.meta.url));
const PROJECT = join(DATA, 'relion-project');
const TOMOGRAMS = join(PROJECT, 'Tomograms/job010/tomograms.star');
const TOMOGRAMS_R4 = join(PROJECT, 'ImportTomo/job001/tomograms.star');
const R5 = join(PROJECT, 'Extract/job020/particles.star');
const R5_SET = join(PROJECT, 'Extract/job020/optimisation_set.star');
const R4 = join(PROJECT, 'Extract/job005/particles.star');
const WARP = join(DATA, 'warp/particles.star');
const TABLE = join(DATA, 'dynamo/particles.tbl');
const VLL = join(DATA, 'dynamo/tomograms.vll');

const work = mkdtempSync(join(tmpdir(), 'subtomo-lists-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Rows of a STAR file's particle table as numbers and text, by label. */
function starRows(path: string, block = 'particles'): Record<string, string>[] {
  const table = parseStar(readFileSync(path, 'utf8'), path).find((t) => t.name === block)!;
  return table.rows.map((row) => Object.fromEntries(table.columns.map((c, i) => [c, String(row[i])])));
}

/** The pose io/star.ts derives from RELION's six numbers. */
function relionPose(values: number[], voxel: number): Pose {
  return poseFromRelion({ name: 'p', columns: [...RELION_POSE_COLUMNS], rows: [values] }, 0, voxel, 'test');
}

function expectSamePose(a: Pose, b: Pose, tol = 1e-9): void {
  expect(rotationAngle(eulerToMatrix(a), eulerToMatrix(b))).toBeLessThan(tol);
  expect(Math.hypot(a.tx - b.tx, a.ty - b.ty, a.tz - b.tz)).toBeLessThan(tol);
}

const deg = (r: number) => Math.round(degrees(r) * 1e9) / 1e9;

describe('RELION 5: particles.star with its tomogram set', () => {
  it('follows the optimisation set to the particles and tomograms; names are relative to the project directory', async () => {
    const list = await readParticleList(R5_SET);
    expect(list.origin.format).toBe('relion5');
    expect(list.origin.path).toBe(R5);
    expect(list.origin.companions).toEqual([TOMOGRAMS, join(PROJECT, 'Tomograms/job010/tilt_series/TS_01.star'), join(PROJECT, 'Tomograms/job010/tilt_series/TS_02.star')]);
    expect(list.voxelSize).toBe(5.4);
    expect(list.boxSize).toBe(64);
    expect(list.optics).toEqual({ voltageKv: 300, csMillimetre: 2.7, amplitudeContrast: 0.1 });
    expect(list.particles.map((p) => p.name)).toEqual(['TS_01/1', 'TS_01/2', 'TS_01/3', 'TS_02/1']);
    expect(list.particles.map((p) => p.tomogram)).toEqual(['TS_01', 'TS_01', 'TS_01', 'TS_02']);
    expect(list.particles[0].image).toBe(join(PROJECT, 'Extract/job020/Subtomograms/TS_01/1_data.mrc'));
    expect(list.particles[0].ctfImage).toBe(join(PROJECT, 'Extract/job020/Subtomograms/TS_01/1_weights.mrc'));
    expect(list.particles.map((p) => p.half)).toEqual(['odd', 'even', 'odd', 'even']);
    expect(list.particles.map((p) => p.classNumber)).toEqual([1, 2, 1, 2]);
    expect(list.particles[3].position).toEqual({ frame: 'centered-angstrom', x: 100.25, y: 200.5, z: -50.75 });
    expect(list.particles.map((p) => p.sourceRow)).toEqual([0, 1, 2, 3]);
    const direct = await readParticleList(R5, { tomograms: TOMOGRAMS });
    expect(direct.particles).toEqual(list.particles);
  });

  it('reads the tomograms: paths, binned size and pixel size, RELION’s centre, optics and the tilt images', async () => {
    const { tomograms } = await readParticleList(R5, { tomograms: TOMOGRAMS });
    const [ts1, ts2] = tomograms;
    expect(ts1.path).toBe(join(PROJECT, 'Tomograms/job010/tomograms/rec_TS_01.mrc'));
    expect(ts1.halfPaths).toEqual([join(PROJECT, 'Tomograms/job010/tomograms/rec_TS_01_half1.mrc'), join(PROJECT, 'Tomograms/job010/tomograms/rec_TS_01_half2.mrc')]);
    expect([ts1.pixelSize, ts1.tiltSeriesPixelSize, ts1.size, ts1.centre]).toEqual([10.8, 1.35, [500, 500, 200], [250, 250, 100]]);
    expect(ts1.optics).toEqual({ voltageKv: 300, csMillimetre: 2.7, amplitudeContrast: 0.1 });
    // Binning 6 does not divide 3710 × 3838 × 1000: RELION rounds the volume (x, y to nearest, z down) but
    // measures centred coordinates from size / 2 in tilt-series pixels.
    expect(ts2.size).toEqual([618, 640, 166]);
    ts2.centre!.forEach((c, i) => expect(c).toBeCloseTo([3710, 3838, 1000][i] / 12, 12));
    expect(ts2.pixelSize).toBeCloseTo(8.1, 12);
    // TS_01: the aligned tilts (rlnTomoYTilt) in file order, with CTF and dose; TS_02: nominal tilts only.
    expect(ts1.tilts!.map((t) => deg(t.angle))).toEqual([-1.5, 28.5, -31.5, 58.5, -60]);
    // The astigmatism angle is measured from the tilted x axis: rlnDefocusAngle − rlnTomoZRot (io/relion-tomograms.ts).
    expect(ts1.tilts![0]).toEqual({
      angle: radians(-1.5), defocusU: 30250.5, defocusV: 29870.25, astigmatismAngle: radians(45 - 85.3), preExposure: 0, xTilt: 0,
      source: `${join(PROJECT, 'Tomograms/job010/tilt_series/TS_01.star')}:20`,
    });
    expect(ts2.tilts!.map((t) => [deg(t.angle), t.preExposure, t.defocusU])).toEqual([[0, 0, undefined], [50, 3.5, undefined], [-50, 7, undefined]]);
  });

  it('takes each particle’s wedge from its tomogram’s tilts, or has none without the tomogram set', async () => {
    const list = await readParticleList(R5, { tomograms: TOMOGRAMS });
    expect(list.particles.map((p) => [deg(p.tilt!.min), deg(p.tilt!.max)])).toEqual([[-60, 58.5], [-60, 58.5], [-60, 58.5], [-50, 50]]);
    const bare = await readParticleList(R5);
    expect(bare.tomograms).toEqual([{ name: 'TS_01' }, { name: 'TS_02' }]);
    expect(bare.particles.every((p) => p.tilt === undefined)).toBe(true);
  });

  it('poses: rlnAngle*/rlnOrigin*Angst as io/star.ts reads them; rlnTomoSubtomogram* composed as RELION does (A_sub · A_particle)', async () => {
    const list = await readParticleList(R5, { tomograms: TOMOGRAMS });
    const rows = starRows(R5);
    list.particles.forEach((p, i) => {
      const r = rows[i];
      const six = ['rlnAngleRot', 'rlnAngleTilt', 'rlnAnglePsi', 'rlnOriginXAngst', 'rlnOriginYAngst', 'rlnOriginZAngst'].map((l) => Number(r[l]));
      expectSamePose(p.pose!, relionPose(six, 5.4));
      const sub = ['rlnTomoSubtomogramRot', 'rlnTomoSubtomogramTilt', 'rlnTomoSubtomogramPsi'].map((l) => Number(r[l]));
      const A = multiply(relionMatrix(sub[0], sub[1], sub[2]), relionMatrix(six[0], six[1], six[2]));
      expect(rotationAngle(eulerToMatrix(poseInTomogram(p)!), A)).toBeLessThan(1e-9);
      expect(p.subtomogramRotation === undefined).toBe(sub.every((a) => a === 0));
      // ParticleSet::getPosition: centre = rlnCenteredCoordinate / ps + size / 2 − A_sub · origin / ps (tilt-series pixels).
      const tomogram = list.tomograms.find((t) => t.name === p.tomogram)!;
      const bin = tomogram.pixelSize! / 1.35;
      const origin = applyMat(relionMatrix(sub[0], sub[1], sub[2]), six.slice(3));
      const size = p.tomogram === 'TS_01' ? [4000, 4000, 1600] : [3710, 3838, 1000];
      const relion = ['X', 'Y', 'Z'].map((a, k) => Number(r[`rlnCenteredCoordinate${a}Angst`]) / 1.35 + size[k] / 2 - origin[k] / 1.35);
      const voxels = positionInPixels(p.position!, tomogram);
      const shift = poseInTomogram(p)!;
      const ours = [shift.tx, shift.ty, shift.tz].map((t, k) => voxels[k] * bin + (t * list.voxelSize!) / 1.35);
      ours.forEach((v, k) => expect(v).toBeCloseTo(relion[k], 9));
    });
  });
});

describe('RELION 4 subtomogram lists', () => {
  it('reads names, tomograms, tilt-series pixel coordinates, poses, classes and half-sets; no wedge without tomograms', async () => {
    const list = await readParticleList(R4);
    expect(list.origin.format).toBe('relion4');
    expect(list.voxelSize).toBe(5.4);
    expect(list.particles.map((p) => p.name)).toEqual([
      'Extract/job005/Subtomograms/TS_01/1_data.mrc',
      'Extract/job005/Subtomograms/TS_01/2_data.mrc',
      'Extract/job005/Subtomograms/TS_02/1_data.mrc',
    ]);
    expect(list.particles[0].image).toBe(join(PROJECT, 'Extract/job005/Subtomograms/TS_01/1_data.mrc'));
    expect(list.tomograms).toEqual([{ name: 'TS_01' }, { name: 'TS_02' }]);
    expect(list.particles[0].position).toEqual({ frame: 'pixels', x: 1841.2, y: 1568.9, z: 812.3, origin: 0, pixelSize: 1.35 });
    expect(list.particles.map((p) => [p.classNumber, p.half])).toEqual([[1, 'odd'], [3, 'even'], [1, 'odd']]);
    expect(list.particles.every((p) => p.tilt === undefined && p.subtomogramRotation === undefined)).toBe(true);
    starRows(R4).forEach((r, i) => {
      const six = ['rlnAngleRot', 'rlnAngleTilt', 'rlnAnglePsi', 'rlnOriginXAngst', 'rlnOriginYAngst', 'rlnOriginZAngst'].map((l) => Number(r[l]));
      expectSamePose(list.particles[i].pose!, relionPose(six, 5.4));
      expect(rotationAngle(eulerToMatrix(list.particles[i].pose!), relionMatrix(six[0], six[1], six[2]))).toBeLessThan(1e-9);
    });
  });

  it('with a RELION 5 tomogram set: the wedge from the tilts; with RELION 4.0’s: sizes but no tilt angles', async () => {
    const list = await readParticleList(R4, { tomograms: TOMOGRAMS });
    expect(list.particles.map((p) => [deg(p.tilt!.min), deg(p.tilt!.max)])).toEqual([[-60, 58.5], [-60, 58.5], [-50, 50]]);
    const old = await readParticleList(R4, { tomograms: TOMOGRAMS_R4 });
    expect(old.tomograms.map((t) => [t.name, t.size, t.centre, t.pixelSize, t.tilts])).toEqual([
      ['TS_01', [4000, 4000, 1600], [2000, 2000, 800], 1.35, undefined],
      ['TS_02', [3710, 3838, 1000], [1855, 1919, 500], 1.35, undefined],
    ]);
    expect(old.particles.every((p) => p.tilt === undefined)).toBe(true);
  });

  it('reads subtomo’s own STAR: tilt columns, scores, names relative to the STAR file', async () => {
    const dir = join(work, 'own');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'aligned.star');
    writeFileSync(
      path,
      'data_optics\nloop_\n_rlnOpticsGroup\n_rlnImagePixelSize\n1 6\n\ndata_particles\nloop_\n_rlnImageName\n_rlnOpticsGroup\n' +
        '_rlnAngleRot\n_rlnAngleTilt\n_rlnAnglePsi\n_rlnOriginXAngst\n_rlnOriginYAngst\n_rlnOriginZAngst\n_subtomoTiltMinDeg\n_subtomoTiltMaxDeg\n' +
        '_subtomoCcc\n_subtomoDissimilarity\n_subtomoIterations\n_subtomoFrmCandidate\n' +
        'p/1.mrc 1 10 20 30 6 -12 0 -50 40 0.8 0.4 7 2\np/2.mrc 1 0 0 0 0 0 0 -60 60 0.5 1 3 1\n',
    );
    const list = await readParticleList(path);
    expect(list.origin.format).toBe('relion4');
    expect(list.particles.map((p) => p.image)).toEqual([join(dir, 'p/1.mrc'), join(dir, 'p/2.mrc')]);
    expect(list.particles.map((p) => [deg(p.tilt!.min), deg(p.tilt!.max)])).toEqual([[-50, 40], [-60, 60]]);
    expect(list.particles[0].scores).toEqual({ ccc: 0.8, dissimilarity: 0.4, iterations: 7, candidate: 1 });
    expectSamePose(list.particles[0].pose!, relionPose([10, 20, 30, 6, -12, 0], 6));
    expect(list.particles.map((p) => p.half)).toEqual([undefined, undefined]);
  });
});

describe('Warp/M export', () => {
  it('names tomograms by rlnMicrographName, takes the pixel size from detector and magnification, coordinates 0-based', async () => {
    const list = await readParticleList(WARP);
    expect(list.origin.format).toBe('warp');
    expect(list.origin.particleTable).toBe('');
    expect(list.voxelSize).toBe(10);
    expect(list.tomograms).toEqual([{ name: 'TS_01.tomostar' }, { name: 'TS_02.tomostar' }]);
    expect(list.particles[0].image).toBe(join(DATA, 'warp/subtomo/TS_01/TS_01.tomostar_000001_10.00A.mrc'));
    expect(list.particles[0].position).toEqual({ frame: 'pixels', x: 251.25, y: 120.5, z: 88, origin: 0 });
    expect(list.particles.map((p) => p.half)).toEqual(['odd', 'even', 'odd']);
    starRows(WARP, '').forEach((r, i) => {
      const R = relionMatrix(Number(r.rlnAngleRot), Number(r.rlnAngleTilt), Number(r.rlnAnglePsi));
      expect(rotationAngle(eulerToMatrix(list.particles[i].pose!), R)).toBeLessThan(1e-9);
      expect([list.particles[i].pose!.tx, list.particles[i].pose!.ty, list.particles[i].pose!.tz]).toEqual([-0, -0, -0]);
    });
    const told = await readParticleList(WARP, { pixelSize: 10 });
    expect(told.particles[0].position).toEqual({ frame: 'pixels', x: 251.25, y: 120.5, z: 88, origin: 0, pixelSize: 10 });
  });
});

describe('Dynamo tables with their volume list', () => {
  it('numbers tomograms by the .vll (its index and label), completes them from tomograms.star, and reads columns 20, 22, 24–26', async () => {
    const list = await readParticleList(TABLE, { tomograms: [VLL, TOMOGRAMS] });
    expect(list.origin.format).toBe('dynamo');
    expect(list.origin.companions).toContain(VLL);
    expect(list.particles.map((p) => [p.name, p.tomogram, p.classNumber, p.scores?.ccc])).toEqual([
      ['1', 'TS_01', 1, 0.35],
      ['2', 'TS_01', 2, 0.2],
      ['3', 'TS_02', 1, 0.1],
    ]);
    const [ts1, ts2] = list.tomograms;
    expect([ts1.name, ts1.path, ts1.pixelSize, ts1.size]).toEqual(['TS_01', join(PROJECT, 'Tomograms/job010/tomograms/rec_TS_01.mrc'), 10.8, [500, 500, 200]]);
    expect([ts2.name, ts2.pixelSize, ts2.size]).toEqual(['TS_02', 8.1, [618, 640, 166]]);
    expect(list.particles[0].position).toEqual({ frame: 'pixels', x: 120, y: 200.5, z: 80, origin: 1, pixelSize: 10.8 });
    expect(list.particles.map((p) => [deg(p.tilt!.min), deg(p.tilt!.max)])).toEqual([[-57, 57], [-57, 57], [-90, 90]]);
    // Shifts in one unit, the list's voxel (10.8 Å): TS_02's pixels are 8.1 Å.
    expect(list.voxelSize).toBe(10.8);
    const rows = readFileSync(TABLE, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
    list.particles.forEach((p, i) => {
      const c = (k: number) => rows[i][k - 1];
      expect(rotationAngle(eulerToMatrix(p.pose!), rotationFromDynamo({ tdrot: c(7), tilt: c(8), narot: c(9) }))).toBeLessThan(1e-9);
      const scale = p.tomogram === 'TS_02' ? 8.1 / 10.8 : 1;
      [p.pose!.tx, p.pose!.ty, p.pose!.tz].forEach((t, k) => expect(t).toBeCloseTo(c(4 + k) * scale, 12));
    });
  });

  it('without a volume list: tomograms are their numbers, shifts stay in the table’s pixels', async () => {
    const list = await readParticleList(TABLE);
    expect(list.tomograms).toEqual([{ name: '1' }, { name: '5' }]);
    expect(list.voxelSize).toBeUndefined();
    expect(list.particles[2].pose!.tx).toBe(-3);
    expect(list.particles[2].position).toEqual({ frame: 'pixels', x: 30, y: 40, z: 50, origin: 1 });
  });
});

describe('positions (io/positions.ts)', () => {
  it('place each frame at 0-based voxels of the reconstructed tomogram, and back to RELION 5’s centred Å', async () => {
    const { tomograms } = await readParticleList(R5, { tomograms: TOMOGRAMS });
    const [ts1, ts2] = tomograms;
    expect(positionInPixels({ frame: 'centered-angstrom', x: 0, y: 0, z: 0 }, ts1)).toEqual([250, 250, 100]);
    expect(positionInPixels({ frame: 'centered-angstrom', x: 81, y: -81, z: 0 }, ts2).map((v) => +v.toFixed(9))).toEqual([
      +(81 / 8.1 + 3710 / 12).toFixed(9), +(-81 / 8.1 + 3838 / 12).toFixed(9), +(1000 / 12).toFixed(9),
    ]);
    // RELION 4: tilt-series pixels; voxel i of a tomogram binned by 8 is at pixel 8i.
    expect(positionInPixels({ frame: 'pixels', x: 1841.2, y: 1568.8, z: 812, origin: 0, pixelSize: 1.35 }, ts1).map((v) => +v.toFixed(9))).toEqual([230.15, 196.1, 101.5]);
    // Dynamo counts from 1; Warp from 0; a position without a pixel size is in the tomogram's pixels.
    expect(positionInPixels({ frame: 'pixels', x: 1, y: 2, z: 3, origin: 1 }, ts1)).toEqual([0, 1, 2]);
    expect(positionInPixels({ frame: 'pixels', x: 1, y: 2, z: 3, origin: 0 }, ts1)).toEqual([1, 2, 3]);
    // RELION's decentring, inverted: c = (x − size / 2) · pixel size.
    centredAngstrom({ frame: 'pixels', x: 1841.2, y: 100, z: 812.3, origin: 0, pixelSize: 1.35 }, ts1).forEach((v, k) =>
      expect(v).toBeCloseTo(([1841.2, 100, 812.3][k] - [2000, 2000, 800][k]) * 1.35, 9),
    );
    expect(() => positionInPixels({ frame: 'centered-angstrom', x: 0, y: 0, z: 0 }, { name: 'TS_09' })).toThrow(
      'tomogram TS_09 has no pixel size',
    );
  });
});

describe('writing into the flavour read', () => {
  const flavours = [
    ['relion5', R5, { tomograms: TOMOGRAMS }],
    ['relion4', R4, {}],
    ['warp', WARP, {}],
  ] as const;

  for (const [format, path, opts] of flavours) {
    it(`${format}: an unchanged list is written back block for block, value for value`, async () => {
      const list = await readParticleList(path, opts);
      const out = join(work, `same-${format}`, 'particles.star');
      await writeParticleList(list, out, format);
      const read = parseStar(readFileSync(path, 'utf8'), path);
      const written = parseStar(readFileSync(out, 'utf8'), out);
      const base = format === 'warp' ? join(DATA, 'warp') : PROJECT;
      expect(written.map((t) => [t.name, t.columns])).toEqual(read.map((t) => [t.name, t.columns]));
      // Relative file names are rewritten for the new directory (the same files); every other cell is as read.
      const isPath = (label: string) => ['rlnImageName', 'rlnCtfImage'].includes(label);
      const files = (tables: typeof read, dir: string) =>
        tables.flatMap((b) => b.rows.flatMap((r) => r.filter((_, c) => isPath(b.columns[c])).map((v) => join(dir, String(v)))));
      expect(files(written, join(work, `same-${format}`))).toEqual(files(read, base));
      const others = (tables: typeof read) => tables.map((b) => b.rows.map((r) => r.filter((_, c) => !isPath(b.columns[c]))));
      expect(others(written)).toEqual(others(read));
      const again = await readParticleList(out, opts);
      again.particles.forEach((p, i) => {
        expectSamePose(p.pose!, list.particles[i].pose!);
        expect(p.image).toBe(list.particles[i].image);
      });
    });
  }

  it('dynamo: an unchanged table is written back number for number', async () => {
    const list = await readParticleList(TABLE, { tomograms: VLL });
    const text = formatParticleList(list, 'dynamo');
    const numbers = (t: string) => t.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
    expect(numbers(text)).toEqual(numbers(readFileSync(TABLE, 'utf8')));
  });

  it('replaces only poses, class, half-set and scores; other columns and the rows’ order stay; dropped particles drop their rows', async () => {
    const list = await readParticleList(R5, { tomograms: TOMOGRAMS });
    const kept = [list.particles[0], list.particles[2], list.particles[3]];
    const newPoses = kept.map((_, i) => poseFromMatrix(eulerToMatrix({ phi: 0.3 * i + 0.1, theta: 1.1, psi: -0.7 }), [0.5 * i, -1.25, 2]));
    const edited: ParticleList = {
      ...list,
      particles: kept.map((p, i) => ({ ...p, pose: newPoses[i], classNumber: 7 + i, half: i % 2 ? 'odd' : 'even', scores: { ccc: 0.5 + i / 10, iterations: 4 + i, candidate: i } })),
    };
    const out = join(PROJECT, 'Extract', `job020-edited-${process.pid}.star`);
    try {
      await writeParticleList(edited, out, 'relion5');
      const before = starRows(R5);
      const after = starRows(out);
      expect(after.map((r) => r.rlnTomoParticleName)).toEqual(['TS_01/1', 'TS_01/3', 'TS_02/1']);
      const untouched = ['rlnTomoName', 'rlnCenteredCoordinateXAngst', 'rlnAngleTiltPrior', 'rlnAnglePsiPrior', 'rlnImageName', 'rlnCtfImage', 'rlnGroupNumber', 'rlnLogLikeliContribution', 'rlnTomoSubtomogramRot'];
      after.forEach((r, i) => untouched.forEach((l) => expect(r[l]).toBe(before[[0, 2, 3][i]][l])));
      expect(after.map((r) => [r.rlnClassNumber, r.rlnRandomSubset, r.subtomoCcc, r.subtomoDissimilarity, r.subtomoIterations, r.subtomoFrmCandidate])).toEqual([
        ['7', '2', '0.5', '1', '4', '1'],
        ['8', '1', '0.6', '0.8', '5', '2'],
        ['9', '2', '0.7', '0.6000000000000001', '6', '3'],
      ]);
      const header = readFileSync(out, 'utf8');
      expect(header.indexOf('_rlnLogLikeliContribution')).toBeLessThan(header.indexOf('_subtomoCcc'));
      const again = await readParticleList(out, { tomograms: TOMOGRAMS });
      again.particles.forEach((p, i) => {
        expectSamePose(p.pose!, newPoses[i]);
        expect(rotationAngle(p.subtomogramRotation ?? eulerToMatrix({ phi: 0, theta: 0, psi: 0 }), kept[i].subtomogramRotation ?? eulerToMatrix({ phi: 0, theta: 0, psi: 0 }))).toBeLessThan(1e-9);
        expect([p.classNumber, p.half, p.scores]).toEqual([7 + i, i % 2 ? 'odd' : 'even', { ccc: 0.5 + i / 10, dissimilarity: 2 - 2 * (0.5 + i / 10), iterations: 4 + i, candidate: i }]);
      });
    } finally {
      rmSync(out, { force: true });
    }
  });

  it('dynamo: a new pose changes columns 4–9 only (in the particle’s tomogram pixels), class 22, cc 10', async () => {
    const list = await readParticleList(TABLE, { tomograms: VLL });
    const pose = poseFromMatrix(eulerToMatrix({ phi: 0.2, theta: 0.9, psi: -1.3 }), [1, 2, -3]);
    list.particles[2] = { ...list.particles[2], pose, classNumber: 4, scores: { ccc: 0.77 } };
    const rows = formatParticleList(list, 'dynamo').trim().split('\n').map((l) => l.split(' ').map(Number));
    const original = readFileSync(TABLE, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
    expect(rows.slice(0, 2)).toEqual(original.slice(0, 2));
    const changed = new Set([4, 5, 6, 7, 8, 9, 10, 22]);
    rows[2].forEach((v, c) => {
      if (!changed.has(c + 1)) expect(v).toBe(original[2][c]);
    });
    expect([rows[2][9], rows[2][21]]).toEqual([0.77, 4]);
    [1, 2, -3].forEach((t, k) => expect(rows[2][3 + k]).toBeCloseTo((t * 10.8) / 8.1, 12));
    expect(rotationAngle(rotationFromDynamo({ tdrot: rows[2][6], tilt: rows[2][7], narot: rows[2][8] }), eulerToMatrix(pose))).toBeLessThan(1e-9);
  });
});

/** Pose in the tomogram's axes with its shift in Å, for comparing lists of different units. */
function tomogramPose(list: ParticleList, i: number): { R: Float64Array; shift: number[] } {
  const pose = poseInTomogram(list.particles[i])!;
  return { R: eulerToMatrix(pose), shift: [pose.tx, pose.ty, pose.tz].map((t) => t * (list.voxelSize ?? 1)) };
}

function expectSameParticles(a: ParticleList, b: ParticleList, what: { halves: boolean }): void {
  expect(b.particles.length).toBe(a.particles.length);
  a.particles.forEach((p, i) => {
    const q = b.particles[i];
    const pa = tomogramPose(a, i);
    const pb = tomogramPose(b, i);
    expect(degrees(rotationAngle(pa.R, pb.R))).toBeLessThan(1e-4);
    pa.shift.forEach((s, k) => expect(pb.shift[k]).toBeCloseTo(s, 6));
    const ta = a.tomograms.find((t) => t.name === p.tomogram)!;
    const tb = b.tomograms.find((t) => t.name === q.tomogram)!;
    expect(q.tomogram).toBe(p.tomogram);
    centredAngstrom(q.position!, tb).forEach((v, k) => expect(v).toBeCloseTo(centredAngstrom(p.position!, ta)[k], 6));
    expect(q.classNumber).toBe(p.classNumber);
    if (what.halves) expect(q.half).toBe(p.half);
    expect([deg(q.tilt!.min), deg(q.tilt!.max)]).toEqual([deg(p.tilt!.min), deg(p.tilt!.max)]);
  });
}

describe('conversions between flavours', () => {
  it('RELION 4 → RELION 5 → Dynamo → RELION 4 keeps poses (1e-4°), positions, classes, tilt ranges; half-sets up to Dynamo', async () => {
    const dir = join(work, 'round-trip');
    const r4 = await readParticleList(R4, { tomograms: TOMOGRAMS });
    await writeParticleList(r4, join(dir, 'r5.star'), 'relion5');
    const r5 = await readParticleList(join(dir, 'r5.star'), { tomograms: TOMOGRAMS });
    expect(r5.origin.format).toBe('relion5');
    expectSameParticles(r4, r5, { halves: true });
    expect(r5.particles.map((p) => p.image)).toEqual(r4.particles.map((p) => p.image));
    const files = await writeParticleList(r5, join(dir, 'table.tbl'), 'dynamo');
    expect(files).toEqual([join(dir, 'table.tbl'), join(dir, 'table.vll')]);
    const dy = await readParticleList(files[0], { tomograms: [files[1], TOMOGRAMS] });
    expect(dy.tomograms.map((t) => t.name)).toEqual(['TS_01', 'TS_02']);
    expectSameParticles(r5, dy, { halves: false });
    await writeParticleList(dy, join(dir, 'back.star'), 'relion4');
    const back = await readParticleList(join(dir, 'back.star'), { tomograms: TOMOGRAMS });
    expectSameParticles(r4, back, { halves: false });
    back.particles.forEach((p, i) => {
      const a = r4.particles[i].position!;
      const b = p.position!;
      expect(b.frame).toBe('pixels');
      if (a.frame === 'pixels' && b.frame === 'pixels') [a.x - b.x, a.y - b.y, a.z - b.z].forEach((d) => expect(Math.abs(d)).toBeLessThan(1e-6));
    });
  });

  it('RELION 5 → Dynamo (+ .vll) → RELION 5: the volume list names the tomograms, poses composed with rlnTomoSubtomogram*', async () => {
    const dir = join(work, 'r5-dynamo');
    const r5 = await readParticleList(R5, { tomograms: TOMOGRAMS });
    const files = await writeParticleList(r5, join(dir, 'particles.tbl'), 'dynamo');
    expect(files).toEqual([join(dir, 'particles.tbl'), join(dir, 'particles.vll')]);
    const dy = await readParticleList(files[0], { tomograms: [files[1], TOMOGRAMS] });
    expect(dy.tomograms.map((t) => [t.name, t.path])).toEqual(r5.tomograms.map((t) => [t.name, t.path]));
    expect(dy.particles.every((p) => p.subtomogramRotation === undefined)).toBe(true);
    expectSameParticles(r5, dy, { halves: false });
    await writeParticleList(dy, join(dir, 'back.star'), 'relion5');
    const back = await readParticleList(join(dir, 'back.star'), { tomograms: TOMOGRAMS });
    expectSameParticles(r5, back, { halves: false });
  });

  it('RELION 5 → RELION 4 → RELION 5 keeps the subtomogram rotation split, half-sets and images; drops what does not map', async () => {
    const dir = join(work, 'r5-r4');
    const r5 = await readParticleList(R5, { tomograms: TOMOGRAMS });
    await writeParticleList(r5, join(dir, 'r4.star'), 'relion4');
    const columns = Object.keys(starRows(join(dir, 'r4.star'))[0]);
    expect(columns).toContain('rlnTomoSubtomogramRot');
    expect(columns).not.toContain('rlnLogLikeliContribution');
    expect(columns).not.toContain('rlnAngleTiltPrior');
    const r4 = await readParticleList(join(dir, 'r4.star'), { tomograms: TOMOGRAMS });
    expect(r4.origin.format).toBe('relion4');
    expectSameParticles(r5, r4, { halves: true });
    r4.particles.forEach((p, i) => {
      expectSamePose(p.pose!, r5.particles[i].pose!, 1e-9);
      expect(p.image).toBe(r5.particles[i].image);
    });
    await writeParticleList(r4, join(dir, 'r5.star'), 'relion5');
    expectSameParticles(r5, await readParticleList(join(dir, 'r5.star'), { tomograms: TOMOGRAMS }), { halves: true });
  });

  it('Warp → RELION 4 → Warp: tomogram names and 0-based coordinates carry over', async () => {
    const dir = join(work, 'warp');
    const warp = await readParticleList(WARP, { pixelSize: 10 });
    await writeParticleList(warp, join(dir, 'r4.star'), 'relion4');
    const r4 = await readParticleList(join(dir, 'r4.star'), { pixelSize: 10 });
    await writeParticleList(r4, join(dir, 'warp.star'), 'warp');
    const back = await readParticleList(join(dir, 'warp.star'), { pixelSize: 10 });
    expect(back.origin.format).toBe('warp');
    back.particles.forEach((p, i) => {
      expect(p.tomogram).toBe(warp.particles[i].tomogram);
      expect(p.position).toEqual(warp.particles[i].position);
      expect(p.image).toBe(warp.particles[i].image);
      expectSamePose(p.pose!, warp.particles[i].pose!, 1e-9);
    });
  });

  it('refuses conversions that lack what the target needs, naming it', async () => {
    const warp = await readParticleList(WARP);
    expect(() => formatParticleList(warp, 'relion5')).toThrow(/RELION 5 needs the tilt series pixel size \(rlnTomoTiltSeriesPixelSize\)/);
    const bare = await readParticleList(TABLE);
    expect(() => formatParticleList(bare, 'relion4')).toThrow('particle 1: RELION origins are in Å and the list has no voxel size to convert its shift');
    const r5 = await readParticleList(R5);
    expect(() => formatParticleList({ ...r5, tomograms: [] }, 'dynamo')).toThrow(
      'particle TS_01/1: tomogram TS_01 has no pixel size (rlnTomoTiltSeriesPixelSize, .vll apix), which centred coordinates need',
    );
  });
});

describe('malformed input: errors name the file, line and column', () => {
  const file = (name: string, text: string) => {
    const path = join(work, 'bad', name);
    mkdirSync(join(work, 'bad'), { recursive: true });
    writeFileSync(path, text);
    return path;
  };
  const r5Header = 'data_general\n_rlnTomoSubTomosAre2DStacks 0\n\ndata_particles\nloop_\n';

  it('a non-numeric value', async () => {
    const path = file('nan.star', `${r5Header}_rlnTomoName\n_rlnCenteredCoordinateXAngst\n_rlnCenteredCoordinateYAngst\n_rlnCenteredCoordinateZAngst\n_rlnAngleRot\n_rlnAngleTilt\n_rlnAnglePsi\nTS_01 1 2 3 10 20 30\nTS_01 1 2 3 10 abc 30\n`);
    await expect(readParticleList(path)).rejects.toThrow(`${path}:14: _rlnAngleTilt (column 6 of data_particles) is not a number: 'abc'`);
    const table = file('nan.tbl', '1 1 1 0 0 0 0 0 0 0 0 0 1 -60 60\n2 1 1 0 0 0 0 x 0 0 0 0 1 -60 60\n');
    await expect(readParticleList(table)).rejects.toThrow(`${table}:2: column 8 is not a number: 'x'`);
  });

  it('missing or incomplete columns', async () => {
    const noPositions = file('nopos.star', `${r5Header}_rlnTomoName\nTS_01\n`);
    await expect(readParticleList(noPositions)).rejects.toThrow(`${noPositions}: data_particles lacks _rlnCenteredCoordinate{X,Y,Z}Angst`);
    const partial = file('partial.star', 'data_particles\nloop_\n_rlnImageName\n_rlnAngleRot\n_rlnAngleTilt\na.mrc 1 2\n');
    await expect(readParticleList(partial)).rejects.toThrow(`${partial}: data_particles has _rlnAngleRot, _rlnAngleTilt but not _rlnAnglePsi`);
    const unknown = file('unknown.star', 'data_particles\nloop_\n_rlnDefocusU\n1\n');
    await expect(readParticleList(unknown)).rejects.toThrow(/is not a particle list subtomo reads: it has none of _rlnImageName/);
  });

  it('duplicate particle names and tomograms', async () => {
    const dup = file('dup.star', 'data_optics\nloop_\n_rlnOpticsGroup\n_rlnImagePixelSize\n1 2\n\ndata_particles\nloop_\n_rlnImageName\n_rlnOpticsGroup\na.mrc 1\nb.mrc 1\na.mrc 1\n');
    // A repeated image is a symmetry-expanded list: the copies get names of their own; using them needs one
    // stated half-set per image (drivers/particleList.ts).
    const copies = await readParticleList(dup);
    expect(copies.particles.map((p) => p.name)).toEqual(['a.mrc', 'b.mrc', 'a.mrc#2']);
    await expect(prepareParticles(copies, { tiltRange: { min: -1, max: 1 } })).rejects.toThrow(
      `${dup}: particles a.mrc and a.mrc#2 name the same subtomogram ${join(dirname(dup), 'a.mrc')} without a half-set (rlnRandomSubset)`,
    );
    const tomos = file('tomograms.star', 'data_global\nloop_\n_rlnTomoName\n_rlnTomoTiltSeriesPixelSize\nTS_1 1\nTS_2 1\nTS_1 2\n');
    await expect(readParticleList(R5, { tomograms: tomos })).rejects.toThrow(`${tomos}:7: _rlnTomoName (column 1 of data_global): tomogram 'TS_1' is already defined on line 5`);
    const tag = file('tag.tbl', '1 1 1 0 0 0 0 0 0 0 0 0 1 -60 60\n1 1 1 0 0 0 0 0 0 0 0 0 1 -60 60\n');
    await expect(readParticleList(tag)).rejects.toThrow(`${tag}:2: tag 1 already used on line 1`);
  });

  it('a particle in an unknown tomogram', async () => {
    const path = file('unknown-tomo.star', `${r5Header}_rlnTomoName\n_rlnCenteredCoordinateXAngst\n_rlnCenteredCoordinateYAngst\n_rlnCenteredCoordinateZAngst\nTS_01 1 2 3\nTS_09 1 2 3\n`);
    await expect(readParticleList(path, { tomograms: TOMOGRAMS })).rejects.toThrow(
      `${path}:11: _rlnTomoName (column 1 of data_particles) names tomogram 'TS_09', which the tomogram set does not have (it has TS_01, TS_02)`,
    );
    const table = file('unknown-tomo.tbl', '1 1 1 0 0 0 0 0 0 0 0 0 1 -60 60 0 0 0 0 1\n2 1 1 0 0 0 0 0 0 0 0 0 1 -60 60 0 0 0 0 2\n');
    await expect(readParticleList(table, { tomograms: VLL })).rejects.toThrow(`${table}:2: column 20 names tomogram 2, which ${VLL} does not list (it numbers 1, 5)`);
  });

  it('bad values: half-set, tilt range, volume list, missing per-tilt file', async () => {
    const subset = file('subset.star', 'data_particles\nloop_\n_rlnImageName\n_rlnRandomSubset\n_rlnImagePixelSize\na.mrc 3 2\n');
    await expect(readParticleList(subset)).rejects.toThrow(`${subset}:6: _rlnRandomSubset (column 2 of data_particles) is 3; expected 1 (odd half) or 2 (even half)`);
    const vll = file('bad.vll', '* apix = 2\nt.mrc\n');
    await expect(readParticleList(TABLE, { tomograms: vll })).rejects.toThrow(`${vll}:1: a parameter line (* apix = 2) before any tomogram`);
    const tomos = file('missing-tilts.star', 'data_global\nloop_\n_rlnTomoName\n_rlnTomoTiltSeriesStarFile\nTS_01 nowhere/TS_01.star\n');
    await expect(readParticleList(R5, { tomograms: tomos })).rejects.toThrow(`${tomos}:5: _rlnTomoTiltSeriesStarFile (column 2 of data_global): cannot read STAR file`);
    await expect(readParticleList(VLL)).rejects.toThrow('is a Dynamo volume list (tomograms); read the table (.tbl)');
  });
});

describe('io/particlestar.ts, now on top of readParticleList', () => {
  it('reads subtomo’s STAR as before: paths from the STAR’s directory, alternating halves, poses, tilt; and what alignedParticleStar writes', async () => {
    const dir = join(work, 'simulated');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'particles.star');
    const pose = poseFromMatrix(eulerToMatrix({ phi: 0.4, theta: 1.2, psi: -2 }), [1.5, -0.5, 0.25]);
    writeFileSync(
      path,
      formatStar(alignedParticleStar(path, [0, 1, 2].map((i) => ({
        path: join(dir, `p${i}.mrc`), tilt: tiltRangeDegrees(-50, 40), pose, ccc: 0.9, dissimilarity: 0.2, iterations: 5, candidateIndex: i,
      })), 24, 14)),
    );
    const star = await readParticleStar(path);
    expect(star.voxelSize).toBe(14);
    expect(star.particles.map((p) => [p.imageName, p.path, p.half])).toEqual([
      ['p0.mrc', join(dir, 'p0.mrc'), 'odd'], ['p1.mrc', join(dir, 'p1.mrc'), 'even'], ['p2.mrc', join(dir, 'p2.mrc'), 'odd'],
    ]);
    star.particles.forEach((p) => {
      expectSamePose(p.pose!, pose);
      expect(tiltColumns(p.tilt)).toEqual([-50, 40]);
    });
    const list = await readParticleList(path);
    expect(list.particles.map((p) => p.scores)).toEqual([0, 1, 2].map((candidate) => ({ ccc: 0.9, dissimilarity: 0.2, iterations: 5, candidate })));
  });

  it('still names the columns a subtomo command needs', async () => {
    const path = join(work, 'no-tilt.star');
    writeFileSync(path, formatStar([{ name: 'particles', columns: ['rlnImageName'], rows: [['p1.mrc']] }]));
    await expect(readParticleStar(path)).rejects.toThrow(`${path}: data_particles lacks columns _subtomoTiltMinDeg, _subtomoTiltMaxDeg`);
  });
});
