/**
 * Subtomogram simulator (design.md "Simulation" and "Physics notes"): atoms → density → random pose →
 * tilt series (projection, CTF, noise, detector MTF) → weighted back-projection.
 *
 * Conventions
 * - Tilt: the projection at tilt α is ∫ (R_y(α)·V) dz with R_y(α) = [[cos α, 0, sin α], [0, 1, 0],
 *   [−sin α, 0, cos α]] acting about the box centre c = floor(n/2); it samples the Fourier plane through
 *   the y axis with kz/kx = tan α (core/wedge.ts uses the same convention). A projection image has
 *   x′ (the rotated x) along its rows and y along its columns, x′ fastest.
 * - Density outside the inscribed sphere (radius n/2 voxels) is zero for projection.
 * - SNR (see SNR_DEFINITION): per projection, var(noise-free projection after the CTF) / var(noise), both
 *   over the whole n×n image, before the detector MTF (which filters signal and noise alike).
 * - Contrast: with the design's CTF sign the first CTF lobe is negative (protein dark, as recorded);
 *   subtomograms are returned protein-white (negated after reconstruction) when a CTF is applied, so a
 *   particle correlates positively with the noise-free reference.
 * - Poses: particle i is the density of the atoms placed at pose (R, T) — p = R·(a − com) + c + T — which
 *   is Λ_(R,T) applied to the reference (the atoms at the centre) without any interpolation.
 * - Randomness: particle i draws its pose and noise from Rng.derive(seed, i) only, so it does not depend on
 *   how many particles a data set has, and a seed reproduces a data set bit for bit. Tomogram j draws its
 *   defocus and astigmatism, and particle i its place in the specimen, from streams of their own (seeded by
 *   Rng.derive(seed, −1), which no particle uses), so switching them on leaves poses and noise as they were.
 * - Tilt series and CTF (SimulationConfig): particles are grouped into tomograms, each a tilt series with its
 *   own defocus (uniform in `defocusRange`) and astigmatism (|U − V| uniform up to `astigmatism`, angle uniform,
 *   U the larger); a particle's centre lies at a uniform place in a specimen slab (`specimen`), and the defocus
 *   of each tilt image at the particle is the tomogram's plus its depth along the beam in that image
 *   (core/defocus.ts, RELION 5's convention, with handedness SIMULATED_HANDEDNESS: +z′ towards the source).
 *   With `dose`, each image is damped by Grant & Grigorieff's dose weight (core/ctf.ts) for the dose received
 *   before it, collected dose-symmetrically (`doseSymmetricOrder`). Each projection is multiplied by its own
 *   astigmatic CTF (core/ctf.ts astigmaticCtf; u along x′, v along y) × dose weight; when every tilt has the
 *   same CTF without astigmatism or dose, by one radial table (the fast path data sets were always made with).
 */
import { MAX_BOX, SIMULATION_DEFAULTS } from '../model/defaults.ts';
import type { Optics, ParticleCtf, TiltCtf } from '../model/particles.ts';
import { type CtfParameters, astigmaticCtf, ctfValue, doseWeight } from './ctf.ts';
import { type CentralTiltCtf, tiltCtfsAt } from './defocus.ts';
import { atomicMass, atomicNumber } from './elements.ts';
import type { AtomPosition } from './elements.ts';
import { fft1InPlace, fft2InPlace } from './fft.ts';
import { Rng } from './random.ts';
import { identity, poseFromMatrix, randomRotation } from './rotate.ts';
import type { Mat3, Pose } from './rotate.ts';
import { variance } from './stats.ts';
import { Volume, centreOf, freqOf } from './volume.ts';
import { validateTilt } from './wedge.ts';
import type { TiltRange } from './wedge.ts';

// ------------------------------------------------------------------------------------------------ density

export type AtomWeighting = 'atomic-number' | 'mass';

/** Heavy atoms relative to their weighted centre of mass (Å), with their density weights. */
export interface DensityModel {
  x: Float64Array;
  y: Float64Array;
  z: Float64Array;
  weight: Float64Array;
  /** Largest distance of an atom from the centre of mass (Å). */
  radius: number;
}

/** Hydrogens (and deuterium) are skipped, as in Situs pdb2vol: their scattering is small and often absent. */
export function densityModel(atoms: readonly AtomPosition[], weighting: AtomWeighting = SIMULATION_DEFAULTS.weighting): DensityModel {
  const heavy = atoms.filter((a) => atomicNumber(a.element) > 1);
  if (heavy.length === 0) throw new RangeError('the atomic model has no atoms heavier than hydrogen');
  const m = heavy.length;
  const x = new Float64Array(m);
  const y = new Float64Array(m);
  const z = new Float64Array(m);
  const weight = new Float64Array(m);
  let sw = 0, sx = 0, sy = 0, sz = 0;
  heavy.forEach((a, i) => {
    const w = weighting === 'mass' ? atomicMass(a.element) : atomicNumber(a.element);
    weight[i] = w;
    sw += w;
    sx += w * a.x;
    sy += w * a.y;
    sz += w * a.z;
  });
  let radius = 0;
  for (let i = 0; i < m; i++) {
    x[i] = heavy[i].x - sx / sw;
    y[i] = heavy[i].y - sy / sw;
    z[i] = heavy[i].z - sz / sw;
    radius = Math.max(radius, Math.hypot(x[i], y[i], z[i]));
  }
  return { x, y, z, weight, radius };
}

/** Situs per-axis Gaussian width for a target "2σ resolution" R (Å): σ = R / (2√3). */
export function situsSigma(resolution: number): number {
  return resolution / (2 * Math.sqrt(3));
}

export interface DensityGrid {
  n: number;
  /** Å per voxel. */
  voxelSize: number;
  /** Target resolution (Å); sets the Gaussian width of every atom. */
  resolution: number;
}

/** Placement of the model in the box: rotation about the centre of mass, then a shift in voxels. */
export interface Placement {
  rotation: Mat3;
  shift: ArrayLike<number>;
}

/**
 * Sum of per-atom Gaussians (weight × normalised 3D Gaussian, truncated at 3σ) with the centre of mass at
 * the box centre, or placed by `placement`. Values are weight per voxel.
 */
export function renderDensity(model: DensityModel, grid: DensityGrid, placement?: Placement): Volume {
  const { n, voxelSize } = grid;
  const sigma = situsSigma(grid.resolution) / voxelSize;
  const cut = 3 * sigma;
  const cut2 = cut * cut;
  const inv2s2 = 1 / (2 * sigma * sigma);
  const norm = 1 / ((2 * Math.PI) ** 1.5 * sigma ** 3);
  const c = centreOf(n);
  const R = placement?.rotation ?? identity();
  const t = placement?.shift ?? [0, 0, 0];
  const vol = new Volume(n, voxelSize);
  const d = vol.data;
  const span = 2 * Math.ceil(cut) + 2;
  const gx = new Float64Array(span), gy = new Float64Array(span), gz = new Float64Array(span);
  const dx2 = new Float64Array(span), dy2 = new Float64Array(span), dz2 = new Float64Array(span);
  const s = 1 / voxelSize;
  for (let a = 0; a < model.weight.length; a++) {
    const ax = model.x[a] * s, ay = model.y[a] * s, az = model.z[a] * s;
    const px = R[0] * ax + R[1] * ay + R[2] * az + c + t[0];
    const py = R[3] * ax + R[4] * ay + R[5] * az + c + t[1];
    const pz = R[6] * ax + R[7] * ay + R[8] * az + c + t[2];
    const x0 = Math.max(0, Math.ceil(px - cut)), x1 = Math.min(n - 1, Math.floor(px + cut));
    const y0 = Math.max(0, Math.ceil(py - cut)), y1 = Math.min(n - 1, Math.floor(py + cut));
    const z0 = Math.max(0, Math.ceil(pz - cut)), z1 = Math.min(n - 1, Math.floor(pz + cut));
    if (x0 > x1 || y0 > y1 || z0 > z1) continue;
    gaussianAxis(px, x0, x1, inv2s2, gx, dx2);
    gaussianAxis(py, y0, y1, inv2s2, gy, dy2);
    gaussianAxis(pz, z0, z1, inv2s2, gz, dz2);
    const w = model.weight[a] * norm;
    for (let k = 0; k <= z1 - z0; k++) {
      const wz = w * gz[k];
      for (let j = 0; j <= y1 - y0; j++) {
        const r2yz = dy2[j] + dz2[k];
        if (r2yz > cut2) continue;
        const wyz = wz * gy[j];
        const row = x0 + n * (y0 + j + n * (z0 + k));
        for (let i = 0; i <= x1 - x0; i++) {
          if (dx2[i] + r2yz <= cut2) d[row + i] += wyz * gx[i];
        }
      }
    }
  }
  return vol;
}

function gaussianAxis(p: number, lo: number, hi: number, inv2s2: number, g: Float64Array, d2: Float64Array): void {
  for (let i = lo; i <= hi; i++) {
    const dd = (i - p) * (i - p);
    d2[i - lo] = dd;
    g[i - lo] = Math.exp(-dd * inv2s2);
  }
}

// ------------------------------------------------------------------------------------------------- optics

/** Ideal counting detector MTF sinc(πω/2), ω = k / k_Nyquist (0.64 at Nyquist). */
export function detectorMtf(omega: number): number {
  const x = (Math.PI * omega) / 2;
  return x === 0 ? 1 : Math.sin(x) / x;
}

// -------------------------------------------------------------------------------------------- tilt series

/** Angles min, min + step, … up to max (radians); ±60° in 1° steps gives 121 angles. */
export function tiltAngles(range: TiltRange, step: number): Float64Array {
  validateTilt(range);
  if (!(step > 0) || !Number.isFinite(step)) throw new RangeError(`tilt step must be positive, got ${(step * 180) / Math.PI}°`);
  const count = Math.floor((range.max - range.min) / step + 1e-9) + 1;
  return Float64Array.from({ length: count }, (_, i) => range.min + i * step);
}

/** Projection images, angles.length × n × n, each x′-fastest; pixel size in Å. */
export interface TiltSeries {
  n: number;
  pixelSize: number;
  angles: Float64Array;
  images: Float32Array;
}

export interface Imaging {
  /** Contrast transfer per projection; null = none (pure projections). */
  ctf: CtfParameters | null;
  /** Detector MTF after noise. */
  mtf: boolean;
}

/**
 * SNR convention of this simulator, written into every data set's metadata.
 */
export const SNR_DEFINITION =
  'per projection: var(noise-free projection after CTF) / var(added Gaussian noise) over the n×n image, before the detector MTF';

/**
 * Forward model and reconstruction for one box size, voxel size and tilt scheme, with every buffer and
 * table allocated once. Not re-entrant: one instance per thread.
 *
 * Internal layouts keep y fastest, so the projection and back-projection inner loops run contiguously over
 * y while the x–z geometry (the same for every y) is computed once per ray sample.
 */
export class TomographySimulator {
  readonly n: number;
  readonly voxelSize: number;
  readonly angles: Float64Array;
  readonly imaging: Imaging;
  private readonly c: number;
  /** Volume masked to the inscribed sphere, layout [z + 2][x + 2][y] with a 2-voxel zero border in x and z. */
  private readonly slab: Float32Array;
  private readonly border = 2;
  private readonly p: number;
  /** Per ray sample (x′, z′) of the disc: y range where the sphere can be non-zero. */
  private readonly yLo: Int32Array;
  private readonly yHi: Int32Array;
  /** Projections [t][x′][y]. */
  private readonly projT: Float32Array;
  /** Ramp-filtered projections [t][x′ + pad][y], zero outside the detector. */
  private readonly filtered: Float32Array;
  private readonly pad: number;
  private readonly width: number;
  private readonly recon: Float32Array;
  private readonly ctfTable: Float64Array | null;
  private readonly ctfWork: Float64Array;
  /** Per-tilt CTFs: the two images' tables of a pair and the filtered pair's spectrum (filterPairsPerImage). */
  private readonly tiltTables: [Float64Array, Float64Array];
  private readonly pairWork: Float64Array;
  private logDose?: { voltageKv: number; table: Float64Array };
  private readonly mtfTable: Float64Array;
  private readonly mtfWork: Float64Array;
  private readonly ramp: Float64Array;
  private readonly rampWork: Float64Array;

  constructor(n: number, voxelSize: number, angles: Float64Array, imaging: Imaging) {
    if (!Number.isInteger(n) || n < 4 || n % 2 !== 0) throw new RangeError(`box size must be an even integer ≥ 4, got ${n}`);
    if (!(voxelSize > 0)) throw new RangeError(`voxel size must be positive (Å), got ${voxelSize}`);
    if (angles.length === 0) throw new RangeError('the tilt series has no angles');
    this.n = n;
    this.voxelSize = voxelSize;
    this.angles = angles;
    this.imaging = imaging;
    this.c = centreOf(n);
    this.p = n + 2 * this.border;
    this.slab = new Float32Array(this.p * this.p * n);
    this.yLo = new Int32Array(n * n);
    this.yHi = new Int32Array(n * n);
    const r = n / 2;
    for (let xp = 0; xp < n; xp++) {
      for (let zp = 0; zp < n; zp++) {
        // bilinear corners lie within √2 of the sample, so they can be up to √2 closer to the axis
        const d = Math.max(0, Math.hypot(xp - this.c, zp - this.c) - Math.SQRT2);
        const h = d < r ? Math.sqrt(r * r - d * d) : -1;
        this.yLo[xp * n + zp] = Math.max(0, Math.ceil(this.c - h));
        this.yHi[xp * n + zp] = Math.min(n - 1, Math.floor(this.c + h));
      }
    }
    const nT = angles.length;
    this.projT = new Float32Array(nT * n * n);
    // back-projected rays of the box corners reach (n/2)(|cos α| + |sin α|) ≤ n/√2 from the centre
    this.pad = Math.ceil(((Math.SQRT2 - 1) * n) / 2) + 2;
    this.width = n + 2 * this.pad;
    this.filtered = new Float32Array(nT * this.width * n);
    this.recon = new Float32Array(n * n * n);
    const m = 2 * n;
    this.ctfTable = imaging.ctf ? radialTable(m, (k) => ctfValue(k / voxelSize, imaging.ctf as CtfParameters)) : null;
    this.ctfWork = new Float64Array(2 * m * m);
    this.tiltTables = [new Float64Array(m * m), new Float64Array(m * m)];
    this.pairWork = new Float64Array(2 * m * m);
    this.mtfTable = radialTable(n, (k) => detectorMtf(k / 0.5));
    this.mtfWork = new Float64Array(2 * n * n);
    this.ramp = ramLakTransfer(m);
    this.rampWork = new Float64Array(2 * m);
  }

  /** Line integrals ∫ (R_y(α)·V) dz (voxel units) of the volume masked to its inscribed sphere. */
  project(v: Volume, out?: TiltSeries): TiltSeries {
    const { n, c, p, border, slab, projT, angles, yLo, yHi } = this;
    if (v.n !== n) throw new RangeError(`volume is ${v.n}³ but the simulator is set up for ${n}³`);
    const r2 = (n / 2) * (n / 2);
    for (let z = 0; z < n; z++) {
      for (let x = 0; x < n; x++) {
        const o = ((z + border) * p + (x + border)) * n;
        const dxz2 = (x - c) * (x - c) + (z - c) * (z - c);
        for (let y = 0; y < n; y++) {
          slab[o + y] = dxz2 + (y - c) * (y - c) <= r2 ? v.data[x + n * (y + n * z)] : 0;
        }
      }
    }
    projT.fill(0);
    const r = n / 2;
    const rowStride = p * n;
    for (let t = 0; t < angles.length; t++) {
      const ca = Math.cos(angles[t]);
      const sa = Math.sin(angles[t]);
      for (let xp = 0; xp < n; xp++) {
        const dx = xp - c;
        const h2 = r * r - dx * dx;
        if (h2 < 0) continue;
        const h = Math.sqrt(h2);
        const zLo = Math.max(0, Math.ceil(c - h));
        const zHi = Math.min(n - 1, Math.floor(c + h));
        const o = (t * n + xp) * n;
        for (let zp = zLo; zp <= zHi; zp++) {
          const lo = yLo[xp * n + zp];
          const hi = yHi[xp * n + zp];
          if (lo > hi) continue;
          const dz = zp - c;
          const sx = c + ca * dx - sa * dz + border;
          const sz = c + sa * dx + ca * dz + border;
          const x0 = Math.floor(sx);
          const z0 = Math.floor(sz);
          const fx = sx - x0;
          const fz = sz - z0;
          const w00 = (1 - fx) * (1 - fz), w01 = fx * (1 - fz), w10 = (1 - fx) * fz, w11 = fx * fz;
          const b00 = (z0 * p + x0) * n;
          const b01 = b00 + n;
          const b10 = b00 + rowStride;
          const b11 = b10 + n;
          for (let y = lo; y <= hi; y++) {
            projT[o + y] += w00 * slab[b00 + y] + w01 * slab[b01 + y] + w10 * slab[b10 + y] + w11 * slab[b11 + y];
          }
        }
      }
    }
    const series = out ?? { n, pixelSize: this.voxelSize, angles, images: new Float32Array(angles.length * n * n) };
    for (let t = 0; t < angles.length; t++) {
      const base = t * n * n;
      for (let xp = 0; xp < n; xp++) {
        for (let y = 0; y < n; y++) series.images[base + y * n + xp] = projT[base + xp * n + y];
      }
    }
    return series;
  }

  /**
   * Multiplies each projection's spectrum by its CTF, on a 2×-padded grid so its fast oscillation does not
   * alias: projection t by `ctf`'s tilt t (its angles are the simulator's), or all by imaging.ctf without one.
   */
  applyCtf(series: TiltSeries, ctf?: ParticleCtf): void {
    const n = this.n;
    const m = 2 * n;
    if (!ctf) {
      if (this.ctfTable) filterPairs(series.images, n, m, n / 2, this.ctfTable, this.ctfWork);
      return;
    }
    if (ctf.tilts.length !== this.angles.length || ctf.tilts.some((t, i) => Math.abs(t.angle - this.angles[i]) > 1e-9)) {
      throw new RangeError(`the CTF has ${ctf.tilts.length} tilts that are not the simulator's ${this.angles.length} tilt angles`);
    }
    const defocus = uniformDefocus(ctf.tilts);
    if (defocus !== undefined) {
      filterPairs(series.images, n, m, n / 2, this.radialCtf(defocus, ctf.optics), this.ctfWork);
      return;
    }
    const logDose = this.logDoseTable(ctf.optics.voltageKv);
    const fill = (t: number, table: Float64Array): void => this.tiltTable(ctf.tilts[t], ctf.optics, logDose, table);
    filterPairsPerImage(series.images, n, m, n / 2, fill, this.tiltTables, this.ctfWork, this.pairWork);
  }

  /**
   * One tilt image's transfer on the m×m grid: astigmaticCtf (u along x′, v along y) × dose weight, made even on
   * the grid (table[k] = table[−k]) so filterPairsPerImage keeps each image real and apart from its pair. Rows
   * 0 … m/2 are evaluated and the others copied from −k; on the Nyquist row and column −k is not the negated
   * frequency (it aliases), so there the table holds the mean of the transfer at k and at the grid's −k.
   */
  private tiltTable(tilt: TiltCtf, optics: ParticleCtf['optics'], logDose: Float64Array, table: Float64Array): void {
    const m = 2 * this.n;
    const h = m / 2;
    const toFrequency = 1 / (m * this.voxelSize);
    const pre = tilt.preExposure ?? 0;
    const at = (i: number, j: number): number => {
      const ctf = astigmaticCtf(freqOf(i, m) * toFrequency, freqOf(j, m) * toFrequency, tilt, optics);
      return pre > 0 ? ctf * Math.exp(pre * logDose[j * m + i]) : ctf;
    };
    for (let j = 0; j <= h; j++) {
      for (let i = 0; i < m; i++) table[j * m + i] = at(i, j);
    }
    // Rows 0 and m/2 are their own mirror rows: pair i with m − i.
    for (const j of [0, h]) {
      for (let i = 1; i < h; i++) {
        const mean = 0.5 * (table[j * m + i] + table[j * m + m - i]);
        table[j * m + i] = mean;
        table[j * m + m - i] = mean;
      }
    }
    for (let j = 1; j < h; j++) table[j * m + h] = 0.5 * (table[j * m + h] + at(h, m - j));
    for (let j = h + 1; j < m; j++) {
      const mirror = (m - j) * m;
      for (let i = 0; i < m; i++) table[j * m + i] = table[mirror + ((m - i) % m)];
    }
  }

  /**
   * ln of the dose weight per e/Å² on the m×m grid at `voltageKv`, so an image after N e/Å² keeps
   * exp(N · this) = doseWeight(k, N) (core/ctf.ts) without a power per frequency and tilt.
   */
  private logDoseTable(voltageKv: number): Float64Array {
    if (this.logDose?.voltageKv !== voltageKv) {
      const m = 2 * this.n;
      const table = radialTable(m, (k) => Math.log(doseWeight(k / this.voxelSize, 1, voltageKv)));
      this.logDose = { voltageKv, table };
    }
    return this.logDose.table;
  }

  /** The radial CTF table of one defocus: imaging.ctf's own when it is that CTF (data sets stay bit for bit). */
  private radialCtf(defocusAngstrom: number, optics: ParticleCtf['optics']): Float64Array {
    const own = this.imaging.ctf;
    const same = own && this.ctfTable && own.defocusAngstrom === defocusAngstrom && own.voltageKv === optics.voltageKv &&
      own.csMillimetre === optics.csMillimetre && own.amplitudeContrast === optics.amplitudeContrast;
    if (same) return this.ctfTable!;
    const p: CtfParameters = { ...optics, defocusAngstrom };
    return radialTable(2 * this.n, (k) => ctfValue(k / this.voxelSize, p));
  }

  /**
   * Adds white Gaussian noise to each projection with variance var(projection)/snr (see SNR_DEFINITION).
   * snr = Infinity adds nothing and draws no random numbers.
   */
  addNoise(series: TiltSeries, snr: number, rng: Rng): void {
    if (!(snr > 0)) throw new RangeError(`SNR must be positive (or Infinity), got ${snr}`);
    if (snr === Infinity) return;
    const m = this.n * this.n;
    for (let t = 0; t < series.angles.length; t++) {
      const img = series.images.subarray(t * m, (t + 1) * m);
      const sd = Math.sqrt(variance(img, 0) / snr);
      for (let i = 0; i < m; i++) img[i] += sd * rng.gaussian();
    }
  }

  /** Detector MTF on each (noisy) projection; noise is stationary, so the n×n periodic grid suffices. */
  applyMtf(series: TiltSeries): void {
    if (!this.imaging.mtf) return;
    filterPairs(series.images, this.n, this.n, 0, this.mtfTable, this.mtfWork);
  }

  /**
   * Weighted back-projection: each detector row ramp-filtered (discrete Ram-Lak on a 2×-zero-padded row),
   * then smeared back along its ray with linear interpolation, scaled by the angular step (the quadrature
   * weight of ∫dθ): π / N_views only for a full ±90° series, so limited tilt ranges keep the same brightness.
   */
  reconstruct(series: TiltSeries, out?: Volume): Volume {
    const { n, c, pad, width, filtered, recon, ramp, rampWork, angles } = this;
    const nT = angles.length;
    const scale = nT > 1 ? (angles[nT - 1] - angles[0]) / (nT - 1) : Math.PI;
    for (let t = 0; t < nT; t++) {
      const img = t * n * n;
      const dst = t * width * n;
      for (let y = 0; y < n; y += 2) {
        rampWork.fill(0);
        const second = y + 1 < n;
        for (let x = 0; x < n; x++) {
          rampWork[2 * x] = series.images[img + y * n + x];
          rampWork[2 * x + 1] = second ? series.images[img + (y + 1) * n + x] : 0;
        }
        fft1InPlace(rampWork, false);
        for (let k = 0; k < ramp.length; k++) {
          rampWork[2 * k] *= ramp[k];
          rampWork[2 * k + 1] *= ramp[k];
        }
        fft1InPlace(rampWork, true);
        for (let x = 0; x < n; x++) {
          const o = dst + (x + pad) * n + y;
          filtered[o] = scale * rampWork[2 * x];
          if (second) filtered[o + 1] = scale * rampWork[2 * x + 1];
        }
      }
    }
    recon.fill(0);
    for (let t = 0; t < nT; t++) {
      const ca = Math.cos(angles[t]);
      const sa = Math.sin(angles[t]);
      const rows = t * width * n;
      for (let z = 0; z < n; z++) {
        const base = c + sa * (z - c) + pad;
        for (let x = 0; x < n; x++) {
          const sx = base + ca * (x - c);
          const i0 = Math.floor(sx);
          const f = sx - i0;
          const q0 = rows + i0 * n;
          const q1 = q0 + n;
          const o = (z * n + x) * n;
          for (let y = 0; y < n; y++) recon[o + y] += filtered[q0 + y] + f * (filtered[q1 + y] - filtered[q0 + y]);
        }
      }
    }
    const vol = out ?? new Volume(n, this.voxelSize);
    if (vol.n !== n) throw new RangeError(`output volume is ${vol.n}³, expected ${n}³`);
    for (let z = 0; z < n; z++) {
      for (let x = 0; x < n; x++) {
        const o = (z * n + x) * n;
        for (let y = 0; y < n; y++) vol.data[x + n * (y + n * z)] = recon[o + y];
      }
    }
    return vol;
  }

  /**
   * The full forward model and reconstruction of one particle density: a subtomogram, protein-white; `ctf`
   * gives each projection its own CTF (applyCtf), else imaging.ctf applies.
   */
  simulate(density: Volume, snr: number, rng: Rng, ctf?: ParticleCtf): Volume {
    const series = this.project(density);
    this.applyCtf(series, ctf);
    this.addNoise(series, snr, rng);
    this.applyMtf(series);
    const vol = this.reconstruct(series);
    if (this.imaging.ctf || ctf) for (let i = 0; i < vol.data.length; i++) vol.data[i] = -vol.data[i];
    return vol;
  }
}

/** The one defocus of tilts that share it without astigmatism or dose, else undefined (applyCtf's fast path). */
function uniformDefocus(tilts: readonly TiltCtf[]): number | undefined {
  const d = tilts[0].defocusU;
  return tilts.every((t) => t.defocusU === d && t.defocusV === d && !(t.preExposure !== undefined && t.preExposure > 0)) ? d : undefined;
}

/** Real filter table over an m×m unshifted grid, from the radial frequency in cycles per pixel. */
function radialTable(m: number, f: (cyclesPerPixel: number) => number): Float64Array {
  const table = new Float64Array(m * m);
  for (let j = 0; j < m; j++) {
    const fy = freqOf(j, m) / m;
    for (let i = 0; i < m; i++) {
      const fx = freqOf(i, m) / m;
      table[j * m + i] = f(Math.hypot(fx, fy));
    }
  }
  return table;
}

/**
 * Filters n×n images with a real, even transfer table on an m×m grid (image placed at `offset`), two
 * images per complex FFT: a real even filter keeps real images real, so they ride in the real and
 * imaginary parts.
 */
function filterPairs(images: Float32Array, n: number, m: number, offset: number, table: Float64Array, work: Float64Array): void {
  const count = images.length / (n * n);
  for (let t = 0; t < count; t += 2) {
    work.fill(0);
    const a = t * n * n;
    const b = t + 1 < count ? a + n * n : -1;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const w = 2 * ((y + offset) * m + x + offset);
        work[w] = images[a + y * n + x];
        if (b >= 0) work[w + 1] = images[b + y * n + x];
      }
    }
    fft2InPlace(work, m, m, false);
    for (let i = 0; i < table.length; i++) {
      work[2 * i] *= table[i];
      work[2 * i + 1] *= table[i];
    }
    fft2InPlace(work, m, m, true);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const w = 2 * ((y + offset) * m + x + offset);
        images[a + y * n + x] = work[w];
        if (b >= 0) images[b + y * n + x] = work[w + 1];
      }
    }
  }
}

/**
 * Filters n×n images, each with its own real, even transfer table (`fill(t, table)` writes image t's) on an
 * m×m grid, two images per complex FFT as filterPairs does. With Z the spectrum of a + i·b, the spectra of a and
 * b are (Z(k) + Z̄(−k))/2 and (Z(k) − Z̄(−k))/2i, so H_a·A + i·H_b·B = ½(H_a + H_b)·Z(k) + ½(H_a − H_b)·Z̄(−k),
 * whose inverse is a∗h_a + i·b∗h_b, both real.
 */
function filterPairsPerImage(
  images: Float32Array,
  n: number,
  m: number,
  offset: number,
  fill: (t: number, table: Float64Array) => void,
  tables: [Float64Array, Float64Array],
  work: Float64Array,
  filtered: Float64Array,
): void {
  const count = images.length / (n * n);
  const [ha, hb] = tables;
  for (let t = 0; t < count; t += 2) {
    const second = t + 1 < count;
    fill(t, ha);
    if (second) fill(t + 1, hb);
    else hb.set(ha);
    work.fill(0);
    const a = t * n * n;
    const b = a + n * n;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const w = 2 * ((y + offset) * m + x + offset);
        work[w] = images[a + y * n + x];
        if (second) work[w + 1] = images[b + y * n + x];
      }
    }
    fft2InPlace(work, m, m, false);
    for (let j = 0; j < m; j++) {
      const jm = (m - j) % m;
      for (let i = 0; i < m; i++) {
        const k = j * m + i;
        const km = jm * m + ((m - i) % m);
        const sum = 0.5 * (ha[k] + hb[k]);
        const diff = 0.5 * (ha[k] - hb[k]);
        filtered[2 * k] = sum * work[2 * k] + diff * work[2 * km];
        filtered[2 * k + 1] = sum * work[2 * k + 1] - diff * work[2 * km + 1];
      }
    }
    fft2InPlace(filtered, m, m, true);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const w = 2 * ((y + offset) * m + x + offset);
        images[a + y * n + x] = filtered[w];
        if (second) images[b + y * n + x] = filtered[w + 1];
      }
    }
  }
}

/**
 * Transfer function of the discrete Ram-Lak kernel on a length-m periodic row (unit sample spacing):
 * h(0) = 1/4, h(odd j) = −1/(π² j²), h(even j ≠ 0) = 0. Its spectrum is |k| up to Nyquist with the correct
 * (non-zero) DC term, which a sampled |k| lacks.
 */
function ramLakTransfer(m: number): Float64Array {
  const h = new Float64Array(2 * m);
  h[0] = 0.25;
  for (let j = 1; j < m / 2; j += 2) {
    const v = -1 / (Math.PI * Math.PI * j * j);
    h[2 * j] = v;
    h[2 * (m - j)] = v;
  }
  fft1InPlace(h, false);
  const transfer = new Float64Array(m);
  for (let k = 0; k < m; k++) transfer[k] = h[2 * k];
  return transfer;
}

/**
 * SNR from two realisations with the same signal and independent noise: with ρ their correlation (each
 * segment of `segment` samples centred on its own mean, sums pooled), SNR = ρ / (1 − ρ). For tilt series
 * use segment = n² so each projection is one segment.
 */
export function snrFromTwoRealisations(a: Float32Array, b: Float32Array, segment: number): number {
  if (a.length !== b.length || a.length % segment !== 0) throw new RangeError('realisations must have equal length, a multiple of the segment');
  let sab = 0, saa = 0, sbb = 0;
  for (let s = 0; s < a.length; s += segment) {
    let ma = 0, mb = 0;
    for (let i = s; i < s + segment; i++) {
      ma += a[i];
      mb += b[i];
    }
    ma /= segment;
    mb /= segment;
    for (let i = s; i < s + segment; i++) {
      const da = a[i] - ma;
      const db = b[i] - mb;
      sab += da * db;
      saa += da * da;
      sbb += db * db;
    }
  }
  const rho = sab / Math.sqrt(saa * sbb);
  return rho / (1 - rho);
}

// --------------------------------------------------------------------------------------------- data sets

export interface SimulationConfig {
  n: number;
  voxelSize: number;
  /** Target resolution of the density (Å). */
  resolution: number;
  tilt: TiltRange;
  /** Tilt increment (radians). */
  tiltStep: number;
  /** Per-projection SNR (SNR_DEFINITION); Infinity = noise-free. */
  snr: number;
  /** Shifts are uniform in ±maxShift voxels on each axis. */
  maxShift: number;
  seed: number;
  /** The optics; without `defocusRange`, imaging.ctf's defocus is every tomogram's. */
  imaging: Imaging;
  /** Underfocus range (Å) each tomogram's defocus is drawn from, uniformly (module doc); needs imaging.ctf. */
  defocusRange?: [number, number];
  /** Largest astigmatism |ΔfU − ΔfV| (Å) a tomogram draws, uniformly, at a uniform angle; absent: none. */
  astigmatism?: number;
  /** Total electron dose of each tilt series (e/Å²), collected dose-symmetrically; absent or 0: no dose weighting. */
  dose?: number;
  /**
   * Particles per tomogram (particle i is in tomogram ⌊i / this⌋); absent: one tomogram when every tomogram
   * would be alike (no defocus range, no astigmatism), else one per particle.
   */
  particlesPerTomogram?: number;
  /** Slab (Å) the particles' centres lie in, uniformly: width along x and y, thickness along z; absent: all at the centre. */
  specimen?: { width: number; thickness: number };
}

/**
 * Sign of the simulated defocus change with depth (RELION's rlnTomoHand, core/defocus.ts): a particle at
 * larger z′ after the tilt, towards the electron source, is further underfocused.
 */
export const SIMULATED_HANDEDNESS = 1;

/**
 * Acquisition order of a tilt series collected dose-symmetrically (Hagen, Wan & Briggs 2017): the tilt nearest
 * 0° first, then alternately the next positive and the next negative tilt; returns each tilt's place in that
 * order. Magnitudes equal within 1e-6 rad count as one step, so ±α from a grid of steps pair up.
 */
export function doseSymmetricOrder(angles: ArrayLike<number>): Int32Array {
  const step = (a: number) => Math.round(Math.abs(a) * 1e6);
  const order = Array.from({ length: angles.length }, (_, i) => i).sort((i, j) => {
    const d = step(angles[i]) - step(angles[j]);
    return d !== 0 ? d : angles[j] - angles[i];
  });
  const rank = new Int32Array(angles.length);
  order.forEach((t, place) => (rank[t] = place));
  return rank;
}

/** An invalid simulation parameter; `field` names it (a SimulationConfig key, or ctf.<key>). */
export class SimulationConfigError extends RangeError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Throws a SimulationConfigError naming the first invalid parameter. */
export function validateSimulationConfig(cfg: SimulationConfig): void {
  const { n, voxelSize, resolution, snr, maxShift, seed } = cfg;
  const check = (ok: boolean, field: string, message: string): void => {
    if (!ok) throw new SimulationConfigError(field, message);
  };
  check(Number.isInteger(n) && n >= 8 && n <= MAX_BOX && n % 2 === 0, 'n', `box size must be an even integer from 8 to ${MAX_BOX} voxels, got ${n}`);
  check(voxelSize > 0 && Number.isFinite(voxelSize), 'voxelSize', `voxel size must be positive (Å), got ${voxelSize}`);
  check(
    resolution >= 2 * voxelSize && Number.isFinite(resolution),
    'resolution',
    `resolution ${resolution} Å must be finite and no finer than Nyquist (2 × ${voxelSize} Å voxels)`,
  );
  check(snr > 0, 'snr', `SNR must be positive (or infinite for noise-free data), got ${snr}`);
  check(
    maxShift >= 0 && maxShift < n / 4,
    'maxShift',
    `maximum shift must be ≥ 0 and below a quarter of the box (${n / 4} voxels), got ${maxShift}`,
  );
  check(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff, 'seed', `seed must be an integer in [0, 2³²), got ${seed}`);
  try {
    validateTilt(cfg.tilt);
  } catch (err) {
    throw new SimulationConfigError('tilt', (err as Error).message);
  }
  const stepDeg = (cfg.tiltStep * 180) / Math.PI;
  check(cfg.tiltStep > 0 && Number.isFinite(cfg.tiltStep), 'tiltStep', `tilt step must be positive, got ${stepDeg}°`);
  validateAcquisition(cfg, check);
  const ctf = cfg.imaging.ctf;
  if (ctf) {
    check(Number.isFinite(ctf.defocusAngstrom), 'ctf.defocusAngstrom', `defocus must be a finite number, got ${ctf.defocusAngstrom} Å`);
    check(ctf.csMillimetre >= 0 && Number.isFinite(ctf.csMillimetre), 'ctf.csMillimetre', `spherical aberration must be ≥ 0 mm, got ${ctf.csMillimetre}`);
    check(ctf.voltageKv > 0 && Number.isFinite(ctf.voltageKv), 'ctf.voltageKv', `acceleration voltage must be positive (kV), got ${ctf.voltageKv}`);
    check(
      ctf.amplitudeContrast >= 0 && ctf.amplitudeContrast <= 1,
      'ctf.amplitudeContrast',
      `amplitude contrast must be between 0 and 1, got ${ctf.amplitudeContrast}`,
    );
  }
}

/** The per-tomogram acquisition settings: each needs a CTF, and each has its own sane range. */
function validateAcquisition(cfg: SimulationConfig, check: (ok: boolean, field: string, message: string) => void): void {
  const µm = (a: number) => `${a / 1e4} µm`;
  const given = (['defocusRange', 'astigmatism', 'dose', 'specimen'] as const).filter((f) => cfg[f] !== undefined);
  for (const field of given) {
    check(cfg.imaging.ctf !== null, field, 'describes the CTF of the tilt images, which this simulation has none of');
  }
  if (cfg.defocusRange) {
    const [lo, hi] = cfg.defocusRange;
    const positive = Number.isFinite(lo) && Number.isFinite(hi) && lo > 0;
    check(positive, 'defocusRange', `defocus must be a positive underfocus, got ${µm(lo)} to ${µm(hi)}`);
    check(lo <= hi, 'defocusRange', `the defocus range must run from low to high, got ${µm(lo)} to ${µm(hi)}`);
  }
  const astig = cfg.astigmatism;
  if (astig !== undefined) check(astig >= 0 && Number.isFinite(astig), 'astigmatism', `astigmatism must be ≥ 0, got ${µm(astig)}`);
  const dose = cfg.dose;
  if (dose !== undefined) check(dose >= 0 && Number.isFinite(dose), 'dose', `the total dose must be ≥ 0 e/Å², got ${dose}`);
  const per = cfg.particlesPerTomogram;
  if (per !== undefined) {
    check(Number.isInteger(per) && per >= 1, 'particlesPerTomogram', `particles per tomogram must be a whole number ≥ 1, got ${per}`);
  }
  const slab = cfg.specimen;
  if (slab) {
    const ok = (x: number) => x >= 0 && Number.isFinite(x);
    const nm = `${slab.width / 10} and ${slab.thickness / 10} nm`;
    check(ok(slab.width) && ok(slab.thickness), 'specimen', `the specimen's width and thickness must be ≥ 0, got ${nm}`);
  }
}

export interface SimulatedParticle {
  index: number;
  /** True pose: particle ≈ Λ_pose(reference). Angles in radians, shift in voxels. */
  pose: Pose;
  volume: Volume;
  /** Its tomogram (0-based; `DatasetSimulator.tomogram`). */
  tomogram: number;
  /** Where its centre lies, Å from its tomogram's centre (x, y, z): the point whose depth sets its defocus. */
  centre: [number, number, number];
  /** Every tilt image's CTF at the particle (module doc); absent without a CTF. */
  ctf?: ParticleCtf;
}

/** One simulated tilt series: the CTF of each tilt image at the tomogram's centre, in the simulator's tilt order. */
export interface SimulatedTomogram {
  index: number;
  tilts: CentralTiltCtf[];
}

/** A data set of particles of one model; particle i depends only on (model, config, i). */
export class DatasetSimulator {
  private readonly tomo: TomographySimulator;
  private readonly grid: DensityGrid;

  /** Seeds of the tomograms' and the particles' placement streams (module doc, Randomness). */
  private readonly tomogramSeed: number;
  private readonly placementSeed: number;
  /** Pre-exposure of each tilt image, e/Å² (0 without dose). */
  private readonly preExposure: Float64Array;
  private readonly optics: Optics | null;

  constructor(
    private readonly model: DensityModel,
    private readonly config: SimulationConfig,
  ) {
    validateSimulationConfig(config);
    this.grid = { n: config.n, voxelSize: config.voxelSize, resolution: config.resolution };
    this.tomo = new TomographySimulator(config.n, config.voxelSize, tiltAngles(config.tilt, config.tiltStep), config.imaging);
    const streams = Rng.derive(config.seed, -1);
    this.tomogramSeed = streams.nextU32();
    this.placementSeed = streams.nextU32();
    const perImage = (config.dose ?? 0) / this.angles.length;
    this.preExposure = Float64Array.from(doseSymmetricOrder(this.angles), (place) => place * perImage);
    const ctf = config.imaging.ctf;
    this.optics = ctf && { voltageKv: ctf.voltageKv, csMillimetre: ctf.csMillimetre, amplitudeContrast: ctf.amplitudeContrast };
  }

  get angles(): Float64Array {
    return this.tomo.angles;
  }

  /** The tomogram particle `index` belongs to (SimulationConfig.particlesPerTomogram). */
  tomogramOf(index: number): number {
    const { particlesPerTomogram, defocusRange, astigmatism } = this.config;
    const alike = defocusRange === undefined && !(astigmatism !== undefined && astigmatism > 0);
    return particlesPerTomogram !== undefined ? Math.floor(index / particlesPerTomogram) : alike ? 0 : index;
  }

  /** Tomogram `index`'s tilt series: its defocus and astigmatism drawn from its own stream; null without a CTF. */
  tomogram(index: number): SimulatedTomogram | null {
    const ctf = this.config.imaging.ctf;
    if (!ctf) return null;
    const rng = Rng.derive(this.tomogramSeed, index);
    // Three draws always, so switching astigmatism on or off keeps each tomogram's defocus.
    const [d, a, angle] = [rng.uniform(), rng.uniform(), rng.uniform()];
    const range = this.config.defocusRange;
    const defocus = range ? range[0] + (range[1] - range[0]) * d : ctf.defocusAngstrom;
    const astigmatism = (this.config.astigmatism ?? 0) * a;
    const tilts = Array.from(this.angles, (tiltAngle, t): CentralTiltCtf => ({
      angle: tiltAngle,
      defocusU: defocus + astigmatism / 2,
      defocusV: defocus - astigmatism / 2,
      astigmatismAngle: astigmatism > 0 ? Math.PI * angle : 0,
      preExposure: this.preExposure[t],
      xTilt: 0,
    }));
    return { index, tilts };
  }

  /** Where particle `index`'s centre lies in its tomogram, Å from the centre: uniform in the specimen slab. */
  private placement(index: number): [number, number, number] {
    const slab = this.config.specimen;
    if (!slab) return [0, 0, 0];
    const rng = Rng.derive(this.placementSeed, index);
    const w = slab.width / 2;
    const t = slab.thickness / 2;
    return [rng.range(-w, w), rng.range(-w, w), rng.range(-t, t)];
  }

  /** Noise-free density in the canonical pose, centre of mass at the box centre. */
  reference(): Volume {
    return renderDensity(this.model, this.grid);
  }

  particle(index: number): SimulatedParticle {
    const rng = Rng.derive(this.config.seed, index);
    const rotation = randomRotation(rng);
    const s = this.config.maxShift;
    const shift = [rng.range(-s, s), rng.range(-s, s), rng.range(-s, s)];
    const density = renderDensity(this.model, this.grid, { rotation, shift });
    const tomogram = this.tomogramOf(index);
    const centre = this.placement(index);
    const series = this.tomogram(tomogram);
    const ctf = series && this.optics ? { optics: this.optics, tilts: tiltCtfsAt(series.tilts, centre, SIMULATED_HANDEDNESS) } : undefined;
    const volume = this.tomo.simulate(density, this.config.snr, rng, ctf);
    const particle: SimulatedParticle = { index, pose: poseFromMatrix(rotation, shift), volume, tomogram, centre };
    if (ctf) particle.ctf = ctf;
    return particle;
  }
}
