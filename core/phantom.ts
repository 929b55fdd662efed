/**
 * Built-in GroEL-like phantom, the simulator's default when no atomic model is given: two stacked 7-fold
 * rings (~13.4 nm wide, ~14.8 nm tall, central channel ~5 nm), D7 symmetric with the 7-fold axis along
 * z and the 2-fold axes in the x–y plane (one along x), as GroEL14 built from 1OEL.
 *
 * Each subunit has three domains like GroEL's: equatorial (ring–ring contact), intermediate and apical.
 * The intermediate and apical domains are rotated azimuthally and the apical one tilted, so the subunit
 * has no mirror plane and the only symmetry of the complex is D7 — alignment against it is well posed up
 * to the 14 D7 operators.
 *
 * The phantom is a set of carbon pseudo-atoms on a 2.5 Å lattice filling the domains, so it goes through
 * the same density code as a PDB model.
 */
import type { AtomPosition } from './elements.ts';

interface Domain {
  /** Centre: radius from the 7-fold axis (Å), azimuth offset from the subunit's axis (rad), height (Å). */
  r: number;
  azimuth: number;
  z: number;
  /** Semi-axes along radial, tangential and z (Å). */
  radial: number;
  tangential: number;
  height: number;
  /** Rotation of the tangential/z axes about the radial axis (rad). */
  tilt: number;
}

const DEG = Math.PI / 180;

// Upper ring (z > 0); the ring interface is z = 0.
const DOMAINS: Domain[] = [
  { r: 45, azimuth: 0, z: 16, radial: 21, tangential: 19, height: 15, tilt: 0 },
  { r: 55, azimuth: 8 * DEG, z: 37, radial: 12, tangential: 15, height: 11, tilt: 0 },
  { r: 51, azimuth: 16 * DEG, z: 59, radial: 17, tangential: 19, height: 15, tilt: 25 * DEG },
];

const LATTICE = 2.5; // Å; well below the σ of any useful target resolution
const FOLD = 7;

/** Pseudo-atoms of the phantom in Å, centred on the origin (centre of mass at 0 by D7 symmetry). */
export function groelPhantom(): AtomPosition[] {
  const subunit = subunitPoints();
  const atoms: AtomPosition[] = [];
  for (const flip of [1, -1]) {
    // ring 2 = ring 1 under the 2-fold about x: (x, y, z) → (x, −y, −z), as BIOMT operator 2 of 1OEL
    for (let k = 0; k < FOLD; k++) {
      const c = Math.cos((2 * Math.PI * k) / FOLD);
      const s = Math.sin((2 * Math.PI * k) / FOLD);
      for (let i = 0; i < subunit.length; i += 3) {
        const x = c * subunit[i] - s * subunit[i + 1];
        const y = s * subunit[i] + c * subunit[i + 1];
        atoms.push({ x, y: flip * y, z: flip * subunit[i + 2], element: 'C' });
      }
    }
  }
  return atoms;
}

/** Lattice points (x, y, z triples) inside any domain of the subunit at azimuth 0. */
function subunitPoints(): number[] {
  const points: number[] = [];
  const reach = Math.max(...DOMAINS.map((d) => d.r + Math.max(d.radial, d.tangential, d.height)));
  const zMax = Math.max(...DOMAINS.map((d) => d.z + Math.max(d.radial, d.tangential, d.height)));
  const steps = Math.ceil(reach / LATTICE);
  const zSteps = Math.ceil(zMax / LATTICE);
  for (let iz = 0; iz <= zSteps; iz++) {
    const z = (iz + 0.5) * LATTICE;
    for (let iy = -steps; iy <= steps; iy++) {
      const y = (iy + 0.5) * LATTICE;
      for (let ix = -steps; ix <= steps; ix++) {
        const x = (ix + 0.5) * LATTICE;
        if (DOMAINS.some((d) => insideDomain(d, x, y, z))) points.push(x, y, z);
      }
    }
  }
  return points;
}

function insideDomain(d: Domain, x: number, y: number, z: number): boolean {
  const ca = Math.cos(d.azimuth);
  const sa = Math.sin(d.azimuth);
  const dx = x - d.r * ca;
  const dy = y - d.r * sa;
  const dz = z - d.z;
  const radial = ca * dx + sa * dy;
  const tangential0 = -sa * dx + ca * dy;
  const ct = Math.cos(d.tilt);
  const st = Math.sin(d.tilt);
  const tangential = ct * tangential0 + st * dz;
  const height = -st * tangential0 + ct * dz;
  return (radial / d.radial) ** 2 + (tangential / d.tangential) ** 2 + (height / d.height) ** 2 <= 1;
}
