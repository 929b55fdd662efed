/**
 * A tiny two-structure mixture for classification tests, simulated as one data set (drivers/simulate.ts
 * mixtures): noise-free (or noisy) subtomograms of the D7 GroEL-like phantom and of RuBisCO (1BXN,
 * ../shared/data), 32³ at 12 Å, with their true poses and true classes (subtomoTrueClass).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { radians } from '../../core/rotate.ts';
import { symmetricTilt } from '../../core/wedge.ts';
import { simulatedComponents, writeSimulatedDataset } from '../../drivers/simulate.ts';
import { formatStar, readStar, starBlock } from '../../io/star.ts';

export const RUBISCO = join(import.meta.dirname, '..', '..', '..', 'shared', 'data', '1BXN.pdb');

/** Simulates `count` particles, half of each structure, into `dir` (particles.star and the MRCs). */
export async function simulateMixture(dir: string, count: number, snr = Infinity): Promise<void> {
  const config = {
    n: 32, voxelSize: 12, resolution: 30, tilt: symmetricTilt(60), tiltStep: radians(3), snr, maxShift: 1, seed: 4,
    imaging: { ctf: null, mtf: false },
  };
  const components = simulatedComponents([{ fraction: 1 }, { pdb: RUBISCO, fraction: 1 }], 'atomic-number');
  await writeSimulatedDataset(dir, { config, count, components, weighting: 'atomic-number' });
}

/** The list `star` with its particle rows in reverse order, written to `path`. */
export async function writeReversed(star: string, path: string): Promise<void> {
  const tables = await readStar(star);
  const particles = starBlock(tables, 'particles', star);
  await writeFile(path, formatStar(tables.map((t) => (t === particles ? { ...t, rows: [...t.rows].reverse() } : t))));
}
