/**
 * The box and voxel size of a map from its MRC header: what a pipeline needs to know about a campaign's half
 * maps (the default mask radius of an FSC depends on the box) when the campaign's config does not say.
 */
import type { ArtifactRef } from '../io/artifacts.ts';
import { readMrcHeader } from '../io/mrc.ts';
import { checkedRef, invalidInput } from './common.ts';

export async function volumeSampling(input: { ref: ArtifactRef }): Promise<{ boxSize: number; voxelSize: number }> {
  await checkedRef(input.ref, 'map');
  const header = await readMrcHeader(input.ref.path).catch((err: Error) => {
    throw invalidInput(`map ${input.ref.path}: ${err.message}`, err);
  });
  return { boxSize: header.nx, voxelSize: header.voxelSize };
}
