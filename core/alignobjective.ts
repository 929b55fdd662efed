/**
 * The constrained dissimilarity that local refinement (SAG, Xu's LM, Chen's iterative search) minimises,
 * evaluated fast and exactly enough to differentiate (paper Eq. 4–10; design "Missing wedge and
 * constrained correlation").
 *
 * Convention: particle ≈ Λ_β reference with β = (R, T). The PARTICLE stays fixed and the reference moves:
 *
 *   g_Ω    = constrain(particle, Ω, M)                       fixed unit vector (core/ccc)
 *   f_Ω,β  = ((F⁻¹(Ω·F(Λ_β ref)) − μ)·M) / σ                 the moving side
 *   d(β)   = ‖g_Ω − f_Ω,β‖² = 2 − 2·CCC
 *
 * with Ω = M_particle · Λ_R M_ref. Filtering commutes with the transform once the filter is rotated back:
 * F⁻¹(Ω·F(Λ_β f)) = Λ_β F⁻¹((Λ_R⁻¹ Ω)·F(f)), and (Λ_R⁻¹ Ω)(k) = M_particle(R k)·M_ref(k). So the
 * reference is filtered ONCE with that mask (the "prefiltered reference" F̃) and every evaluation only
 * samples F̃ at R⁻¹(x − c − T) + c by trilinear interpolation — no FFT per evaluation, and the derivative
 * with respect to β is exactly ∇F̃ at the sample point chained through ∂(R⁻¹(x − c − T))/∂β.
 *
 * That identity holds for the continuous transform. In an n-periodic box it does not: a wedge-filtered
 * volume has long streaks that wrap around the box, and they wrap differently before and after a rotation
 * (measured: 5–35 % relative error of f_Ω,β at 30° for a ±60° wedge, 32³–64³). So every full evaluation
 * (`freeze`) also computes the literal f_β = F⁻¹(Ω·F(Λ_β ref)) once (one transform and one FFT pair) and
 * stores the difference C = literal − fast at each masked voxel; all evaluations until the next `freeze`
 * use fast + C. The loss at a freeze point is therefore the literal one (the paper's Eq. 6; equal to
 * 2 − 2·CCC of core/ccc to float rounding, see test/sag.test.ts), and between freezes the fast path supplies exact
 * derivatives of a loss that agrees with it to first order. At the true pose of a noise-free particle the
 * literal residual vanishes, so the truth is a fixed point. Without wedges C = 0 and nothing extra runs.
 *
 * The rotation also enters the prefilter (through M_particle(R k)) and, with a reference wedge, Ω and
 * hence g_Ω. `freeze` rebuilds them when R has moved more than `refreshAngle(n)` from the rotation they
 * were built for. `exactCcc` scores a pose with core/ccc itself, for reporting.
 *
 * Reference grid: the reference may be given on a finer grid than the particle, s·n voxels for an integer
 * s (core/align.ts passes a binned reference oversampled 2×, core/resample.ts). Everything the loss is
 * summed over stays on the particle's n³ grid; the moving reference is read at s·(R⁻¹(x − c − T) + c),
 * where trilinear interpolation of a map whose signal reaches the coarse grid's Nyquist would be poor.
 * Shifts stay in particle voxels.
 *
 * Slices: the paper's loss is J = (1/2n) Σ_i h_i over x-slices, h_i = ‖g_Ω(x_i) − f_Ω,β(x_i)‖². The slice
 * kernels below evaluate J_i = h_i/2 (so J = mean_i J_i) and its gradient with the normalisation μ, σ
 * (and C) held at the values of the last `freeze` (a full pass): a slice cannot renormalise the volume.
 * Only voxels with M > 0 are visited; they are kept in compact per-slice lists.
 */
import { cccWorkspace, dissimilarity } from './ccc.ts';
import { fft3, ifft3Real } from './fft.ts';
import {
  type Mat3,
  type Pose,
  poseFromMatrix,
  rotationAngle,
  sampleTrilinear,
  sampleTrilinearWithGradient,
  transformVolumeByMatrix,
  transpose,
} from './rotate.ts';
import { Volume, centreOf, freqOf } from './volume.ts';
import { type TiltRange, wedgeMask } from './wedge.ts';

/**
 * Rebuild the wedge-dependent filters once the rotation has moved this far from the one they were built
 * for: when the wedge boundary has moved by REFRESH_SHIFT Fourier voxels at the box's Nyquist shell n/2
 * (1° at 64³, 4° at a 16³ binned box). Between rebuilds the literal correction of every `freeze` absorbs
 * the filter's lag in the loss; only the gradients see it. Measured on 60 noisy ±60° particles at 16³
 * (bench/pass.ts): 0.14 … 1.12 voxel reach the same CCCs and errors, 0.14 costs 25 % more time, and never
 * rebuilding loses accuracy.
 */
export function refreshAngle(n: number): number {
  return REFRESH_SHIFT / (n / 2);
}
const REFRESH_SHIFT = 0.56;

export interface ObjectiveSetup {
  /** Real-space mask M (n³, soft or binary); omitted = the whole box. */
  mask?: Float32Array;
  /** Tilt range of the particle; omitted = fully observed. */
  wedgeParticle?: TiltRange;
  /** Tilt range of the reference (usually omitted: an average is fully observed). */
  wedgeRef?: TiltRange;
}

export class ConstrainedObjective {
  /** Box of the particle (and of every sum over voxels). */
  readonly n: number;
  /** Centre voxel c = floor(n/2). */
  readonly c: number;
  /** Reference grid points per particle voxel (the reference is s·n voxels wide). */
  readonly s: number;
  /** Number of voxels with M > 0. */
  readonly count: number;
  /** Voxels of x-slice i are entries sliceStart[i] … sliceStart[i+1]−1 of the compact lists. */
  readonly sliceStart: Int32Array;
  /** Voxel samples taken so far (value or value + gradient): the cost measure of every refiner. */
  samples = 0;
  /**
   * Full-volume work done so far, for profiles (bench/pass.ts): literal corrections (`anchor`), rebuilds
   * of the wedge filters (`prepare`) and exact scores (`exactCcc`), with their wall time in ms.
   */
  readonly work = { anchors: 0, anchorMs: 0, prepares: 0, prepareMs: 0, scores: 0, scoreMs: 0 };
  /** Frozen normalisation of the moving side (mask-weighted mean and norm), set by `freeze`. */
  mu = 0;
  sigma = 1;

  private readonly reference: Volume;
  private readonly particle: Volume;
  private readonly setup: ObjectiveSetup;
  private readonly vy: Float64Array;
  private readonly vz: Float64Array;
  private readonly vm: Float64Array;
  private readonly vIndex: Int32Array;
  /** g_Ω at the compact voxels. */
  private readonly vg: Float64Array;
  private readonly maskSum: number;
  /** Box and centre of the reference grid (s·n, s·c). */
  private readonly nr: number;
  private readonly cr: number;
  private readonly refSpectrum: Float64Array;
  /** Work spectra on the reference grid (prefilter) and on the particle grid (literal f_β). */
  private readonly spectrum: Float64Array;
  private readonly literalSpectrum: Float64Array;
  private readonly filtered: Float32Array;
  private readonly raw: Float64Array;
  /** Literal minus fast f_β at the compact voxels, from the last `freeze` (0 without wedges). */
  private readonly correction: Float64Array;
  private readonly literal: Float32Array;
  private readonly maskBuffer: Float32Array;
  /** Per axis, the frequency indices the prefilter keeps on the particle and on the reference grid. */
  private readonly bandParticle: Int32Array;
  private readonly bandReference: Int32Array;
  private readonly overlapBuffer: Float32Array;
  private readonly grad3 = new Float64Array(3);
  /** Per-slice offsets written by `sliceFrame`: ux, ty, tz and the sample point of uy = uz = 0. */
  private readonly frame = new Float64Array(6);
  private readonly refreshAngle: number;
  private prepared: Mat3 | null = null;
  private moved: Volume | null = null;

  constructor(reference: Volume, particle: Volume, setup: ObjectiveSetup = {}) {
    const n = particle.n;
    const nr = reference.n;
    const s = nr / n;
    if (!Number.isInteger(s) || (s > 1 && n % 2 !== 0)) {
      throw new RangeError(`reference is ${nr}³ but the particle is ${n}³: the reference grid must be the particle's or an even multiple of it`);
    }
    const len = n * n * n;
    if (setup.mask && setup.mask.length !== len) {
      throw new RangeError(`alignment mask has ${setup.mask.length} values, a ${n}³ box needs ${len}`);
    }
    this.n = n;
    this.c = centreOf(n);
    this.s = s;
    this.refreshAngle = refreshAngle(n);
    this.nr = nr;
    this.cr = centreOf(nr);
    this.reference = reference;
    this.particle = particle;
    this.setup = setup;
    const mask = setup.mask;
    const starts = new Int32Array(n + 1);
    const indices: number[] = [];
    let maskSum = 0;
    for (let x = 0; x < n; x++) {
      starts[x] = indices.length;
      for (let z = 0; z < n; z++) {
        for (let y = 0; y < n; y++) {
          const i = x + n * (y + n * z);
          const m = mask ? mask[i] : 1;
          if (m > 0) {
            indices.push(i);
            maskSum += m;
          }
        }
      }
    }
    starts[n] = indices.length;
    if (indices.length === 0) throw new Error('alignment mask is empty: no voxel has a positive mask value');
    this.count = indices.length;
    this.sliceStart = starts;
    this.maskSum = maskSum;
    this.vIndex = Int32Array.from(indices);
    this.vy = new Float64Array(this.count);
    this.vz = new Float64Array(this.count);
    this.vm = new Float64Array(this.count);
    this.vg = new Float64Array(this.count);
    // y and z in reference-grid units, s·y and s·z: the kernels' offsets from the centre come out scaled
    for (let v = 0; v < this.count; v++) {
      const i = this.vIndex[v];
      this.vy[v] = s * (Math.floor(i / n) % n);
      this.vz[v] = s * Math.floor(i / (n * n));
      this.vm[v] = mask ? mask[i] : 1;
    }
    const lenRef = nr * nr * nr;
    this.raw = new Float64Array(this.count);
    this.correction = new Float64Array(this.count);
    this.literal = new Float32Array(len);
    this.refSpectrum = fft3(reference.data, nr);
    this.spectrum = new Float64Array(2 * lenRef);
    this.literalSpectrum = s === 1 ? this.spectrum : new Float64Array(2 * len);
    this.filtered = new Float32Array(lenRef);
    this.maskBuffer = new Float32Array(len);
    [this.bandParticle, this.bandReference] = band(n, s);
    this.overlapBuffer = new Float32Array(len);
  }

  /** Mean of J_i over slices = (1/2n)·d: the paper's J for a given d. */
  lossOfDissimilarity(d: number): number {
    return d / (2 * this.n);
  }

  /** Samples taken, in units of one full pass over the masked voxels. */
  get passes(): number {
    return this.samples / this.count;
  }

  /**
   * Build g_Ω and the prefiltered reference for rotation R if they are not built yet or R has moved more
   * than `refreshAngle(n)` from the rotation they were built for (only matters with wedges).
   */
  private prepare(R: Mat3): void {
    const { wedgeParticle, wedgeRef } = this.setup;
    const first = this.prepared === null;
    if (!first) {
      if (!wedgeParticle && !wedgeRef) return;
      if (rotationAngle(this.prepared!, R) < this.refreshAngle) return;
    }
    const began = performance.now();
    const n = this.n;
    if (first || wedgeRef) {
      const omega = this.overlapAt(R);
      const g = cccWorkspace(n).constrain(this.particle.data, omega, this.setup.mask);
      for (let v = 0; v < this.count; v++) this.vg[v] = g[this.vIndex[v]];
    }
    if (first || wedgeParticle) {
      if (!wedgeParticle && !wedgeRef && this.s === 1) {
        this.filtered.set(this.reference.data);
      } else {
        // (Λ_R⁻¹ Ω)(k) = M_particle(R k)·M_ref(k); wedgeMask(n, tilt, Rᵀ) is M(R k), on the particle grid.
        const pass = this.maskBuffer;
        if (wedgeParticle) wedgeMask(n, wedgeParticle, transpose(R), pass);
        else pass.fill(1);
        if (wedgeRef) {
          const mr = wedgeMask(n, wedgeRef);
          for (let i = 0; i < pass.length; i++) pass[i] *= mr[i];
        }
        // On a finer reference grid only the particle grid's band |k_a| < n/2 is kept (see `band`).
        const spec = this.spectrum;
        const ref = this.refSpectrum;
        const { bandParticle: bp, bandReference: br } = this;
        const nr = this.nr;
        if (this.s > 1) spec.fill(0);
        for (let z = 0; z < bp.length; z++) {
          for (let y = 0; y < bp.length; y++) {
            const rowP = n * (bp[y] + n * bp[z]);
            const rowR = nr * (br[y] + nr * br[z]);
            for (let x = 0; x < bp.length; x++) {
              const m = pass[rowP + bp[x]];
              const i = 2 * (rowR + br[x]);
              spec[i] = ref[i] * m;
              spec[i + 1] = ref[i + 1] * m;
            }
          }
        }
        ifft3Real(spec, nr, this.filtered);
      }
    }
    this.prepared = Float64Array.from(R);
    this.work.prepares++;
    this.work.prepareMs += performance.now() - began;
  }

  /**
   * Ω = M_particle · Λ_R M_ref for rotation R (all ones without wedges), read-only: a reused buffer, or the
   * shared cached particle wedge when the reference has none.
   */
  overlapAt(R: Mat3): Float32Array {
    const { wedgeParticle, wedgeRef } = this.setup;
    if (wedgeParticle && !wedgeRef) return wedgeMask(this.n, wedgeParticle);
    const omega = this.overlapBuffer;
    if (wedgeRef) wedgeMask(this.n, wedgeRef, R, omega);
    else omega.fill(1);
    if (wedgeParticle) {
      const mp = wedgeMask(this.n, wedgeParticle);
      for (let i = 0; i < omega.length; i++) omega[i] *= mp[i];
    }
    return omega;
  }

  /**
   * Full pass at (R, T): rebuilds the wedge filters if R moved (see `prepare`), anchors the fast path to the
   * literal f_β (the correction C), sets the frozen μ, σ used by the slice kernels and returns the literal
   * d = ‖g_Ω − f_Ω,β‖² with exact normalisation (f_Ω,β at the compact voxels to `out` when given).
   */
  freeze(R: Mat3, T: ArrayLike<number>, out?: Float64Array): number {
    this.prepare(R);
    if (!this.setup.wedgeParticle && !this.setup.wedgeRef) return this.evaluate(R, T, out, true);
    // the anchor leaves the literal f_β in `raw`: no second pass
    this.anchor(R, T);
    return this.score(out, true);
  }

  /**
   * `freeze` at the start pose of a refinement, with every rotation-dependent filter rebuilt for R: a
   * refinement's result then never depends on what an earlier refinement left in the objective (so the
   * jobs of one particle can share it in any order).
   */
  start(R: Mat3, T: ArrayLike<number>, out?: Float64Array): number {
    this.prepared = null;
    return this.freeze(R, T, out);
  }

  /** C = F⁻¹(Ω·F(Λ_β ref)) − Λ_β F̃ at the compact voxels; leaves the literal F⁻¹(Ω·F(Λ_β ref)) in `raw`. */
  private anchor(R: Mat3, T: ArrayLike<number>): void {
    const began = performance.now();
    const n = this.n;
    const moved = this.transformedReference(R, T);
    const spec = fft3(moved.data, n, this.literalSpectrum);
    const omega = this.overlapAt(R);
    for (let i = 0; i < omega.length; i++) {
      spec[2 * i] *= omega[i];
      spec[2 * i + 1] *= omega[i];
    }
    const literal = ifft3Real(spec, n, this.literal);
    const { correction, raw, vIndex } = this;
    correction.fill(0);
    for (let i = 0; i < n; i++) this.sampleSlice(i, R, T, raw);
    for (let v = 0; v < this.count; v++) {
      const exact = literal[vIndex[v]];
      correction[v] = exact - raw[v];
      raw[v] = exact;
    }
    this.work.anchors++;
    this.work.anchorMs += performance.now() - began;
  }

  /**
   * d(β) with exact normalisation (μ, σ of this pose) and the correction C of the last `freeze`; writes
   * f_Ω,β at the compact voxels to `out` when given. `freezeNormalisation` also stores μ, σ.
   */
  evaluate(R: Mat3, T: ArrayLike<number>, out?: Float64Array, freezeNormalisation = false): number {
    if (this.prepared === null) throw new Error('refinement objective: call freeze() at the start pose before evaluating');
    for (let i = 0; i < this.n; i++) this.sampleSlice(i, R, T, this.raw);
    return this.score(out, freezeNormalisation);
  }

  /** d from the unnormalised f_β in `raw` (see `evaluate`). */
  private score(out: Float64Array | undefined, freezeNormalisation: boolean): number {
    const { vm, vg, count, raw } = this;
    let weighted = 0;
    for (let v = 0; v < count; v++) weighted += vm[v] * raw[v];
    const mu = weighted / this.maskSum;
    let norm2 = 0;
    for (let v = 0; v < count; v++) {
      const a = (raw[v] - mu) * vm[v];
      norm2 += a * a;
    }
    if (!(norm2 > 0)) {
      throw new Error('refinement: the transformed reference is constant inside the mask (moved out of the box?)');
    }
    const inv = 1 / Math.sqrt(norm2);
    let d = 0;
    for (let v = 0; v < count; v++) {
      const f = (raw[v] - mu) * vm[v] * inv;
      if (out) out[v] = f;
      const r = vg[v] - f;
      d += r * r;
    }
    if (freezeNormalisation) {
      this.mu = mu;
      this.sigma = Math.sqrt(norm2);
    }
    return d;
  }

  /** Λ_β reference on the particle grid (read from the reference grid), in a reused volume. */
  private transformedReference(R: Mat3, T: ArrayLike<number>): Volume {
    this.moved ??= new Volume(this.n, (this.reference.voxelSize * this.nr) / this.n);
    return transformVolumeByMatrix(this.reference, R, T, this.moved);
  }

  /** g_Ω at the compact voxels (read-only view). */
  get target(): Float64Array {
    return this.vg;
  }

  /**
   * Offsets of slice i on the reference grid: u = s·(x − c − T) has the slice's constant ux, and voxel v
   * has uy = vy[v] − ty, uz = vz[v] − tz; the sample point is cr + Rᵀu = base + uy·Rᵀe_y + uz·Rᵀe_z.
   */
  private sliceFrame(i: number, R: Mat3, T: ArrayLike<number>): void {
    const { s, c, cr, frame } = this;
    const ux = s * (i - c - T[0]);
    frame[0] = ux;
    frame[1] = s * (c + T[1]);
    frame[2] = s * (c + T[2]);
    // (Rᵀu)_a = Σ_b R[b][a]·u_b
    frame[3] = cr + R[0] * ux;
    frame[4] = cr + R[1] * ux;
    frame[5] = cr + R[2] * ux;
  }

  /** Unnormalised f_β = F̃(cr + Rᵀ·s·(x − c − T)) + C of slice i into out[sliceStart[i] …]. */
  private sampleSlice(i: number, R: Mat3, T: ArrayLike<number>, out: Float64Array): void {
    const { nr, vy, vz, filtered, correction, frame } = this;
    const start = this.sliceStart[i], end = this.sliceStart[i + 1];
    this.sliceFrame(i, R, T);
    const ty = frame[1], tz = frame[2], bx = frame[3], by = frame[4], bz = frame[5];
    const r3 = R[3], r4 = R[4], r5 = R[5], r6 = R[6], r7 = R[7], r8 = R[8];
    for (let v = start; v < end; v++) {
      const uy = vy[v] - ty, uz = vz[v] - tz;
      out[v] = sampleTrilinear(filtered, nr, bx + r3 * uy + r6 * uz, by + r4 * uy + r7 * uz, bz + r5 * uy + r8 * uz) + correction[v];
    }
    this.samples += end - start;
  }

  /** J_i = ½‖g_Ω(x_i) − f_Ω,β(x_i)‖² with the frozen μ, σ. */
  sliceValue(i: number, R: Mat3, T: ArrayLike<number>): number {
    const { nr, vy, vz, vm, vg, filtered, correction, mu, frame } = this;
    const invSigma = 1 / this.sigma;
    const start = this.sliceStart[i], end = this.sliceStart[i + 1];
    this.sliceFrame(i, R, T);
    const ty = frame[1], tz = frame[2], bx = frame[3], by = frame[4], bz = frame[5];
    const r3 = R[3], r4 = R[4], r5 = R[5], r6 = R[6], r7 = R[7], r8 = R[8];
    let loss = 0;
    for (let v = start; v < end; v++) {
      const uy = vy[v] - ty, uz = vz[v] - tz;
      const F = sampleTrilinear(filtered, nr, bx + r3 * uy + r6 * uz, by + r4 * uy + r7 * uz, bz + r5 * uy + r8 * uz) + correction[v];
      const r = vg[v] - (F - mu) * vm[v] * invSigma;
      loss += r * r;
    }
    this.samples += end - start;
    return 0.5 * loss;
  }

  /**
   * J_i and its gradient with respect to (e0, e1, e2, T): grad[p] for p < 3 is ∂J_i/∂e_p given
   * dR[p] = ∂R/∂e_p (any angle parametrisation), grad[3 + j] = ∂J_i/∂T_j. Frozen μ, σ.
   *
   * With the sample point p(x) = cr + Rᵀu, u = s·(x − c − T), and w = −r·M/σ (r the residual),
   * ∂J_i/∂β = Σ_x w ∇F̃(p)·∂p/∂β where ∂p/∂e_p = (∂R/∂e_p)ᵀ u and ∂p/∂T = −s·Rᵀ; so it suffices to
   * accumulate G = Σ w ∇F̃ uᵀ and Σ w ∇F̃.
   */
  sliceGradient(i: number, R: Mat3, T: ArrayLike<number>, dR: readonly Mat3[], grad: Float64Array): number {
    const { nr, vy, vz, vm, vg, filtered, correction, mu, grad3, frame } = this;
    const invSigma = 1 / this.sigma;
    const start = this.sliceStart[i], end = this.sliceStart[i + 1];
    this.sliceFrame(i, R, T);
    const ux = frame[0], ty = frame[1], tz = frame[2], bx = frame[3], by = frame[4], bz = frame[5];
    const r3 = R[3], r4 = R[4], r5 = R[5], r6 = R[6], r7 = R[7], r8 = R[8];
    const nm1 = nr - 1, nn = nr * nr;
    let loss = 0;
    // G[a][b] = Σ w·∇F_a·u_b; the u_x column is ux·Σ w∇F_a since ux is constant on a slice.
    let sx = 0, sy = 0, sz = 0;
    let gxy = 0, gxz = 0, gyy = 0, gyz = 0, gzy = 0, gzz = 0;
    for (let v = start; v < end; v++) {
      const uy = vy[v] - ty, uz = vz[v] - tz;
      const px = bx + r3 * uy + r6 * uz, py = by + r4 * uy + r7 * uz, pz = bz + r5 * uy + r8 * uz;
      // sampleTrilinearWithGradient's interior case written out: this is the hottest loop of SAG
      const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
      let F: number, dx: number, dy: number, dz: number;
      if (x0 >= 0 && x0 < nm1 && y0 >= 0 && y0 < nm1 && z0 >= 0 && z0 < nm1) {
        const fx = px - x0, fy = py - y0, fz = pz - z0;
        const k = x0 + nr * (y0 + nr * z0);
        const v000 = filtered[k], v100 = filtered[k + 1], v010 = filtered[k + nr], v110 = filtered[k + nr + 1];
        const v001 = filtered[k + nn], v101 = filtered[k + nn + 1], v011 = filtered[k + nn + nr], v111 = filtered[k + nn + nr + 1];
        const dx00 = v100 - v000, dx10 = v110 - v010, dx01 = v101 - v001, dx11 = v111 - v011;
        const c00 = v000 + fx * dx00, c10 = v010 + fx * dx10, c01 = v001 + fx * dx01, c11 = v011 + fx * dx11;
        const c0 = c00 + fy * (c10 - c00), c1 = c01 + fy * (c11 - c01);
        const dx0 = dx00 + fy * (dx10 - dx00), dx1 = dx01 + fy * (dx11 - dx01);
        F = c0 + fz * (c1 - c0);
        dx = dx0 + fz * (dx1 - dx0);
        dy = (1 - fz) * (c10 - c00) + fz * (c11 - c01);
        dz = c1 - c0;
      } else {
        F = sampleTrilinearWithGradient(filtered, nr, px, py, pz, grad3);
        dx = grad3[0];
        dy = grad3[1];
        dz = grad3[2];
      }
      const m = vm[v] * invSigma;
      const r = vg[v] - (F + correction[v] - mu) * m;
      loss += r * r;
      const w = -r * m;
      const ax = w * dx, ay = w * dy, az = w * dz;
      sx += ax; sy += ay; sz += az;
      gxy += ax * uy; gxz += ax * uz;
      gyy += ay * uy; gyz += ay * uz;
      gzy += az * uy; gzz += az * uz;
    }
    this.samples += end - start;
    const g00 = sx * ux, g10 = sy * ux, g20 = sz * ux;
    for (let p = 0; p < 3; p++) {
      const D = dR[p];
      // Σ_ab (∂R/∂e_p)[b][a]·G[a][b]
      grad[p] =
        D[0] * g00 + D[3] * gxy + D[6] * gxz +
        D[1] * g10 + D[4] * gyy + D[7] * gyz +
        D[2] * g20 + D[5] * gzy + D[8] * gzz;
    }
    const s = this.s;
    for (let j = 0; j < 3; j++) grad[3 + j] = -s * (R[3 * j] * sx + R[3 * j + 1] * sy + R[3 * j + 2] * sz);
    return 0.5 * loss;
  }

  /**
   * Squared norms of the six columns of slice i's Jacobian ∂f_Ω,β(x_i)/∂β (frozen μ, σ), for the
   * paper's Lipschitz estimate (Eq. 13). Same parametrisation as `sliceGradient`.
   */
  sliceJacobianColumns(i: number, R: Mat3, T: ArrayLike<number>, dR: readonly Mat3[], out: Float64Array): void {
    const { nr, s, vy, vz, vm, filtered, grad3, frame } = this;
    const invSigma = 1 / this.sigma;
    const start = this.sliceStart[i], end = this.sliceStart[i + 1];
    this.sliceFrame(i, R, T);
    const ux = frame[0], ty = frame[1], tz = frame[2], bx = frame[3], by = frame[4], bz = frame[5];
    out.fill(0);
    for (let v = start; v < end; v++) {
      const uy = vy[v] - ty, uz = vz[v] - tz;
      sampleTrilinearWithGradient(
        filtered, nr,
        bx + R[3] * uy + R[6] * uz, by + R[4] * uy + R[7] * uz, bz + R[5] * uy + R[8] * uz,
        grad3,
      );
      const m = vm[v] * invSigma;
      const ax = m * grad3[0], ay = m * grad3[1], az = m * grad3[2];
      for (let p = 0; p < 3; p++) {
        const D = dR[p];
        // ∇·(∂R/∂e_p)ᵀu = Σ_a ∇_a Σ_b D[b][a] u_b
        const j =
          ax * (D[0] * ux + D[3] * uy + D[6] * uz) +
          ay * (D[1] * ux + D[4] * uy + D[7] * uz) +
          az * (D[2] * ux + D[5] * uy + D[8] * uz);
        out[p] += j * j;
      }
      for (let k = 0; k < 3; k++) {
        const j = -s * (R[3 * k] * ax + R[3 * k + 1] * ay + R[3 * k + 2] * az);
        out[3 + k] += j * j;
      }
    }
    this.samples += end - start;
  }

  /**
   * CCC of the pose computed literally with core/ccc: transform the reference by (R, T), constrain both
   * with Ω = M_particle · Λ_R M_ref and the mask. Used to report scores, never inside a refinement loop.
   */
  exactCcc(R: Mat3, T: ArrayLike<number>): number {
    const began = performance.now();
    const moved = this.transformedReference(R, T);
    const ccc = cccWorkspace(this.n).ccc(this.particle.data, moved.data, this.overlapAt(R), this.setup.mask);
    this.work.scores++;
    this.work.scoreMs += performance.now() - began;
    return ccc;
  }
}

/**
 * Frequencies the prefiltered reference keeps, per axis, as indices on the particle grid (n) and on the
 * reference grid (s·n): all of them when s = 1; else those with |k| < n/2. The literal f_β lives on the
 * particle grid, so nothing beyond its band can reach the loss, and the finer grid only serves
 * interpolation; the particle grid's Nyquist plane is dropped because it stands for both ±n/2.
 */
function band(n: number, s: number): [Int32Array, Int32Array] {
  if (s === 1) {
    const all = Int32Array.from({ length: n }, (_, i) => i);
    return [all, all];
  }
  const particle: number[] = [];
  const reference: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = freqOf(i, n);
    if (Math.abs(k) >= n / 2) continue;
    particle.push(i);
    reference.push(k < 0 ? k + s * n : k);
  }
  return [Int32Array.from(particle), Int32Array.from(reference)];
}

/** Where a local refinement starts: a candidate rotation and its translation (e.g. from FRM + FTM). */
export interface RefinementStart {
  R: ArrayLike<number>;
  t: ArrayLike<number>;
}

/** Outcome of one local refinement; plain numbers only, so it crosses MPI / JSON unchanged. */
export interface RefinementResult {
  /** Refined rotation, row-major 3×3. */
  R: number[];
  /** Refined shift, voxels. */
  t: [number, number, number];
  /** The same pose as ZYZ Euler angles (radians) and shift. */
  pose: Pose;
  /** CCC of the refined pose computed with core/ccc (`exactCcc`). */
  ccc: number;
  /** 2 − 2·ccc (paper Eq. 8). */
  dissimilarity: number;
  /** Parameter updates made (SAG steps, accepted + rejected LM trials, Chen rounds). */
  iterations: number;
  /** Objective cost in full passes over the masked voxels (a slice counts as its share of them). */
  evaluations: number;
  /** Loss after each epoch / iteration as the refiner defines it (see each module), starting at the start pose. */
  lossTrace: number[];
}

/** Score (R, t) exactly and package it. */
export function refinementResult(
  objective: ConstrainedObjective,
  R: Mat3,
  t: ArrayLike<number>,
  iterations: number,
  evaluations: number,
  lossTrace: number[],
): RefinementResult {
  const ccc = objective.exactCcc(R, t);
  const shift: [number, number, number] = [t[0], t[1], t[2]];
  return {
    R: Array.from(R),
    t: shift,
    pose: poseFromMatrix(R, shift),
    ccc,
    dissimilarity: dissimilarity(ccc),
    iterations,
    evaluations,
    lossTrace,
  };
}
