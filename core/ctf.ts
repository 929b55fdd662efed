/**
 * The contrast transfer function — one home for the simulator, alignment and averaging (design.md "Physics
 * notes" and "CTF in alignment and averaging").
 *
 * CTF(k) = −(√(1−A²)·sin χ + A·cos χ), χ = π·λ·Δf·k² − (π/2)·Cs·λ³·k⁴, k in 1/Å, Δf > 0 underfocus; an
 * astigmatic image has Δf(φ) = ½(ΔfU + ΔfV + (ΔfU − ΔfV)·cos 2(φ − φ_astig)) along the direction φ of the
 * frequency in the image (RELION's convention: φ_astig is rlnDefocusAngle, U the larger defocus).
 *
 * Dose weighting as Grant & Grigorieff (2015, eLife 4:e06980, Eq. 3), as RELION and Warp apply it: an image
 * taken after N e/Å² keeps exp(−N / (2·N_e(k))) of its signal at frequency k, with the critical exposure
 * N_e(k) = 0.245·k^−1.665 + 2.81 e/Å² at 300 kV (× 0.8 at 200 kV, the paper's scaling).
 *
 * The 3D model of a subtomogram's transfer (`ctfModel`): by the Fourier slice theorem the tilt image at
 * angle α fills the central plane through the y axis with kz/kx = tan α (core/wedge.ts); a weighted
 * back-projection puts each image's 2D spectrum, multiplied by its CTF, on its plane. Each observed 3D
 * frequency takes the CTF of the tilt plane nearest to it, evaluated at its projection onto that plane
 * (in-plane coordinates u = kx·cos α + kz·sin α along the image's x′, v = ky). Subtomograms are protein-
 * white (core/simulate.ts negates them, as is usual for averaging), so the model is −CTF: positive in the
 * first lobe, A at k = 0. With CTF ≡ 1 it is exactly the binary wedge.
 */
import type { ParticleCtf, TiltCtf } from '../model/particles.ts';
import { fft3, ifft3Real } from './fft.ts';
import type { Mat3 } from './rotate.ts';
import { Volume, freqOf } from './volume.ts';
import { type TiltRange, wedgeMask } from './wedge.ts';

/** CTF parameters of one non-astigmatic image; defocus positive = underfocus. */
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

/** CTF(k) of a non-astigmatic image, k in 1/Å. */
export function ctfValue(k: number, p: CtfParameters): number {
  return ctfOfChi(k * k, p.defocusAngstrom, electronWavelength(p.voltageKv), p.csMillimetre * 1e7, p.amplitudeContrast);
}

function ctfOfChi(k2: number, defocus: number, lambda: number, csAngstrom: number, amplitudeContrast: number): number {
  const chi = Math.PI * lambda * defocus * k2 - (Math.PI / 2) * csAngstrom * lambda ** 3 * k2 * k2;
  return -(Math.sqrt(1 - amplitudeContrast * amplitudeContrast) * Math.sin(chi) + amplitudeContrast * Math.cos(chi));
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

/** Optics of an image series: acceleration voltage (kV), spherical aberration (mm), amplitude contrast. */
export interface CtfOptics {
  voltageKv: number;
  csMillimetre: number;
  amplitudeContrast: number;
}

/** CTF of an astigmatic image at the in-plane frequency (u, v), 1/Å (u along the image's x′). */
export function astigmaticCtf(u: number, v: number, tilt: Pick<TiltCtf, 'defocusU' | 'defocusV' | 'astigmatismAngle'>, optics: CtfOptics): number {
  const k2 = u * u + v * v;
  const phi = Math.atan2(v, u);
  const defocus = 0.5 * (tilt.defocusU + tilt.defocusV + (tilt.defocusU - tilt.defocusV) * Math.cos(2 * (phi - tilt.astigmatismAngle)));
  return ctfOfChi(k2, defocus, electronWavelength(optics.voltageKv), optics.csMillimetre * 1e7, optics.amplitudeContrast);
}

/** Grant & Grigorieff's critical exposure N_e(k), e/Å², at frequency k (1/Å) and the voltage (kV). */
export function criticalExposure(k: number, voltageKv: number): number {
  const at300 = 0.245 * Math.pow(k, -1.665) + 2.81;
  return voltageKv < 250 ? 0.8 * at300 : at300;
}

/** Fraction of the signal at frequency k (1/Å) left in an image taken after `preExposure` e/Å². */
export function doseWeight(k: number, preExposure: number, voltageKv: number): number {
  if (preExposure <= 0 || k === 0) return 1;
  return Math.exp(-preExposure / (2 * criticalExposure(k, voltageKv)));
}

/** Index of the tilt whose angle is nearest to `angle` (tilts ascending). */
function nearestTilt(tilts: readonly TiltCtf[], angle: number): number {
  let lo = 0;
  let hi = tilts.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (tilts[mid].angle <= angle) lo = mid;
    else hi = mid;
  }
  return Math.abs(tilts[hi].angle - angle) < Math.abs(tilts[lo].angle - angle) ? hi : lo;
}

/** Throws a message naming the problem when the tilts are not a usable tilt series. */
export function validateParticleCtf(ctf: ParticleCtf): void {
  const { tilts, optics } = ctf;
  if (tilts.length === 0) throw new RangeError('the CTF has no tilt images');
  if (!(optics.voltageKv > 0) || !(optics.csMillimetre >= 0) || !(optics.amplitudeContrast >= 0 && optics.amplitudeContrast <= 1)) {
    throw new RangeError(`invalid optics: ${optics.voltageKv} kV, Cs ${optics.csMillimetre} mm, amplitude contrast ${optics.amplitudeContrast}`);
  }
  tilts.forEach((t, i) => {
    const deg = ((t.angle * 180) / Math.PI).toFixed(2);
    if (!(Math.abs(t.angle) <= Math.PI / 2 + 1e-9)) throw new RangeError(`tilt ${i + 1}: angle ${deg}° is outside ±90°`);
    if (i > 0 && !(t.angle > tilts[i - 1].angle)) throw new RangeError(`tilt ${i + 1}: angles must ascend, ${deg}° follows ${((tilts[i - 1].angle * 180) / Math.PI).toFixed(2)}°`);
    if (!Number.isFinite(t.defocusU) || !Number.isFinite(t.defocusV) || !Number.isFinite(t.astigmatismAngle)) {
      throw new RangeError(`tilt ${i + 1} (${deg}°): defocus ${t.defocusU}/${t.defocusV} Å, angle ${t.astigmatismAngle} is not a number`);
    }
  });
}

/**
 * The 3D transfer M(k) of a subtomogram of an n³ box with `voxelSize` Å voxels (module doc), n³ values in the
 * unshifted FFT layout of core/fft.ts (index x + n(y + n z)): zero outside the tilt range, else −CTF × dose
 * weight of the nearest tilt plane. With R: the transfer of the rotated data Λ_R V, M_R(k) = M(Rᵀk), evaluated
 * at every frequency from the formulas (no interpolation), as core/wedge.ts `wedgeMask` does for the wedge.
 */
export function ctfModel(n: number, voxelSize: number, ctf: ParticleCtf, R?: Mat3, out: Float32Array = new Float32Array(n * n * n)): Float32Array {
  validateParticleCtf(ctf);
  const { tilts, optics } = ctf;
  wedgeMask(n, { min: tilts[0].angle, max: tilts[tilts.length - 1].angle }, R, out);
  const lambda = electronWavelength(optics.voltageKv);
  const cs = optics.csMillimetre * 1e7;
  const amp = optics.amplitudeContrast;
  const cos = tilts.map((t) => Math.cos(t.angle));
  const sin = tilts.map((t) => Math.sin(t.angle));
  const toFrequency = 1 / (n * voxelSize);
  // k' = Rᵀk: k'_j = Σ_i R_ij k_i.
  const r = R ?? Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
  let o = 0;
  for (let iz = 0; iz < n; iz++) {
    const kz = freqOf(iz, n) * toFrequency;
    for (let iy = 0; iy < n; iy++) {
      const ky = freqOf(iy, n) * toFrequency;
      for (let ix = 0; ix < n; ix++, o++) {
        if (out[o] === 0) continue;
        const kx = freqOf(ix, n) * toFrequency;
        const px = r[0] * kx + r[3] * ky + r[6] * kz;
        const py = r[1] * kx + r[4] * ky + r[7] * kz;
        const pz = r[2] * kx + r[5] * ky + r[8] * kz;
        // The plane's direction in the x–z plane, folded to (−90°, 90°] as core/wedge.ts measures it.
        const angle = px === 0 ? (pz === 0 ? 0 : Math.PI / 2) : Math.atan(pz / px);
        const t = nearestTilt(tilts, angle);
        const tilt = tilts[t];
        const u = px * cos[t] + pz * sin[t];
        const k2 = u * u + py * py;
        const phi = Math.atan2(py, u);
        const defocus = 0.5 * (tilt.defocusU + tilt.defocusV + (tilt.defocusU - tilt.defocusV) * Math.cos(2 * (phi - tilt.astigmatismAngle)));
        const dose = tilt.preExposure === undefined ? 1 : doseWeight(Math.sqrt(k2), tilt.preExposure, optics.voltageKv);
        out[o] = -ctfOfChi(k2, defocus, lambda, cs, amp) * dose;
      }
    }
  }
  return out;
}

/**
 * A CTF volume sampled on the particle's Fourier grid (a RELION 4/5 or Warp rlnCtfImage, io/ctfImage.ts), n³
 * values in the unshifted layout: the subtomogram's transfer M (`transfer`: X = M·S), or Σ CTF² of
 * CTF-premultiplied data (`squared`: X = W·S already carries its CTF once).
 */
export interface SampledTransfer {
  kind: 'transfer' | 'squared';
  values: Float32Array;
}

/**
 * What a particle's Fourier components went through: the binary wedge of its tilt range, or its CTF — per-tilt
 * parameters (`ctf`, whose tilts then bound the wedge) or a sampled volume (`sampled`).
 */
export interface ParticleTransfer {
  tilt: TiltRange;
  ctf?: ParticleCtf;
  sampled?: SampledTransfer;
}

/**
 * What multiplies the structure in the particle's data, for data rotated by R (M_R(k) = M(Rᵀk)): ctfModel, a
 * sampled volume (trilinear in Fourier space), or the binary wedge; written into `out`.
 */
export function transferModel(n: number, voxelSize: number, transfer: ParticleTransfer, R?: Mat3, out?: Float32Array): Float32Array {
  if (transfer.ctf) return ctfModel(n, voxelSize, transfer.ctf, R, out);
  if (transfer.sampled) return rotatedFourierVolume(transfer.sampled.values, n, R, out);
  return wedgeMask(n, transfer.tilt, R, out ?? new Float32Array(n * n * n));
}

/**
 * V_R(k) = V(Rᵀk) of a real, even function sampled on the unshifted n³ Fourier grid, by trilinear interpolation
 * on the periodic grid; zero beyond Nyquist (|k'| > n/2 on an axis).
 */
export function rotatedFourierVolume(values: Float32Array, n: number, R?: Mat3, out: Float32Array = new Float32Array(n * n * n)): Float32Array {
  if (values.length !== n * n * n) throw new RangeError(`a CTF volume of a ${n}³ box needs ${n ** 3} values, got ${values.length}`);
  if (!R) {
    out.set(values);
    return out;
  }
  const half = n / 2;
  const wrap = (i: number) => (i < 0 ? i + n : i >= n ? i - n : i);
  let o = 0;
  for (let iz = 0; iz < n; iz++) {
    const kz = freqOf(iz, n);
    for (let iy = 0; iy < n; iy++) {
      const ky = freqOf(iy, n);
      for (let ix = 0; ix < n; ix++, o++) {
        const kx = freqOf(ix, n);
        const px = R[0] * kx + R[3] * ky + R[6] * kz;
        const py = R[1] * kx + R[4] * ky + R[7] * kz;
        const pz = R[2] * kx + R[5] * ky + R[8] * kz;
        if (Math.abs(px) > half || Math.abs(py) > half || Math.abs(pz) > half) {
          out[o] = 0;
          continue;
        }
        const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
        const fx = px - x0, fy = py - y0, fz = pz - z0;
        let v = 0;
        for (let dz = 0; dz < 2; dz++) {
          const wz = dz ? fz : 1 - fz;
          if (wz === 0) continue;
          const zi = wrap(z0 + dz) * n * n;
          for (let dy = 0; dy < 2; dy++) {
            const wy = dy ? fy : 1 - fy;
            if (wy === 0) continue;
            const yi = zi + wrap(y0 + dy) * n;
            const w = wz * wy;
            v += w * ((1 - fx) * values[yi + wrap(x0)] + (fx === 0 ? 0 : fx * values[yi + wrap(x0 + 1)]));
          }
        }
        out[o] = v;
      }
    }
  }
  return out;
}

/**
 * The particle as alignment compares it with a CTF-free reference: X·M in Fourier space, M its own transfer
 * (`transferModel`). With X = M·S + N this is M²·S + M·N, the matched filter of the CTF-modulated signal:
 * phases are flipped back where the CTF is negative (beyond its first zero X would correlate negatively with
 * S) and each frequency is weighted by how much signal the CTF let through — design.md "CTF in alignment and
 * averaging", and what relion_refine compares after CTF premultiplication. The reference side keeps the
 * binary wedge (on the Nyquist planes, whose −k is no grid point, the real result keeps the Hermitian mean of
 * X·M). Data that are CTF-premultiplied already (`sampled.kind` 'squared') and particles with no CTF
 * (the binary wedge only) are returned unchanged.
 */
export function ctfMatched(particle: Volume, transfer: ParticleTransfer): Volume {
  if (!transfer.ctf && transfer.sampled?.kind !== 'transfer') return particle;
  const { n, voxelSize } = particle;
  const model = transferModel(n, voxelSize, transfer);
  const spec = fft3(particle.data, n);
  for (let i = 0; i < model.length; i++) {
    spec[2 * i] *= model[i];
    spec[2 * i + 1] *= model[i];
  }
  return new Volume(n, voxelSize, ifft3Real(spec, n));
}
