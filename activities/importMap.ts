/**
 * A map of yours (a reference, a starting model) brought into the artifact store as a pipeline value: copied
 * into a store step keyed by its content, so a pipeline keeps using exactly the map it started with even if the
 * file is edited later, and it is checked to be a volume before any step relies on it.
 */
import { copyFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { type ArtifactRef, refOf } from '../io/artifacts.ts';
import { invalidInput, readVolumeArtifact, runCampaignStep, type Reuse } from './common.ts';

export interface ImportMapResult extends Reuse {
  map: ArtifactRef;
  boxSize: number;
  voxelSize: number;
}

export async function importMap(input: { workdir: string; path: string }): Promise<ImportMapResult> {
  const source = await refOf(input.path).catch((err: Error) => {
    throw invalidInput(`params.path: ${err.message}`, err);
  });
  const file = `map${extname(input.path).toLowerCase() === '.em' ? '.em' : '.mrc'}`;
  const step = await runCampaignStep(input.workdir, 'import-map', { file }, { source }, async (dir) => {
    // Read in full (and verified) first: a file that is no volume fails here, naming itself.
    await readVolumeArtifact(source, `params.path ${input.path}`);
    await copyFile(source.path, join(dir, file));
    return { map: file };
  });
  const volume = await readVolumeArtifact(step.outputs.map, `map ${input.path}`);
  return { map: step.outputs.map, boxSize: volume.n, voxelSize: volume.voxelSize, reused: step.reused };
}
