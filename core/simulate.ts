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
 *   how many particles a data set has, and a seed reproduces a data set bit for bit.
 */
import { MAX_BOX, SIMULATION_DEFAULTS } from '../model/defaults.ts';
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

/** CTF parameters; defocus positive = underfocus. */
export interface CtfParameters {
  defocusAngstrom: number;
  csMillimetre: number;
  voltageKv: number;
  amplitudeContrast: number;
}

/** Relativistic electron wavelength (Å) at an acceleration voltage in kV: 0.019687 Å at 300 kV. */
export function electronWavelength(voltageKv: number): number {
  const v = voltageKv * 1000;
  return 12.2643 / Math.sqrt(v * (1 + 0.978466e-6 * v));
}

/**
 * CTF(k) = −(√(1−A²)·sin χ + A·cos χ), χ = π·λ·Δf·k² − (π/2)·Cs·λ³·k⁴, for spatial frequency k in 1/Å.
 */
export function ctfValue(k: number, p: CtfParameters): number {
  const lambda = electronWavelength(p.voltageKv);
  const cs = p.csMillimetre * 1e7;
  const k2 = k * k;
  const chi = Math.PI * lambda * p.defocusAngstrom * k2 - (Math.PI / 2) * cs * lambda ** 3 * k2 * k2;
  const a = p.amplitudeContrast;
  return -(Math.sqrt(1 - a * a) * Math.sin(chi) + a * Math.cos(chi));
}

/** The CTF's zero crossings in (0, kMax] (1/Å), ascending: a scan fine enough for 6 µm at 6 Å, refined by bisection. */
export function ctfZeros(p: CtfParameters, kMax: number, step = 1e-5): number[] {
  const found: number[] = [];
  for (let k = step; k < kMax; k += step) {
    if (Math.sign(ctfValue(k, p)) === Math.sign(ctfValue(k + step, p))) continue;
    let lo = k;
    let hi = k + step;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (Math.sign(ctfValue(mid, p)) === Math.sign(ctfValue(lo, p))) lo = mid;
      else hi = mid;
    }
    found.push((lo + hi) / 2);
  }
  return found;
}

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

  /** Multiplies each projection's spectrum by the CTF, on a 2×-padded grid so its fast oscillation does not alias. */
  applyCtf(series: TiltSeries): void {
    if (!this.ctfTable) return;
    const n = this.n;
    filterPairs(series.images, n, 2 * n, n / 2, this.ctfTable, this.ctfWork);
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

  /** The full forward model and reconstruction of one particle density: a subtomogram, protein-white. */
  simulate(density: Volume, snr: number, rng: Rng): Volume {
    const series = this.project(density);
    this.applyCtf(series);
    this.addNoise(series, snr, rng);
    this.applyMtf(series);
    const vol = this.reconstruct(series);
    if (this.imaging.ctf) for (let i = 0; i < vol.data.length; i++) vol.data[i] = -vol.data[i];
    return vol;
  }
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
  imaging: Imaging;
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

export interface SimulatedParticle {
  index: number;
  /** True pose: particle ≈ Λ_pose(reference). Angles in radians, shift in voxels. */
  pose: Pose;
  volume: Volume;
}

/** A data set of particles of one model; particle i depends only on (model, config, i). */
export class DatasetSimulator {
  private readonly tomo: TomographySimulator;
  private readonly grid: DensityGrid;

  constructor(
    private readonly model: DensityModel,
    private readonly config: SimulationConfig,
  ) {
    validateSimulationConfig(config);
    this.grid = { n: config.n, voxelSize: config.voxelSize, resolution: config.resolution };
    this.tomo = new TomographySimulator(config.n, config.voxelSize, tiltAngles(config.tilt, config.tiltStep), config.imaging);
  }

  get angles(): Float64Array {
    return this.tomo.angles;
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
    const volume = this.tomo.simulate(density, this.config.snr, rng);
    return { index, pose: poseFromMatrix(rotation, shift), volume };
  }
}
