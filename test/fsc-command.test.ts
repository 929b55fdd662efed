/**
 * `subtomo fsc` and `subtomo postprocess` end to end on small maps written to a temporary directory: the files
 * exist and parse, the printed resolutions and B-factor are the core's, EM halves take the MRC half's voxel
 * size, a mask of another sampling is resampled (and the command says so), symmetry acts on each half, and
 * every bad flag value is refused naming the flag.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Command } from '../cli/command.ts';
import fscCommand from '../cli/commands/fsc.ts';
import postprocessCommand from '../cli/commands/postprocess.ts';
import { softSphereMask } from '../core/filters.ts';
import { FSC_GOLD_STANDARD, FSC_HALF, fscCurve, resolutionAt } from '../core/fsc.ts';
import { maskCorrectedFsc, postprocess } from '../core/postprocess.ts';
import { Rng } from '../core/random.ts';
import { symmetrise } from '../core/symmetry.ts';
import { Volume } from '../core/volume.ts';
import { readHalfMapMask } from '../io/halfmaps.ts';
import { readMrc, readMrcHeader, writeMrc } from '../io/mrc.ts';
import { parseStar } from '../io/star.ts';
import { Args, UsageError } from '../os/args.ts';
import { randomBlobs, renderBlobs } from './helpers/blobs.ts';

const scratch = mkdtempSync(join(tmpdir(), 'subtomo-fsc-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const n = 32;
const voxel = 6;

function noisy(signal: Volume, seed: number, sigma: number): Volume {
  const rng = new Rng(seed);
  return signal.withData(signal.data.map((v) => v + sigma * rng.gaussian()));
}

const signal = renderBlobs(randomBlobs(new Rng(1), 12, 7, 0.8, 1.6), n, undefined, undefined, voxel);
const half1 = noisy(signal, 2, 0.05);
const half2 = noisy(signal, 3, 0.05);
const path = (name: string) => join(scratch, name);

/** A little-endian float32 EM file (io/em.ts layout): machine byte 6 (PC), data type 5. */
function writeEm(file: string, v: Volume): void {
  const bytes = new Uint8Array(512 + 4 * v.data.length);
  const view = new DataView(bytes.buffer);
  bytes[0] = 6;
  bytes[3] = 5;
  for (let a = 0; a < 3; a++) view.setInt32(4 + 4 * a, v.n, true);
  v.data.forEach((x, i) => view.setFloat32(512 + 4 * i, x, true));
  writeFileSync(file, bytes);
}

/** Runs a command as cli/run.ts does (flags checked by Args), capturing what it prints; code 2 for usage errors. */
async function run(cmd: Command, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
  try {
    await cmd.run(new Args(argv, cmd.flags));
    return { code: 0, out, err };
  } catch (e) {
    return { code: e instanceof UsageError ? 2 : 1, out, err: `${err}${(e as Error).message}` };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

/** The "FSC 0.143: X Å … FSC 0.5: Y Å" numbers of the printed line starting with `label`. */
function printed(out: string, label: string): [number, number] {
  const line = out.split('\n').find((l) => l.trim().startsWith(label));
  const m = line && /FSC 0\.143: ([\d.]+) Å\s+FSC 0\.5: ([\d.]+) Å/.exec(line);
  if (!m) throw new Error(`no '${label}' resolution line in:\n${out}`);
  return [Number(m[1]), Number(m[2])];
}

function csv(file: string): { header: string[]; rows: number[][] } {
  const [head, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  return { header: head.split(','), rows: lines.map((l) => l.split(',').map(Number)) };
}

describe('subtomo fsc', async () => {
  await writeMrc(path('h1.mrc'), half1);
  await writeMrc(path('h2.mrc'), half2);
  await writeMrc(path('h2-5A.mrc'), new Volume(n, 5, half2.data));
  // a mask made for twice the box at half the voxel size: resampled onto the halves
  await writeMrc(path('mask-3A.mrc'), new Volume(2 * n, 3, softSphereMask(2 * n, 24, 6)));
  writeEm(path('h1.em'), half1);
  writeEm(path('h2.em'), half2);

  it('prints the resolutions at 0.143 and 0.5 of the core FSC and writes the curve as CSV and SVG', async () => {
    const r = await run(fscCommand, path('h1.mrc'), path('h2.mrc'), '--out', path('plain'));
    expect(r.code, r.err).toBe(0);
    const curve = fscCurve(half1, half2);
    const expected = [FSC_GOLD_STANDARD, FSC_HALF].map((t) => +resolutionAt(curve, t, voxel, n).toFixed(2));
    expect(printed(r.out, 'unmasked')).toEqual(expected);
    expect(expected[0]).toBeGreaterThan(2 * voxel); // the FSC crosses 0.143 before Nyquist (measured 16.7 Å)
    const table = csv(path('plain.csv'));
    expect(table.header).toEqual(['shell', 'spatial_frequency_per_angstrom', 'resolution_angstrom', 'fsc_unmasked']);
    expect(table.rows.map((row) => row[0])).toEqual(curve.shell);
    table.rows.forEach((row, i) => {
      expect(row[2]).toBeCloseTo((n * voxel) / curve.shell[i], 9);
      expect(row[3]).toBe(curve.fsc[i]);
    });
    expect(readFileSync(path('plain.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>$/);
  });

  it('with a mask of another sampling: resamples it, says so, and prints the masked and mask-corrected resolutions', async () => {
    const r = await run(fscCommand, path('h1.mrc'), path('h2.mrc'), '--mask', path('mask-3A.mrc'), '--seed', '4', '--out', path('masked'));
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`mask ${path('mask-3A.mrc')}: Fourier-resampled from 3 Å to 6 Å voxels`);
    const mask = await readHalfMapMask(path('mask-3A.mrc'), { n, voxelSize: voxel, label: 'half map 1' });
    const core = maskCorrectedFsc(half1, half2, mask.data, { seed: 4 });
    for (const [label, curve] of [['unmasked', core.unmasked], ['masked', core.masked], ['mask-corrected', core.corrected]] as const) {
      expect(printed(r.out, label), label).toEqual([FSC_GOLD_STANDARD, FSC_HALF].map((t) => +resolutionAt(curve, t, voxel, n).toFixed(2)));
    }
    expect(r.out).toContain(`phases randomised from ${((n * voxel) / core.randomiseFrom).toFixed(2)} Å (shell ${core.randomiseFrom}, seed 4)`);
    const table = csv(path('masked.csv'));
    expect(table.header.slice(3)).toEqual(['fsc_unmasked', 'fsc_masked', 'fsc_phase_randomised_masked', 'fsc_corrected']);
    table.rows.forEach((row, i) => expect(row.slice(3)).toEqual([core.unmasked, core.masked, core.randomisedMasked, core.corrected].map((c) => c.fsc[i])));
  });

  it('symmetrises each half on its own', async () => {
    const r = await run(fscCommand, path('h1.mrc'), path('h2.mrc'), '--symmetry', 'c4');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('symmetrised each half map with C4');
    const curve = fscCurve(symmetrise(half1, 'C4'), symmetrise(half2, 'C4'));
    expect(printed(r.out, 'unmasked')).toEqual([FSC_GOLD_STANDARD, FSC_HALF].map((t) => +resolutionAt(curve, t, voxel, n).toFixed(2)));
  });

  it('reads EM halves with the MRC half\'s voxel size or --pixel-size, and refuses two EM halves without it', async () => {
    const mrc = await run(fscCommand, path('h1.mrc'), path('h2.mrc'));
    const mixed = await run(fscCommand, path('h1.em'), path('h2.mrc'));
    expect(mixed.code, mixed.err).toBe(0);
    expect(printed(mixed.out, 'unmasked')).toEqual(printed(mrc.out, 'unmasked'));
    const both = await run(fscCommand, path('h1.em'), path('h2.em'));
    expect(both.code).toBe(1);
    expect(both.err).toContain(`half maps ${path('h1.em')} and ${path('h2.em')} are EM files, which do not state their voxel size: give it with --pixel-size`);
    const given = await run(fscCommand, path('h1.em'), path('h2.em'), '--pixel-size', '6');
    expect(printed(given.out, 'unmasked')).toEqual(printed(mrc.out, 'unmasked'));
  });

  it('refuses half maps of different voxel sizes, naming both files', async () => {
    const r = await run(fscCommand, path('h1.mrc'), path('h2-5A.mrc'));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`half map 2 ${path('h2-5A.mrc')} has 5 Å voxels but half map 1 ${path('h1.mrc')} has 6 Å voxels`);
  });

  it.each([
    [['--mask', 'm.mrc', '--symmetry', 'X7'], "--symmetry: unknown symmetry 'X7'"],
    [['--pixel-size', '0'], '--pixel-size must be a positive number of Å, got 0'],
    [['--seed', '3'], '--seed applies to the phase randomisation of a masked FSC: give --mask too'],
    [['--randomise-from', '40'], '--randomise-from applies to the phase randomisation of a masked FSC: give --mask too'],
    [['--mask', 'm.mrc', '--seed', '-1'], '--seed must be an integer ≥ 0, got -1'],
    [['--mask', 'm.mrc', '--seed', '1.5'], '--seed must be an integer, got 1.5'],
    [['--mask', 'm.mrc', '--randomise-from', 'far'], "--randomise-from must be a number, got 'far'"],
    [['--maks', 'm.mrc'], 'unknown flag --maks; did you mean --mask?'],
  ])('refuses %j naming the flag', async (flags, message) => {
    const r = await run(fscCommand, path('h1.mrc'), path('h2.mrc'), ...flags);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });

  it('refuses a --randomise-from outside the box\'s shells and a wrong number of half maps', async () => {
    const far = await run(fscCommand, path('h1.mrc'), path('h2.mrc'), '--mask', path('mask-3A.mrc'), '--randomise-from', '1000');
    expect(far.code).toBe(2);
    expect(far.err).toContain('--randomise-from must be coarser than Nyquist (12 Å) and at most the box (192 Å) for these 32³ maps of 6 Å voxels, got 1000');
    expect((await run(fscCommand, path('h1.mrc'), path('h2.mrc'), '--mask', path('mask-3A.mrc'), '--randomise-from', '12')).err).toContain('coarser than Nyquist (12 Å)');
    const edge = await run(fscCommand, path('h1.mrc'), path('h2.mrc'), '--mask', path('mask-3A.mrc'), '--randomise-from', '12.8');
    expect(edge.out).toContain('phases randomised from 12.80 Å (shell 15, seed 0)');
    const one = await run(fscCommand, path('h1.mrc'));
    expect(one.code).toBe(2);
    expect(one.err).toContain(`give two half maps, HALF1 HALF2; got 1 argument: ${path('h1.mrc')}`);
  });

  it('asks for --randomise-from when identical halves never let the FSC drop below 0.8', async () => {
    const r = await run(fscCommand, path('h1.mrc'), path('h1.mrc'), '--mask', path('mask-3A.mrc'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/never drops below 0.8 .* with --randomise-from Å/);
  });
});

describe('subtomo postprocess', async () => {
  await writeMrc(path('p1.mrc'), half1);
  await writeMrc(path('p2.mrc'), half2);
  await writeMrc(path('pmask.mrc'), new Volume(n, voxel, softSphereMask(n, 12, 3)));

  it('writes the sharpened map, its masked version, FSC, Guinier plot and a RELION-style STAR, and prints the core resolution and B-factor', async () => {
    const prefix = path('post/run1');
    const r = await run(postprocessCommand, path('p1.mrc'), path('p2.mrc'), '--mask', path('pmask.mrc'), '--out', prefix);
    expect(r.code, r.err).toBe(0);
    const core = postprocess(half1, half2, { bFactor: 'auto', mask: softSphereMask(n, 12, 3), seed: 0 });
    expect(core.diagnostics?.maskRejected).toBe(false);
    const resolution = Number(/^resolution ([\d.]+) Å at FSC 0\.143 \(mask-corrected; FSC 0\.5: ([\d.]+) Å\)/m.exec(r.out)?.[1]);
    expect(resolution).toBe(+core.resolution.toFixed(2));
    const bFactor = Number(/^B-factor (-?\d+) Å² fitted/m.exec(r.out)?.[1]);
    expect(bFactor).toBe(Math.round(core.bFactor));
    expect(bFactor).toBeLessThan(0);
    expect(r.out).toContain(`open in ChimeraX): ${prefix}.mrc`);

    const map = await readMrc(`${prefix}.mrc`);
    expect(map.data).toEqual(core.map.data);
    const header = await readMrcHeader(`${prefix}.mrc`);
    expect(header.labels.join('\n')).toContain(`resolution ${core.resolution.toFixed(2)} A at FSC 0.143 (mask-corrected)`);
    expect(header.labels.join('\n')).toContain(`B-factor ${core.bFactor.toFixed(0)} A^2 (fitted`);
    expect((await readMrc(`${prefix}_masked.mrc`)).data).toEqual(core.maskedMap!.data);

    const [general, fsc, guinier] = parseStar(readFileSync(`${prefix}.star`, 'utf8'), 'run1.star');
    expect(general.name).toBe('general');
    const value = (label: string) => general.rows[0][general.columns.indexOf(label)];
    expect(Number(value('rlnFinalResolution'))).toBe(core.resolution);
    expect(Number(value('rlnBfactorUsedForSharpening'))).toBe(core.bFactor);
    expect(Number(value('rlnFittedSlopeGuinierPlot')) * 4).toBeCloseTo(core.bFactor, 9);
    expect(Number(value('rlnRandomiseFrom'))).toBe((n * voxel) / core.maskCorrection!.randomiseFrom);
    expect(value('rlnMaskName')).toBe(path('pmask.mrc'));
    expect(value('rlnPostprocessedMapMasked')).toBe(`${prefix}_masked.mrc`);
    expect(fsc.columns).toEqual([
      'rlnSpectralIndex', 'rlnResolution', 'rlnAngstromResolution', 'rlnFourierShellCorrelationCorrected',
      'rlnFourierShellCorrelationUnmaskedMaps', 'rlnFourierShellCorrelationMaskedMaps', 'rlnCorrectedFourierShellCorrelationPhaseRandomizedMaskedMaps',
    ]);
    expect(fsc.rows.map((row) => Number(row[0]))).toEqual([0, ...core.final.shell]);
    expect(fsc.rows.slice(1).map((row) => Number(row[3]))).toEqual(core.final.fsc);
    expect(guinier.columns).toContain('rlnLogAmplitudesSharpened');
    expect(guinier.rows).toHaveLength(n / 2 - 1);

    expect(csv(`${prefix}_fsc.csv`).rows).toHaveLength(n / 2 - 1);
    for (const svg of [`${prefix}_fsc.svg`, `${prefix}_guinier.svg`]) expect(readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>$/);
    expect(readFileSync(`${prefix}_guinier.svg`, 'utf8')).toContain(`fit: B = ${core.bFactor.toFixed(0)} Å²`);
  });

  it('applies a given B-factor, and warns that a positive one blurs', async () => {
    const r = await run(postprocessCommand, path('p1.mrc'), path('p2.mrc'), '--bfactor', '300', '--out', path('blur'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('B-factor 300 Å² (given)');
    expect(r.err).toContain('warning: --bfactor 300 is positive, which blurs the map');
    expect((await readMrc(path('blur.mrc'))).data).toEqual(postprocess(half1, half2, { bFactor: 300 }).map.data);
  });

  it.each([
    [['--bfactor', 'sharp'], "--bfactor must be 'auto' or a B-factor in Å² (negative sharpens, e.g. -1000), got 'sharp'"],
    [['--bfactor', '-500', '--fit-from', '40'], '--fit-from/--fit-to set the Guinier fit of --bfactor auto'],
    [['--fit-from', '-3'], '--fit-from must be a positive resolution in Å, got -3'],
    [['--fit-from', '20', '--fit-to', '30'], '--fit-from must be a coarser resolution (more Å) than --fit-to, got --fit-from 20 --fit-to 30'],
    [['--fit-to', 'x'], "--fit-to must be a number, got 'x'"],
    [['--bfactr', '-100'], 'unknown flag --bfactr; did you mean --bfactor?'],
  ])('refuses %j naming the flag', async (flags, message) => {
    const r = await run(postprocessCommand, path('p1.mrc'), path('p2.mrc'), '--out', path('bad'), ...flags);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });

  it('needs --out as a prefix, and names the fit flags when the fit range holds too few shells', async () => {
    expect((await run(postprocessCommand, path('p1.mrc'), path('p2.mrc'))).err).toContain('missing --out');
    const ext = await run(postprocessCommand, path('p1.mrc'), path('p2.mrc'), '--out', path('x.mrc'));
    expect(ext.code).toBe(2);
    expect(ext.err).toContain(`--out is a prefix (PREFIX.mrc, PREFIX.star, PREFIX_fsc.csv … are written), got '${path('x.mrc')}'`);
    const narrow = await run(postprocessCommand, path('p1.mrc'), path('p2.mrc'), '--out', path('narrow'), '--fit-from', '40', '--fit-to', '35');
    expect(narrow.code).toBe(1);
    expect(narrow.err).toMatch(/Guinier fit from 40 Å to 35 Å holds \d shells? of this box.*widen it with --fit-from\/--fit-to Å, or give --bfactor B/);
  });
});
