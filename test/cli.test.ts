/**
 * The `subtomo` command line as a user meets it: help exits 0, every command refuses unknown or misspelled
 * flags (naming the closest one) and flags without their value, numbers are checked naming the flag, file
 * errors name the path, and a closed pipe ends the program quietly.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS, runCli } from '../cli/run.ts';
import { Volume } from '../core/volume.ts';
import { writeMrc } from '../io/mrc.ts';

const scratch = mkdtempSync(join(tmpdir(), 'subtomo-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('subtomo', () => {
  it('--help and <command> --help exit 0 and describe the usage', async () => {
    const overview = await cli('--help');
    expect(overview.code).toBe(0);
    for (const name of COMMANDS) expect(overview.out).toContain(`  ${name}`);
    for (const name of COMMANDS) {
      const help = await cli(name, '--help');
      expect(help.code, name).toBe(0);
      expect(help.out).toMatch(new RegExp(`usage: subtomo ${name}`));
    }
    expect((await cli('realign')).code).toBe(2);
  });

  it.each([
    ['simulate', ['--out', 'x', '--snr', '1', '--szie', '32'], 'unknown flag --szie; did you mean --size?'],
    ['align', ['--ref', 'r.mrc', '--particles', 'p.star', '--out', 'o.star', '--symetry', 'D7'], 'unknown flag --symetry; did you mean --symmetry?'],
    ['average', ['--particles', 'p.star', '--out', 'avg', '--maks', 'm.mrc'], 'unknown flag --maks; did you mean --mask?'],
    ['mask', ['--size', '32', '--voxel', '6', '--sphere', '10', '--edgee', '5', '--out', 'm.mrc'], 'unknown flag --edgee; did you mean --edge?'],
    ['campaign', ['start', '--config', 'c.yaml', '--wacth'], 'unknown flag --wacth; did you mean --watch?'],
    ['extract', ['--particles', 'p.star', '--box', '64', '--binnig', '2', '--out', 'x'], 'unknown flag --binnig; did you mean --binning?'],
  ])('%s refuses an unknown flag, naming it, before doing anything', async (name, argv, message) => {
    const r = await cli(name, ...argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`subtomo ${name}: ${message}`);
    expect(r.err).toContain(`usage: subtomo ${name}`);
  });

  it('a flag without its value, a switch given one, a repeated flag and a bad number name the flag', async () => {
    expect((await cli('mask', '--size', '--voxel', '6')).err).toContain('--size needs a value');
    expect((await cli('simulate', '--no-ctf=yes', '--out', 'x', '--snr', '1')).err).toContain('--no-ctf is a switch and takes no value');
    expect((await cli('mask', '--size', '32', '--size', '64')).err).toContain('--size is given more than once');
    const size = await cli('simulate', '--out', join(scratch, 'big'), '--snr', '1', '--size', '100000');
    expect(size.code).toBe(2);
    expect(size.err).toContain('--size: box size must be an even integer from 8 to 512 voxels, got 100000');
    expect((await cli('align', '--ref', 'r', '--particles', 'p', '--out', 'o', '--mca', 'nokey')).err).toContain('--mca needs --mpi P');
  });

  it('file errors name the path: a directory given as the reference', async () => {
    const star = join(scratch, 'p.star');
    writeFileSync(star, 'data_particles\nloop_\n_rlnImageName\n_rlnImagePixelSize\n_subtomoTiltMinDeg\n_subtomoTiltMaxDeg\np1.mrc 6 -60 60\n');
    await writeMrc(join(scratch, 'p1.mrc'), new Volume(8, 6, Float32Array.from({ length: 512 }, (_, i) => i % 7)));
    const dir = join(scratch, 'ref.mrc');
    mkdirSync(dir);
    const r = await cli('align', '--ref', dir, '--particles', star, '--out', join(scratch, 'o.star'));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`subtomo align: ${dir} is a directory, not a file`);
  });

  it('align checks --symmetry and --angular-range, and a local search needs poses in the list', async () => {
    const star = join(scratch, 'q.star');
    writeFileSync(star, 'data_particles\nloop_\n_rlnImageName\n_rlnImagePixelSize\n_subtomoTiltMinDeg\n_subtomoTiltMaxDeg\nq1.mrc 6 -60 60\n');
    await writeMrc(join(scratch, 'q1.mrc'), new Volume(8, 6, Float32Array.from({ length: 512 }, (_, i) => i % 7)));
    await writeMrc(join(scratch, 'qref.mrc'), new Volume(8, 6, Float32Array.from({ length: 512 }, (_, i) => i % 5)));
    const align = (...flags: string[]) => cli('align', '--ref', join(scratch, 'qref.mrc'), '--particles', star, '--out', join(scratch, 'q-out.star'), '--mask-radius', '3', '--mask-edge', '1', ...flags);
    for (const [flags, message] of [
      [['--symmetry', 'T'], "--symmetry: unknown symmetry 'T'"],
      [['--angular-range', '0'], '--angular-range must be in (0, 180] degrees, got 0'],
      [['--angular-range', '200'], '--angular-range must be in (0, 180] degrees, got 200'],
      [['--angular-range', '10'], "--angular-range refines around each particle's pose, but q1"],
    ] as const) {
      const r = await align(...flags);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.err).toContain(message);
    }
  });
});

it('a closed stdout (subtomo … | head -1) ends the program quietly', async () => {
  const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader went away before the first line
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  expect(stderr).not.toMatch(/EPIPE|Error/);
  expect(code).toBe(0);
});
