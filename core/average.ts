/**
 * Wedge- or CTF-weighted, Fourier-normalised subtomogram averaging.
 *
 * Each particle is brought back to the reference frame with the inverse of its pose (design: particle ≈ Λ_β ref,
 * so the average applies Λ_β⁻¹), and its transfer M_i (core/ctf.ts: the binary wedge, or its 3D CTF model) is
 * rotated with it. The average is the Wiener-type estimate (design "CTF in alignment and averaging")
 *   F⁻¹( F(Σ Λ⁻¹ F⁻¹(M_i·F p_i)) / max(Σ Λ⁻¹ M_i², floor) )
 * — M is real, so conj(M) = M. For the binary wedge M² = M and the particle is unchanged by M (it has no data
 * outside its wedge), so this is the mean over the particles that observed each Fourier voxel, and the missing
 * wedge fills in as orientations vary. The floor (WEIGHT_FLOOR_FRACTION of the particle count) is the
 * regulariser τ: where few particles, or only CTF zeros, observed a voxel it is not divided up into noise.
 *
 * Sums are kept in real space (the FFT is linear, so F(Σ p) = Σ F(p)) as Float64Array: partial sums from
 * different processes or MPI ranks combine by plain addition and the result does not depend on the split.
 */
import { WEIGHT_FLOOR_FRACTION } from '../model/defaults.ts';
import { type ParticleTransfer, transferModel } from './ctf.ts';
import { fft3, fft3InPlace } from './fft.ts';
import { inversePose, eulerToMatrix, transformVolume, type Pose, type Mat3, transpose } from './rotate.ts';
import { Volume } from './volume.ts';

export class AverageAccumulator {
  readonly n: number;
  readonly voxelSize: number;
  /** Σ Λ⁻¹ p_i in real space. */
  readonly sum: Float64Array;
  /** Σ Λ⁻¹ M_i in the unshifted Fourier layout. */
  readonly weight: Float64Array;
  count = 0;

  private readonly moved: Volume;
  private readonly mask: Float32Array;
  private readonly rInv: Mat3 = new Float64Array(9);

  constructor(n: number, voxelSize: number) {
    this.n = n;
    this.voxelSize = voxelSize;
    this.sum = new Float64Array(n * n * n);
    this.weight = new Float64Array(n * n * n);
    this.moved = new Volume(n, voxelSize);
    this.mask = new Float32Array(n * n * n);
  }

  /**
   * Adds one particle whose alignment gave `pose` (particle ≈ Λ_pose reference) and whose Fourier components
   * went through `transfer` (its tilt range's wedge, or its CTF).
   */
  add(particle: Volume, pose: Pose, transfer: ParticleTransfer): void {
    if (particle.n !== this.n) {
      throw new Error(`particle box ${particle.n}³ does not match the average's ${this.n}³`);
    }
    if (Math.abs(particle.voxelSize - this.voxelSize) > 1e-6 * this.voxelSize) {
      throw new Error(`particle voxel size ${particle.voxelSize} Å does not match the average's ${this.voxelSize} Å`);
    }
    // The wedge's data need no filter (nothing outside it), nor do CTF-premultiplied data (they carry it once).
    const premultiplied = transfer.sampled?.kind === 'squared';
    const weighted = (transfer.ctf || transfer.sampled) && !premultiplied ? this.filtered(particle, transfer) : particle;
    transformVolume(weighted, inversePose(pose), this.moved);
    const d = this.moved.data;
    const sum = this.sum;
    for (let i = 0; i < d.length; i++) sum[i] += d[i];
    // The transfer of Λ_{R⁻¹} p is M rotated by R⁻¹ = Rᵀ.
    transpose(eulerToMatrix(pose), this.rInv);
    transferModel(this.n, this.voxelSize, transfer, this.rInv, this.mask);
    const w = this.weight;
    const m = this.mask;
    // Σ M² — for premultiplied data the volume already is Σ CTF² (RELION averages Σ R⁻¹X / Σ R⁻¹W).
    if (premultiplied) for (let i = 0; i < m.length; i++) w[i] += m[i];
    else for (let i = 0; i < m.length; i++) w[i] += m[i] * m[i];
    this.count++;
  }

  /** F⁻¹(M·F p): the particle weighted by its own (unrotated) transfer. */
  private filtered(particle: Volume, transfer: ParticleTransfer): Volume {
    const n = this.n;
    const m = transferModel(n, this.voxelSize, transfer, undefined, this.mask);
    const spec = fft3(particle.data, n);
    for (let i = 0; i < m.length; i++) {
      spec[2 * i] *= m[i];
      spec[2 * i + 1] *= m[i];
    }
    fft3InPlace(spec, n, true);
    const out = new Volume(n, this.voxelSize);
    for (let i = 0; i < out.data.length; i++) out.data[i] = spec[2 * i];
    return out;
  }

  /** Adds another accumulator's sums (e.g. one MPI rank's share). */
  merge(other: AverageAccumulator): void {
    if (other.n !== this.n) throw new Error(`cannot merge a ${other.n}³ average into a ${this.n}³ one`);
    for (let i = 0; i < this.sum.length; i++) {
      this.sum[i] += other.sum[i];
      this.weight[i] += other.weight[i];
    }
    this.count += other.count;
  }

  /** The wedge-normalised average; throws when nothing was added or no Fourier voxel was observed. */
  finish(floorFraction = WEIGHT_FLOOR_FRACTION): Volume {
    if (this.count === 0) throw new Error('cannot average zero particles');
    const n = this.n;
    const floor = Math.max(1, floorFraction * this.count);
    const spec = fft3(this.sum, n);
    const w = this.weight;
    let observed = 0;
    for (let i = 0; i < w.length; i++) {
      if (w[i] > 0) observed++;
      const s = 1 / Math.max(w[i], floor);
      spec[2 * i] *= s;
      spec[2 * i + 1] *= s;
    }
    // Only k = 0 observed means every wedge was empty: the "average" would be a constant.
    if (observed <= 1) throw new Error('all particle wedges are empty: no Fourier component was observed');
    fft3InPlace(spec, n, true);
    const out = new Volume(n, this.voxelSize);
    for (let i = 0; i < out.data.length; i++) out.data[i] = spec[2 * i];
    return out;
  }
}
