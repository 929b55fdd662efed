/**
 * A job particle's transfer (core/ctf.ts ParticleTransfer) from what the job carries — its tilt range, its
 * per-tilt CTF, or its CTF volume file — read the same way by averaging (averageWork.ts) and alignment
 * (alignWork.ts, drivers/align.ts FRM).
 */
import { type ParticleTransfer, type SampledTransfer, ctfMatched } from '../core/ctf.ts';
import type { Volume } from '../core/volume.ts';
import type { TiltRange } from '../core/wedge.ts';
import { readCtfImage } from '../io/ctfImage.ts';
import type { CtfImageRef, ParticleCtfRef } from '../model/jobs.ts';

/** RELION's minimum multiplicity of a sampled frequency (MlOptimiser::applySubtomoCorrection). */
const MIN_MULTIPLICITY = 0.01;

/**
 * A particle's CTF volume on its Fourier grid. Where RELION's multiplicity says a frequency got (almost) no
 * tilt-plane sample, the volume is zeroed, as relion_refine's applySubtomoCorrection does (threshold 0.01).
 */
async function readSampledTransfer(name: string, ref: CtfImageRef, particle: Volume): Promise<SampledTransfer> {
  let image;
  try {
    image = await readCtfImage(ref.path, { n: particle.n, voxelSize: particle.voxelSize, premultiplied: ref.premultiplied });
  } catch (err) {
    throw new Error(`particle ${name}: ${(err as Error).message}`);
  }
  const { values, multiplicity } = image;
  if (multiplicity) for (let i = 0; i < values.length; i++) if (multiplicity[i] < MIN_MULTIPLICITY) values[i] = 0;
  return { kind: image.kind, values };
}

/** The transfer of particle `name` (its data `volume`): CTF parameters, its CTF volume, or the binary wedge. */
export async function readParticleTransfer(name: string, p: ParticleCtfRef & { tilt: TiltRange }, volume: Volume): Promise<ParticleTransfer> {
  const sampled = p.ctfImage && await readSampledTransfer(name, p.ctfImage, volume);
  return { tilt: p.tilt, ...(p.ctf && { ctf: p.ctf }), ...(sampled && { sampled }) };
}

/** The particle as alignment compares it (core/ctf.ts ctfMatched): CTF-matched when it has a CTF. */
export async function alignmentView(name: string, p: ParticleCtfRef & { tilt: TiltRange }, volume: Volume): Promise<Volume> {
  if (!p.ctf && !p.ctfImage) return volume;
  const transfer = await readParticleTransfer(name, p, volume);
  try {
    return ctfMatched(volume, transfer);
  } catch (err) {
    throw new Error(`particle ${name}: ${(err as Error).message}`);
  }
}
