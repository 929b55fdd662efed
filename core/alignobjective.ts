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
 * SAG (core/sag.ts) uses the literal d more fully: a `freeze` made `forGradient` also gives the exact
 * gradient of the literal d (`literalGradient`, by the adjoint of the wedge filter) and its Gauss–Newton
 * matrix (`literalMetric`), and then the fast path samples the reference itself, unfiltered (see `freeze`).
 * The fast path's rigid motion turns the particle's wedge with the reference; the literal keeps it in the
 * particle frame, which adds a term to the gradient the fast path cannot have (measured at LM's optimum
 * of a ±60° particle: opposite signs in two of the three angles).
 *
 * Reference grid: the reference may be given on a finer grid than the particle, s·n voxels for an integer
 * s (core/align.ts passes a binned reference oversampled 2×, core/resample.ts). Everything the loss is
 * summed over stays on the particle's n³ grid; the moving reference is read at s·(R⁻¹(x − c − T) + c),
 * where trilinear interpolation of a map whose signal reaches the coarse grid's Nyquist would be poor.
 * Shifts stay in particle voxels.
 *
 * Slices: the paper's loss is J = (1/2n) Σ_i h_i over x-slices, h_i = ‖g_Ω(x_i) − f_Ω,β(x_i)‖² (Eq. 10),
 * whose sum is d/(2n). A slice cannot renormalise the volume, so its h_i must hold μ and σ at the values of
 * the last full pass; but then ∂h_i/∂β misses the derivative of the normalisation: with the CCC c = Σ g_Ω·f_Ω,β,
 * a change of the moving side's masked energy by ε changes d by 2c·ε but Σ h_i by 2ε, so the frozen h_i
 * reward shrinking the reference inside the mask by (1 − c)/c times what the data says (7× at c = 0.12,
 * SNR 0.003: SAG converged to poses 1e-3 above LM's d, and at SNR 0.001 it pushed the reference out of
 * the box). The slice functions here are therefore the per-slice terms of d's second-order model in f,
 *
 *   J̃_i(β) = Σ_{x∈i} [ ½c·f(x)² − (g(x) − ē)·f(x) ] + ½(2 − c)·|i|/|M|,   f = (F_β + C − μ)·M/σ,
 *
 * with c, μ, σ and ē = Σ M·(g − c·f)/Σ M (the derivative of the mask-weighted mean μ) frozen at the last
 * full pass (`freeze`, or `evaluate` with `freezeNormalisation`). Σ_i ∂J̃_i/∂β is then exactly ∂d/∂β / 2,
 * and Σ_i J̃_i = d/2 at the frozen pose, so mean_i J̃_i is the paper's J = d/(2n) there. Only voxels with
 * M > 0 are visited; they are kept in compact per-slice lists.
 */
import { cccWorkspace, dissimilarity } from './ccc.ts';
import { fft3, ifft3Real } from './fft.ts';
import {
  type Mat3,
  type Pose,
  poseFromMatrix,
  rotationAngle,
  rowRange,
  sampleBorder,
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
  /**
   * fft3 of the reference, when the caller has it (core/align.ts AlignmentReference computes it once for
   * every particle aligned to that reference); omitted = computed here.
   */
  referenceSpectrum?: Float64Array;
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
  readonly work = { anchors: 0, anchorMs: 0, gradients: 0, gradientMs: 0, prepares: 0, prepareMs: 0, scores: 0, scoreMs: 0 };
  /**
   * Frozen at the last full pass (see the module doc): the moving side's mask-weighted mean μ and norm σ,
   * the CCC c and ē, the mask-weighted mean of g_Ω − c·f_Ω,β.
   */
  mu = 0;
  sigma = 1;
  ccc = 0;
  residualMean = 0;

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
  /** What the slice kernels sample: `filtered` (the prefilter), or the reference itself (see `freeze`). */
  private fastMap: Float32Array;
  private readonly raw: Float64Array;
  /** Literal minus fast f_β at the compact voxels, from the last `freeze` (0 without wedges). */
  private readonly correction: Float64Array;
  private readonly literal: Float32Array;
  /** Ω-weighted half spectra of the literal Jacobian's columns (`literalMetric`). */
  private jacobianSpectra: Float64Array | null = null;
  /** ∂d/∂L, then its wedge-filtered adjoint (`literalGradient`); scratch of `literalMetric`, `literalDissimilarity`. */
  private readonly adjoint: Float32Array;
  /** The literal f_β at the compact voxels for `literalDissimilarity`. */
  private scoreValues: Float64Array | null = null;
  /** ∇ref at the sample points of the last anchor made with gradients (x, y, z per voxel). */
  private gradients: Float32Array | null = null;
  /** (R, T) of the last freeze made forGradient (R row-major, then T); null after any other freeze. */
  private gradientPose: Float64Array | null = null;
  private readonly maskBuffer: Float32Array;
  /** Per axis, the frequency indices the prefilter keeps on the particle and on the reference grid. */
  private readonly bandParticle: Int32Array;
  private readonly bandReference: Int32Array;
  private readonly overlapBuffer: Float32Array;
  private readonly grad3 = new Float64Array(3);
  /** core/rotate.ts sampleBorder's (value, gradient). */
  private readonly border = new Float64Array(4);
  private readonly jacobianRow = new Float64Array(6);
  /** A row of transform samples, p(x) = rowBase + x·rowSlope, and its part near the grid (`rowRange`). */
  private readonly rowBase = new Float64Array(3);
  private readonly rowSlope = new Float64Array(3);
  private readonly rowBounds = new Int32Array(2);
  /** Per-slice offsets written by `sliceFrame`: ux, ty, tz and the sample point of uy = uz = 0. */
  private readonly frame = new Float64Array(6);
  private readonly refreshAngle: number;
  private prepared: Mat3 | null = null;
  private targetBuilt = false;
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
    const lenRef = nr * nr * nr;
    this.vy = new Float64Array(this.count);
    this.vz = new Float64Array(this.count);
    this.vm = new Float64Array(this.count);
    this.vg = new Float64Array(this.count);
    this.raw = new Float64Array(this.count);
    this.correction = new Float64Array(this.count);
    this.filtered = new Float32Array(lenRef);
    this.fastMap = this.filtered;
    // y and z in reference-grid units, s·y and s·z: the kernels' offsets from the centre come out scaled
    for (let v = 0; v < this.count; v++) {
      const i = this.vIndex[v];
      this.vy[v] = s * (Math.floor(i / n) % n);
      this.vz[v] = s * Math.floor(i / (n * n));
      this.vm[v] = mask ? mask[i] : 1;
    }

    this.literal = new Float32Array(len);
    this.adjoint = new Float32Array(len);
    if (setup.referenceSpectrum && setup.referenceSpectrum.length !== 2 * lenRef) {
      throw new RangeError(`reference spectrum has ${setup.referenceSpectrum.length} values, a ${nr}³ reference needs ${2 * lenRef}`);
    }
    this.refSpectrum = setup.referenceSpectrum ?? fft3(reference.data, nr);
    this.spectrum = new Float64Array(2 * lenRef);
    this.literalSpectrum = s === 1 ? this.spectrum : new Float64Array(2 * len);
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
    this.buildTarget(R);
    if (first || wedgeParticle) {
      if (!wedgeParticle && !wedgeRef && this.s === 1) {
        this.fastMap = this.reference.data;
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
        this.fastMap = this.filtered;
      }
    }
    this.prepared = Float64Array.from(R);
    this.work.prepares++;
    this.work.prepareMs += performance.now() - began;
  }

  /** g_Ω at the compact voxels; it depends on R only through a reference wedge, so without one it is built once. */
  private buildTarget(R: Mat3): void {
    if (this.targetBuilt && !this.setup.wedgeRef) return;
    this.targetBuilt = true;
    const g = cccWorkspace(this.n).constrain(this.particle.data, this.overlapAt(R), this.setup.mask);
    for (let v = 0; v < this.count; v++) this.vg[v] = g[this.vIndex[v]];
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
   * literal f_β (the correction C), sets the frozen c, μ, σ, ē used by the slice kernels and returns the
   * literal d = ‖g_Ω − f_Ω,β‖² with exact normalisation (f_Ω,β at the compact voxels to `out` when given).
   *
   * `forGradient`: the caller corrects the fast path with the literal gradient and Gauss–Newton matrix
   * (core/sag.ts), so the anchor keeps ∇ref at its sample points for `literalGradient` and `literalMetric`,
   * and the fast path samples the reference itself, unfiltered: corrected to first order, and in curvature,
   * by the literal, a fast path that turns a wedge baked into the map with the reference only adds curvature
   * the literal d lacks (measured on 160 noisy refinements at 32³: all within LM + 1e-4 against 157, a
   * third fewer epochs and anchors), and it needs no transform of the reference grid per refinement.
   */
  freeze(R: Mat3, T: ArrayLike<number>, out?: Float64Array, forGradient = false): number {
    if (forGradient) {
      this.buildTarget(R);
      this.fastMap = this.reference.data;
      this.prepared ??= Float64Array.from(R);
    } else {
      // a plain freeze after SAG's (unfiltered fast path) rebuilds the prefilter
      if (this.fastMap === this.reference.data && (this.setup.wedgeParticle || this.setup.wedgeRef || this.s > 1)) this.prepared = null;
      this.prepare(R);
    }
    this.gradientPose = null;
    if (!this.anchored) {
      const d = this.evaluate(R, T, out, true);
      if (forGradient) this.gradientPose = Float64Array.of(...R, T[0], T[1], T[2]);
      return d;
    }
    // the anchor leaves the literal f_β in `raw`: no second pass
    this.anchor(R, T, forGradient);
    const d = this.score(out, true);
    if (forGradient) this.gradientPose = Float64Array.of(...R, T[0], T[1], T[2]);
    return d;
  }

  /**
   * `freeze` at the start pose of a refinement, with every rotation-dependent filter rebuilt for R: a
   * refinement's result then never depends on what an earlier refinement left in the objective (so the
   * jobs of one particle can share it in any order).
   */
  start(R: Mat3, T: ArrayLike<number>, out?: Float64Array, forGradient = false): number {
    this.prepared = null;
    return this.freeze(R, T, out, forGradient);
  }

  /** Throws unless the last `freeze` was made `forGradient` at exactly (R, T). */
  private assertGradientPose(R: Mat3, T: ArrayLike<number>, what: string): void {
    const q = this.gradientPose;
    let same = q !== null;
    for (let i = 0; same && i < 9; i++) same = q![i] === R[i];
    for (let j = 0; same && j < 3; j++) same = q![9 + j] === T[j];
    if (!same) throw new Error(`refinement objective: ${what} needs a freeze(…, forGradient = true) at the same pose first`);
  }

  /** True when `freeze` anchors the fast path to a literal transform (with wedges); else C = 0 and the fast path is exact. */
  get anchored(): boolean {
    return this.setup.wedgeParticle !== undefined || this.setup.wedgeRef !== undefined;
  }

  /**
   * C = F⁻¹(Ω·F(Λ_β ref)) − Λ_β F̃ at the compact voxels; leaves the literal F⁻¹(Ω·F(Λ_β ref)) in `raw`.
   * With `withGradient` the transform also keeps ∇ref at every sample point, for `literalGradient`.
   */
  private anchor(R: Mat3, T: ArrayLike<number>, withGradient: boolean): void {
    const began = performance.now();
    const n = this.n;
    const moved = withGradient ? this.transformWithGradient(R, T) : this.transformedReference(R, T);
    const spec = fft3(moved.data, n, this.literalSpectrum);
    const omega = this.overlapAt(R);
    for (let i = 0; i < omega.length; i++) {
      spec[2 * i] *= omega[i];
      spec[2 * i + 1] *= omega[i];
    }
    const literal = ifft3Real(spec, n, this.literal);
    const { correction, raw, vIndex } = this;
    correction.fill(0);
    if (withGradient) {
      // the fast path samples the reference itself (`freeze`), at the transform's own points
      const m = moved.data;
      for (let v = 0; v < this.count; v++) raw[v] = m[vIndex[v]];
    } else {
      for (let i = 0; i < n; i++) this.sampleSlice(i, R, T, raw);
    }
    for (let v = 0; v < this.count; v++) {
      const exact = literal[vIndex[v]];
      correction[v] = exact - raw[v];
      raw[v] = exact;
    }
    this.work.anchors++;
    this.work.anchorMs += performance.now() - began;
  }

  /**
   * Λ_β ref on the particle grid (as `transformedReference`) and ∇ref at each sample point, in `gradients`
   * (x, y, z interleaved per voxel): one trilinear pass for the anchor and the literal gradient.
   */
  private transformWithGradient(R: Mat3, T: ArrayLike<number>): Volume {
    const n = this.n;
    this.moved ??= new Volume(n, (this.reference.voxelSize * this.nr) / n);
    this.gradients ??= new Float32Array(3 * n * n * n);
    const dst = this.moved.data;
    const G = this.gradients;
    const { s, c, cr, nr, border } = this;
    const data = this.reference.data;
    const nm1 = nr - 1, nn = nr * nr;
    // p = cr + Rᵀu with u = s·(y − c − T); rows are affine in x and sampled only near the grid (rowRange)
    const r0 = s * R[0], r1 = s * R[1], r2 = s * R[2];
    const ux0 = s * (-c - T[0]);
    const { rowBase, rowSlope, rowBounds } = this;
    rowSlope[0] = r0;
    rowSlope[1] = r1;
    rowSlope[2] = r2;
    let o = 0;
    for (let z = 0; z < n; z++) {
      const uz = s * (z - c - T[2]);
      for (let y = 0; y < n; y++) {
        const uy = s * (y - c - T[1]);
        const bx = cr + R[0] * ux0 + R[3] * uy + R[6] * uz;
        const by = cr + R[1] * ux0 + R[4] * uy + R[7] * uz;
        const bz = cr + R[2] * ux0 + R[5] * uy + R[8] * uz;
        rowBase[0] = bx;
        rowBase[1] = by;
        rowBase[2] = bz;
        rowRange(rowBase, rowSlope, nr, n, rowBounds);
        const first = rowBounds[0], last = rowBounds[1];
        dst.fill(0, o, o + first);
        dst.fill(0, o + last, o + n);
        G.fill(0, 3 * o, 3 * (o + first));
        G.fill(0, 3 * (o + last), 3 * (o + n));
        o += first;
        for (let x = first; x < last; x++, o++) {
          const px = bx + x * r0, py = by + x * r1, pz = bz + x * r2;
          const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
          let F: number, dx: number, dy: number, dz: number;
          if (x0 >= 0 && x0 < nm1 && y0 >= 0 && y0 < nm1 && z0 >= 0 && z0 < nm1) {
            const fx = px - x0, fy = py - y0, fz = pz - z0;
            const k = x0 + nr * (y0 + nr * z0);
            const v000 = data[k], v100 = data[k + 1], v010 = data[k + nr], v110 = data[k + nr + 1];
            const v001 = data[k + nn], v101 = data[k + nn + 1], v011 = data[k + nn + nr], v111 = data[k + nn + nr + 1];
            const dx00 = v100 - v000, dx10 = v110 - v010, dx01 = v101 - v001, dx11 = v111 - v011;
            const c00 = v000 + fx * dx00, c10 = v010 + fx * dx10, c01 = v001 + fx * dx01, c11 = v011 + fx * dx11;
            const c0 = c00 + fy * (c10 - c00), c1 = c01 + fy * (c11 - c01);
            const dx0 = dx00 + fy * (dx10 - dx00), dx1 = dx01 + fy * (dx11 - dx01);
            F = c0 + fz * (c1 - c0);
            dx = dx0 + fz * (dx1 - dx0);
            dy = (1 - fz) * (c10 - c00) + fz * (c11 - c01);
            dz = c1 - c0;
          } else {
            sampleBorder(data, nr, px, py, pz, border);
            F = border[0];
            dx = border[1];
            dy = border[2];
            dz = border[3];
          }
          dst[o] = F;
          G[3 * o] = dx;
          G[3 * o + 1] = dy;
          G[3 * o + 2] = dz;
        }
        o += n - last;
      }
    }
    return this.moved;
  }

  /**
   * ∂d/∂(e0, e1, e2, T) of the LITERAL d at the last anchor, made with `forGradient` at (R, T), with
   * dR[p] = ∂R/∂e_p as in `sliceGradient`. The fast
   * path's slice gradients move the prefiltered map rigidly, i.e. they turn the particle's wedge with the
   * reference; the literal transform keeps Ω in the particle frame, so its gradient also has the term of
   * the wedge sweeping over the reference's spectrum (measured at LM's optimum of a ±60° particle: opposite
   * signs in two of the three angles). By the adjoint of the filter: with u = ∂d/∂L at each voxel
   * (L = F⁻¹(Ω·F(Λ_β ref)), u = 0 outside the mask), ∂d/∂β = Σ_x u(x)·∂L(x)/∂β = Σ_y ũ(y)·∇ref(p(y))·∂p(y)/∂β
   * with ũ = F⁻¹(Ω_s·F(u)) (a real, centrosymmetric filter is self-adjoint) and p(y) the sample point of
   * voxel y in the transform, over the whole box: one FFT pair and one pass over the stored ∇ref.
   */
  literalGradient(R: Mat3, T: ArrayLike<number>, dR: readonly Mat3[], grad: Float64Array): void {
    this.assertGradientPose(R, T, 'the literal gradient');
    if (!this.anchored) {
      this.sliceSumGradient(R, T, dR, grad);
      return;
    }
    const began = performance.now();
    const n = this.n;
    const { vm, vg, raw, vIndex, count, mu, ccc } = this;
    const invSigma = 1 / this.sigma;
    const e = this.residualMean;
    const u = this.adjoint;
    u.fill(0);
    for (let v = 0; v < count; v++) {
      const m = vm[v] * invSigma;
      const f = (raw[v] - mu) * m;
      u[vIndex[v]] = -2 * m * (vg[v] - ccc * f - e);
    }
    const spec = fft3(u, n, this.literalSpectrum);
    const omega = this.overlapAt(R);
    for (let i = 0; i < omega.length; i++) {
      spec[2 * i] *= omega[i];
      spec[2 * i + 1] *= omega[i];
    }
    const w = ifft3Real(spec, n, u);
    // G = Σ_y w(y)·∇ref(p(y))·uᵀ with u = s·(y − c − T), and S = Σ_y w(y)·∇ref(p(y))
    const { s, c } = this;
    const grads = this.gradients!;
    let sx = 0, sy = 0, sz = 0;
    let gxx = 0, gxy = 0, gxz = 0, gyx = 0, gyy = 0, gyz = 0, gzx = 0, gzy = 0, gzz = 0;
    let o = 0;
    for (let z = 0; z < n; z++) {
      const uz = s * (z - c - T[2]);
      for (let y = 0; y < n; y++) {
        const uy = s * (y - c - T[1]);
        for (let x = 0; x < n; x++, o++) {
          const wo = w[o];
          const ax = wo * grads[3 * o], ay = wo * grads[3 * o + 1], az = wo * grads[3 * o + 2];
          const ux = s * (x - c - T[0]);
          sx += ax; sy += ay; sz += az;
          gxx += ax * ux; gxy += ax * uy; gxz += ax * uz;
          gyx += ay * ux; gyy += ay * uy; gyz += ay * uz;
          gzx += az * ux; gzy += az * uy; gzz += az * uz;
        }
      }
    }
    for (let p = 0; p < 3; p++) {
      const D = dR[p];
      // Σ_ab (∂R/∂e_p)[b][a]·G[a][b]
      grad[p] =
        D[0] * gxx + D[3] * gxy + D[6] * gxz +
        D[1] * gyx + D[4] * gyy + D[7] * gyz +
        D[2] * gzx + D[5] * gzy + D[8] * gzz;
    }
    for (let j = 0; j < 3; j++) grad[3 + j] = -s * (R[3 * j] * sx + R[3 * j + 1] * sy + R[3 * j + 2] * sz);
    this.work.gradients++;
    this.work.gradientMs += performance.now() - began;
  }

  /** Without wedges the fast path is the literal one: ∂d/∂β = 2·Σ_i ∂J̃_i/∂β. */
  private sliceSumGradient(R: Mat3, T: ArrayLike<number>, dR: readonly Mat3[], out: Float64Array): void {
    const g = this.jacobianRow;
    out.fill(0);
    for (let i = 0; i < this.n; i++) {
      this.sliceGradient(i, R, T, dR, g);
      for (let p = 0; p < 6; p++) out[p] += 2 * g[p];
    }
  }

  /**
   * The Gauss–Newton matrix Σ_x a·aᵀ (6×6, added to `metric`, both triangles) of the LITERAL moving side at
   * the last `freeze`, made with `forGradient` at (R, T): a = (1/σ)·∂L(x)/∂β with L = F⁻¹(Ω·F(Λ_β ref)),
   * same parametrisation as `sliceGradient`. Column p of ∂L/∂β is the Ω-filtered volume
   * ∇ref(p(y))·∂p(y)/∂β_p (the anchor's stored ∇ref), and by Parseval the sum runs over the spectrum:
   * Σ_k Ω²(k)·Re(Ĵ_p·conj Ĵ_q)/n³, one forward FFT per parameter. It sums over the whole box rather than
   * inside the mask: on bench/pass.ts data (a reference well inside the mask) that is 0.5–5 % above the
   * masked sum, for a quarter of the FFTs of filtering the six columns back to the mask. Without wedges the
   * fast path is literal, and its slices' (masked) matrices are summed.
   */
  literalMetric(R: Mat3, T: ArrayLike<number>, dR: readonly Mat3[], metric: Float64Array): void {
    this.assertGradientPose(R, T, 'the literal metric');
    const n = this.n;
    if (!this.anchored) {
      const g = new Float64Array(6);
      for (let i = 0; i < n; i++) this.sliceGradientAndMetric(i, R, T, dR, g, metric);
      return;
    }
    const len = n * n * n;
    const column = this.adjoint;
    const { s, c } = this;
    const G = this.gradients!;
    const omega = this.overlapAt(R);
    // The Ω-weighted half spectra (kx ≤ n/2; the rest are conjugates, so the other kx count twice: scaled by
    // √2), interleaved per frequency: S[12h + 2p] = column p's (re, im) at half-spectrum index h.
    const half = Math.floor(n / 2) + 1;
    const halfLen = n * n * half;
    this.jacobianSpectra ??= new Float64Array(12 * halfLen);
    const S = this.jacobianSpectra;
    for (let p = 0; p < 6; p++) {
      if (p < 3) {
        const D = dR[p];
        for (let z = 0, o = 0; z < n; z++) {
          const uz = s * (z - c - T[2]);
          for (let y = 0; y < n; y++) {
            const uy = s * (y - c - T[1]);
            // (∂R/∂e_p)ᵀu = ux·(D0, D1, D2) + (the row's constant part)
            const kx = D[3] * uy + D[6] * uz, ky = D[4] * uy + D[7] * uz, kz = D[5] * uy + D[8] * uz;
            for (let x = 0; x < n; x++, o++) {
              const ux = s * (x - c - T[0]);
              column[o] = G[3 * o] * (D[0] * ux + kx) + G[3 * o + 1] * (D[1] * ux + ky) + G[3 * o + 2] * (D[2] * ux + kz);
            }
          }
        }
      } else {
        const k = p - 3;
        const a = -s * R[3 * k], b = -s * R[3 * k + 1], d = -s * R[3 * k + 2];
        for (let o = 0; o < len; o++) column[o] = a * G[3 * o] + b * G[3 * o + 1] + d * G[3 * o + 2];
      }
      const spec = fft3(column, n, this.literalSpectrum);
      for (let row = 0, h = 0; row < n * n; row++) {
        for (let kx = 0; kx < half; kx++, h++) {
          const i = row * n + kx;
          const w = kx === 0 || 2 * kx === n ? omega[i] : Math.SQRT2 * omega[i];
          S[12 * h + 2 * p] = w * spec[2 * i];
          S[12 * h + 2 * p + 1] = w * spec[2 * i + 1];
        }
      }
    }
    let h00 = 0, h01 = 0, h02 = 0, h03 = 0, h04 = 0, h05 = 0, h11 = 0, h12 = 0, h13 = 0, h14 = 0, h15 = 0, h22 = 0, h23 = 0, h24 = 0, h25 = 0, h33 = 0, h34 = 0, h35 = 0, h44 = 0, h45 = 0, h55 = 0;
    for (let h = 0; h < 12 * halfLen; h += 12) {
      const r0 = S[h + 0], i0 = S[h + 1], r1 = S[h + 2], i1 = S[h + 3], r2 = S[h + 4], i2 = S[h + 5], r3 = S[h + 6], i3 = S[h + 7], r4 = S[h + 8], i4 = S[h + 9], r5 = S[h + 10], i5 = S[h + 11];
      h00 += r0 * r0 + i0 * i0; h01 += r0 * r1 + i0 * i1; h02 += r0 * r2 + i0 * i2; h03 += r0 * r3 + i0 * i3; h04 += r0 * r4 + i0 * i4; h05 += r0 * r5 + i0 * i5;
      h11 += r1 * r1 + i1 * i1; h12 += r1 * r2 + i1 * i2; h13 += r1 * r3 + i1 * i3; h14 += r1 * r4 + i1 * i4; h15 += r1 * r5 + i1 * i5;
      h22 += r2 * r2 + i2 * i2; h23 += r2 * r3 + i2 * i3; h24 += r2 * r4 + i2 * i4; h25 += r2 * r5 + i2 * i5;
      h33 += r3 * r3 + i3 * i3; h34 += r3 * r4 + i3 * i4; h35 += r3 * r5 + i3 * i5;
      h44 += r4 * r4 + i4 * i4; h45 += r4 * r5 + i4 * i5;
      h55 += r5 * r5 + i5 * i5;
    }
    const scale = 1 / (this.sigma * this.sigma * len);
    const upper = [h00, h01, h02, h03, h04, h05, h11, h12, h13, h14, h15, h22, h23, h24, h25, h33, h34, h35, h44, h45, h55];
    for (let p = 0, k = 0; p < 6; p++) for (let q = p; q < 6; q++, k++) metric[6 * p + q] += upper[k] * scale;
    for (let p = 0; p < 6; p++) for (let q = 0; q < p; q++) metric[6 * p + q] = metric[6 * q + p];
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
  private score(out: Float64Array | undefined, freezeNormalisation: boolean, raw: Float64Array = this.raw): number {
    const { vm, vg, count } = this;
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
    let gm = 0;
    let fm = 0;
    for (let v = 0; v < count; v++) {
      const f = (raw[v] - mu) * vm[v] * inv;
      if (out) out[v] = f;
      const r = vg[v] - f;
      d += r * r;
      gm += vg[v] * vm[v];
      fm += f * vm[v];
    }
    if (freezeNormalisation) {
      this.mu = mu;
      this.sigma = Math.sqrt(norm2);
      this.ccc = 1 - d / 2;
      this.residualMean = (gm - this.ccc * fm) / this.maskSum;
    }
    return d;
  }

  /**
   * The literal d at (R, T), as `freeze` returns it, without anchoring there: the score of a refinement that
   * ends next to its last anchor (with a reference wedge it rebuilds g_Ω for R, so call it at the end). A
   * transform and one FFT pair (exactCcc's core/ccc.ts filters the particle as well, two pairs' worth);
   * equal to 2 − 2·exactCcc up to rounding.
   */
  literalDissimilarity(R: Mat3, T: ArrayLike<number>): number {
    const began = performance.now();
    const n = this.n;
    this.buildTarget(R);
    const moved = this.transformedReference(R, T).data;
    let literal: Float32Array = moved;
    if (this.anchored) {
      const spec = fft3(moved, n, this.literalSpectrum);
      const omega = this.overlapAt(R);
      for (let i = 0; i < omega.length; i++) {
        spec[2 * i] *= omega[i];
        spec[2 * i + 1] *= omega[i];
      }
      literal = ifft3Real(spec, n, this.adjoint);
    }
    const values = (this.scoreValues ??= new Float64Array(this.count));
    for (let v = 0; v < this.count; v++) values[v] = literal[this.vIndex[v]];
    const d = this.score(undefined, false, values);
    this.work.scores++;
    this.work.scoreMs += performance.now() - began;
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
    const { nr, vy, vz, fastMap: filtered, correction, frame, border } = this;
    const start = this.sliceStart[i], end = this.sliceStart[i + 1];
    this.sliceFrame(i, R, T);
    const ty = frame[1], tz = frame[2], bx = frame[3], by = frame[4], bz = frame[5];
    const r3 = R[3], r4 = R[4], r5 = R[5], r6 = R[6], r7 = R[7], r8 = R[8];
    const nm1 = nr - 1, nn = nr * nr;
    for (let v = start; v < end; v++) {
      const uy = vy[v] - ty, uz = vz[v] - tz;
      const px = bx + r3 * uy + r6 * uz, py = by + r4 * uy + r7 * uz, pz = bz + r5 * uy + r8 * uz;
      // sampleTrilinear's interior case written out (as in sliceGradient); the border case through a typed
      // array (core/rotate.ts sampleBorder): a value returned by a call would make V8 box F at every voxel
      const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
      let F: number;
      if (x0 >= 0 && x0 < nm1 && y0 >= 0 && y0 < nm1 && z0 >= 0 && z0 < nm1) {
        const fx = px - x0, fy = py - y0, fz = pz - z0;
        const k = x0 + nr * (y0 + nr * z0);
        const v000 = filtered[k], v010 = filtered[k + nr], v001 = filtered[k + nn], v011 = filtered[k + nn + nr];
        const c00 = v000 + fx * (filtered[k + 1] - v000), c10 = v010 + fx * (filtered[k + nr + 1] - v010);
        const c01 = v001 + fx * (filtered[k + nn + 1] - v001), c11 = v011 + fx * (filtered[k + nn + nr + 1] - v011);
        const c0 = c00 + fy * (c10 - c00), c1 = c01 + fy * (c11 - c01);
        F = c0 + fz * (c1 - c0);
      } else {
        sampleBorder(filtered, nr, px, py, pz, border);
        F = border[0];
      }
      out[v] = F + correction[v];
    }
    this.samples += end - start;
  }

  /** J̃_i of the module doc at (R, T), with the frozen c, μ, σ, ē and C. */
  sliceValue(i: number, R: Mat3, T: ArrayLike<number>): number {
    const { nr, vy, vz, vm, vg, fastMap: filtered, correction, mu, frame, ccc, border } = this;
    const invSigma = 1 / this.sigma;
    const e = this.residualMean;
    const start = this.sliceStart[i], end = this.sliceStart[i + 1];
    this.sliceFrame(i, R, T);
    const ty = frame[1], tz = frame[2], bx = frame[3], by = frame[4], bz = frame[5];
    const r3 = R[3], r4 = R[4], r5 = R[5], r6 = R[6], r7 = R[7], r8 = R[8];
    const nm1 = nr - 1, nn = nr * nr;
    const half = 0.5 * ccc;
    let value = 0;
    for (let v = start; v < end; v++) {
      const uy = vy[v] - ty, uz = vz[v] - tz;
      const px = bx + r3 * uy + r6 * uz, py = by + r4 * uy + r7 * uz, pz = bz + r5 * uy + r8 * uz;
      const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
      let F: number;
      if (x0 >= 0 && x0 < nm1 && y0 >= 0 && y0 < nm1 && z0 >= 0 && z0 < nm1) {
        const fx = px - x0, fy = py - y0, fz = pz - z0;
        const k = x0 + nr * (y0 + nr * z0);
        const v000 = filtered[k], v010 = filtered[k + nr], v001 = filtered[k + nn], v011 = filtered[k + nn + nr];
        const c00 = v000 + fx * (filtered[k + 1] - v000), c10 = v010 + fx * (filtered[k + nr + 1] - v010);
        const c01 = v001 + fx * (filtered[k + nn + 1] - v001), c11 = v011 + fx * (filtered[k + nn + nr + 1] - v011);
        const c0 = c00 + fy * (c10 - c00), c1 = c01 + fy * (c11 - c01);
        F = c0 + fz * (c1 - c0);
      } else {
        sampleBorder(filtered, nr, px, py, pz, border);
        F = border[0];
      }
      const f = (F + correction[v] - mu) * vm[v] * invSigma;
      value += f * (half * f - (vg[v] - e));
    }
    this.samples += end - start;
    return value + this.sliceConstant(i);
  }

  /** The constant of J̃_i that makes Σ_i J̃_i = d/2 at the frozen pose (module doc). */
  private sliceConstant(i: number): number {
    return (0.5 * (2 - this.ccc) * (this.sliceStart[i + 1] - this.sliceStart[i])) / this.count;
  }

  /**
   * J̃_i and its gradient with respect to (e0, e1, e2, T): grad[p] for p < 3 is ∂J̃_i/∂e_p given
   * dR[p] = ∂R/∂e_p (any angle parametrisation), grad[3 + j] = ∂J̃_i/∂T_j. Frozen c, μ, σ, ē, C.
   *
   * With the sample point p(x) = cr + Rᵀu, u = s·(x − c − T), and w = −(g − ē − c·f)·M/σ = ∂J̃_i/∂F,
   * ∂J̃_i/∂β = Σ_x w ∇F̃(p)·∂p/∂β where ∂p/∂e_p = (∂R/∂e_p)ᵀ u and ∂p/∂T = −s·Rᵀ; so it suffices to
   * accumulate G = Σ w ∇F̃ uᵀ and Σ w ∇F̃.
   */
  sliceGradient(i: number, R: Mat3, T: ArrayLike<number>, dR: readonly Mat3[], grad: Float64Array): number {
    const { nr, vy, vz, vm, vg, fastMap: filtered, correction, mu, border, frame, ccc } = this;
    const invSigma = 1 / this.sigma;
    const e = this.residualMean;
    const half = 0.5 * ccc;
    const start = this.sliceStart[i], end = this.sliceStart[i + 1];
    this.sliceFrame(i, R, T);
    const ux = frame[0], ty = frame[1], tz = frame[2], bx = frame[3], by = frame[4], bz = frame[5];
    const r3 = R[3], r4 = R[4], r5 = R[5], r6 = R[6], r7 = R[7], r8 = R[8];
    const nm1 = nr - 1, nn = nr * nr;
    let value = 0;
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
        sampleBorder(filtered, nr, px, py, pz, border);
        F = border[0];
        dx = border[1];
        dy = border[2];
        dz = border[3];
      }
      const m = vm[v] * invSigma;
      const f = (F + correction[v] - mu) * m;
      const target = vg[v] - e;
      value += f * (half * f - target);
      const w = (ccc * f - target) * m;
      const ax = w * dx, ay = w * dy, az = w * dz;
      sx += ax; sy += ay; sz += az;
      gxy += ax * uy; gxz += ax * uz;
      gyy += ay * uy; gyz += ay * uz;
      gzy += az * uy; gzz += az * uz;
    }
    this.samples += end - start;
    this.sliceGradientFromSums(ux, sx, sy, sz, gxy, gxz, gyy, gyz, gzy, gzz, R, dR, grad);
    return value + this.sliceConstant(i);
  }

  /**
   * Every slice's `sliceGradient` (into grad[6i … 6i+5]) at the last `freeze` made forGradient, and Σ_i J̃_i
   * there; with `metrics`, also each slice's `sliceGradientAndMetric` matrix (added to metrics[36i …]). With
   * wedges it reads the anchor's own samples (f_β = the literal, ∇ref in `gradients`) instead of sampling
   * again: equal up to rounding, for a third of the cost (a tenth with the matrices).
   */
  anchorSliceGradients(dR: readonly Mat3[], grad: Float64Array, metrics?: Float64Array): number {
    const pose = this.gradientPose;
    if (pose === null) throw new Error('refinement objective: anchorSliceGradients needs a freeze(…, forGradient = true) first');
    const R = pose.subarray(0, 9), T = pose.subarray(9, 12);
    const n = this.n;
    const g = this.jacobianRow;
    let total = 0;
    if (!this.anchored) {
      for (let i = 0; i < n; i++) {
        total += metrics
          ? this.sliceGradientAndMetric(i, R, T, dR, g, metrics.subarray(36 * i, 36 * i + 36))
          : this.sliceGradient(i, R, T, dR, g);
        grad.set(g, 6 * i);
      }
      return total;
    }
    const { s, vy, vz, vm, vg, vIndex, raw, mu, frame, ccc } = this;
    const G = this.gradients!;
    const invSigma = 1 / this.sigma;
    const e = this.residualMean;
    const half = 0.5 * ccc;
    const [D0, D1, D2] = dR;
    // ∂p/∂T_k = −s·(row k of R)
    const t00 = -s * R[0], t01 = -s * R[1], t02 = -s * R[2], t10 = -s * R[3], t11 = -s * R[4], t12 = -s * R[5];
    const t20 = -s * R[6], t21 = -s * R[7], t22 = -s * R[8];
    for (let i = 0; i < n; i++) {
      const start = this.sliceStart[i], end = this.sliceStart[i + 1];
      this.sliceFrame(i, R, T);
      const ux = frame[0], ty = frame[1], tz = frame[2];
      let value = 0;
      let sx = 0, sy = 0, sz = 0;
      let gxy = 0, gxz = 0, gyy = 0, gyz = 0, gzy = 0, gzz = 0;
      let h00 = 0, h01 = 0, h02 = 0, h03 = 0, h04 = 0, h05 = 0, h11 = 0, h12 = 0, h13 = 0, h14 = 0, h15 = 0, h22 = 0, h23 = 0, h24 = 0, h25 = 0, h33 = 0, h34 = 0, h35 = 0, h44 = 0, h45 = 0, h55 = 0;
      for (let v = start; v < end; v++) {
        const uy = vy[v] - ty, uz = vz[v] - tz;
        const o = 3 * vIndex[v];
        const dx = G[o], dy = G[o + 1], dz = G[o + 2];
        const m = vm[v] * invSigma;
        const f = (raw[v] - mu) * m;
        const target = vg[v] - e;
        value += f * (half * f - target);
        const w = (ccc * f - target) * m;
        const ax = w * dx, ay = w * dy, az = w * dz;
        sx += ax; sy += ay; sz += az;
        gxy += ax * uy; gxz += ax * uz;
        gyy += ay * uy; gyz += ay * uz;
        gzy += az * uy; gzz += az * uz;
        if (metrics) {
          // the Jacobian row of f, as in sliceGradientAndMetric; its products in scalars (no array traffic)
          const mx = m * dx, my = m * dy, mz = m * dz;
          const a0 = mx * (D0[0] * ux + D0[3] * uy + D0[6] * uz) + my * (D0[1] * ux + D0[4] * uy + D0[7] * uz) + mz * (D0[2] * ux + D0[5] * uy + D0[8] * uz);
          const a1 = mx * (D1[0] * ux + D1[3] * uy + D1[6] * uz) + my * (D1[1] * ux + D1[4] * uy + D1[7] * uz) + mz * (D1[2] * ux + D1[5] * uy + D1[8] * uz);
          const a2 = mx * (D2[0] * ux + D2[3] * uy + D2[6] * uz) + my * (D2[1] * ux + D2[4] * uy + D2[7] * uz) + mz * (D2[2] * ux + D2[5] * uy + D2[8] * uz);
          const a3 = t00 * mx + t01 * my + t02 * mz, a4 = t10 * mx + t11 * my + t12 * mz, a5 = t20 * mx + t21 * my + t22 * mz;
          h00 += a0 * a0; h01 += a0 * a1; h02 += a0 * a2; h03 += a0 * a3; h04 += a0 * a4; h05 += a0 * a5;
          h11 += a1 * a1; h12 += a1 * a2; h13 += a1 * a3; h14 += a1 * a4; h15 += a1 * a5;
          h22 += a2 * a2; h23 += a2 * a3; h24 += a2 * a4; h25 += a2 * a5;
          h33 += a3 * a3; h34 += a3 * a4; h35 += a3 * a5;
          h44 += a4 * a4; h45 += a4 * a5;
          h55 += a5 * a5;
        }
      }
      if (metrics) {
        const H = metrics.subarray(36 * i, 36 * i + 36);
        const upper = [h00, h01, h02, h03, h04, h05, h11, h12, h13, h14, h15, h22, h23, h24, h25, h33, h34, h35, h44, h45, h55];
        for (let p = 0, k = 0; p < 6; p++) {
          for (let q = p; q < 6; q++, k++) {
            H[6 * p + q] += upper[k];
            if (q > p) H[6 * q + p] += upper[k];
          }
        }
      }
      this.sliceGradientFromSums(ux, sx, sy, sz, gxy, gxz, gyy, gyz, gzy, gzz, R, dR, g);
      grad.set(g, 6 * i);
      total += value + this.sliceConstant(i);
    }
    // a pass over the masked voxels, though without sampling (`passes` counts the slice functions' work)
    this.samples += this.count;
    return total;
  }

  /**
   * `sliceGradient`, and the slice's Gauss–Newton matrix Σ_x a·aᵀ with a = ∂f_Ω,β(x)/∂β (the Jacobian of
   * the moving side, frozen μ, σ) added to `metric` (6×6, row-major, both triangles). SAG's metric and its
   * Eq. 13 Lipschitz bound come from these; same parametrisation as `sliceGradient`.
   */
  sliceGradientAndMetric(i: number, R: Mat3, T: ArrayLike<number>, dR: readonly Mat3[], grad: Float64Array, metric: Float64Array): number {
    const { nr, s, vy, vz, vm, vg, fastMap: filtered, correction, mu, grad3, frame, ccc } = this;
    const invSigma = 1 / this.sigma;
    const e = this.residualMean;
    const half = 0.5 * ccc;
    const start = this.sliceStart[i], end = this.sliceStart[i + 1];
    this.sliceFrame(i, R, T);
    const ux = frame[0], ty = frame[1], tz = frame[2], bx = frame[3], by = frame[4], bz = frame[5];
    // ∂p/∂e_p = (∂R/∂e_p)ᵀu = ux·A_p + uy·B_p + uz·C_p with A_p, B_p, C_p the rows of ∂R/∂e_p (as columns of its transpose)
    const J = this.jacobianRow;
    let value = 0;
    let sx = 0, sy = 0, sz = 0;
    let gxy = 0, gxz = 0, gyy = 0, gyz = 0, gzy = 0, gzz = 0;
    for (let v = start; v < end; v++) {
      const uy = vy[v] - ty, uz = vz[v] - tz;
      const F = sampleTrilinearWithGradient(
        filtered, nr,
        bx + R[3] * uy + R[6] * uz, by + R[4] * uy + R[7] * uz, bz + R[5] * uy + R[8] * uz,
        grad3,
      );
      const dx = grad3[0], dy = grad3[1], dz = grad3[2];
      const m = vm[v] * invSigma;
      const f = (F + correction[v] - mu) * m;
      const target = vg[v] - e;
      value += f * (half * f - target);
      const w = (ccc * f - target) * m;
      const ax = w * dx, ay = w * dy, az = w * dz;
      sx += ax; sy += ay; sz += az;
      gxy += ax * uy; gxz += ax * uz;
      gyy += ay * uy; gyz += ay * uz;
      gzy += az * uy; gzz += az * uz;
      // Jacobian row of f: (M/σ)·∇F̃·∂p/∂β
      const mx = m * dx, my = m * dy, mz = m * dz;
      for (let p = 0; p < 3; p++) {
        const D = dR[p];
        J[p] =
          mx * (D[0] * ux + D[3] * uy + D[6] * uz) +
          my * (D[1] * ux + D[4] * uy + D[7] * uz) +
          mz * (D[2] * ux + D[5] * uy + D[8] * uz);
      }
      for (let k = 0; k < 3; k++) J[3 + k] = -s * (R[3 * k] * mx + R[3 * k + 1] * my + R[3 * k + 2] * mz);
      for (let p = 0; p < 6; p++) {
        const jp = J[p];
        for (let q = p; q < 6; q++) metric[6 * p + q] += jp * J[q];
      }
    }
    for (let p = 0; p < 6; p++) for (let q = 0; q < p; q++) metric[6 * p + q] = metric[6 * q + p];
    this.samples += end - start;
    this.sliceGradientFromSums(ux, sx, sy, sz, gxy, gxz, gyy, gyz, gzy, gzz, R, dR, grad);
    return value + this.sliceConstant(i);
  }

  /** ∂J̃_i/∂β from the slice sums Σ w∇F̃ (sx, sy, sz) and Σ w∇F̃·(uy, uz) (see `sliceGradient`). */
  private sliceGradientFromSums(
    ux: number, sx: number, sy: number, sz: number,
    gxy: number, gxz: number, gyy: number, gyz: number, gzy: number, gzz: number,
    R: Mat3, dR: readonly Mat3[], grad: Float64Array,
  ): void {
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
  /** CCC of the refined pose computed literally: core/ccc (`exactCcc`), or an anchoring `freeze` there. */
  ccc: number;
  /** 2 − 2·ccc (paper Eq. 8). */
  dissimilarity: number;
  /** Parameter updates made (SAG steps, accepted + rejected LM trials, Chen rounds). */
  iterations: number;
  /** Objective cost in full passes over the masked voxels (a slice counts as its share of them). */
  evaluations: number;
  /** Loss after each epoch / iteration as the refiner defines it (see each module), starting at the start pose. */
  lossTrace: number[];
  /** The refiner stopped at its iteration cap (SAG's maxEpochs, LM's maxIterations, Chen's rounds), not on its convergence test. */
  capped: boolean;
}

/**
 * Score (R, t) exactly and package it. `literalD`: the literal d of a `freeze` made exactly at (R, t), which
 * is core/ccc's dissimilarity to float rounding (measured ≤ 2e-9), so no second transform is needed.
 */
export function refinementResult(
  objective: ConstrainedObjective,
  R: Mat3,
  t: ArrayLike<number>,
  iterations: number,
  evaluations: number,
  lossTrace: number[],
  capped: boolean,
  literalD?: number,
): RefinementResult {
  const ccc = literalD === undefined ? objective.exactCcc(R, t) : 1 - literalD / 2;
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
    capped,
  };
}
