import { describe, expect, it } from 'vitest';
import { Rng } from '../core/random.ts';
import { Volume, centreOf } from '../core/volume.ts';
import {
  type Mat3,
  type Pose,
  applyMat,
  composePoses,
  degrees,
  determinant,
  eulerToMatrix,
  identity,
  inversePose,
  matrixToEuler,
  multiply,
  quaternionToMatrix,
  radians,
  randomRotation,
  rotationAngle,
  rotationX,
  rowRange,
  rotationY,
  rotationZ,
  sampleTrilinear,
  sampleTrilinearWithGradient,
  transformVolume,
  transformVolumeByMatrix,
  transpose,
} from '../core/rotate.ts';

function randomVolume(n: number, seed: number): Volume {
  const rng = new Rng(seed);
  const v = new Volume(n);
  for (let i = 0; i < v.data.length; i++) v.data[i] = rng.gaussian();
  return v;
}

/** Smooth test object: Gaussian blobs of both signs within `radius` of the centre. */
function blobVolume(n: number, seed: number, blobs = 14, radius = n / 4): Volume {
  const rng = new Rng(seed);
  const c = centreOf(n);
  const v = new Volume(n);
  for (let b = 0; b < blobs; b++) {
    let px: number, py: number, pz: number;
    do {
      px = rng.range(-radius, radius);
      py = rng.range(-radius, radius);
      pz = rng.range(-radius, radius);
    } while (px * px + py * py + pz * pz > radius * radius);
    const sigma = rng.range(1.6, 2.6);
    const amp = rng.range(0.5, 1.5) * (b % 3 === 0 ? -1 : 1);
    for (let z = 0; z < n; z++)
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++) {
          const d2 = (x - c - px) ** 2 + (y - c - py) ** 2 + (z - c - pz) ** 2;
          v.data[x + n * (y + n * z)] += amp * Math.exp(-d2 / (2 * sigma * sigma));
        }
  }
  return v;
}

/** Pearson correlation over voxels within `radius` of the centre. */
function interiorPearson(a: Float32Array, b: Float32Array, n: number, radius: number): number {
  const c = centreOf(n);
  let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, m = 0;
  for (let z = 0; z < n; z++)
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) {
        if ((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2 > radius * radius) continue;
        const i = x + n * (y + n * z);
        sa += a[i];
        sb += b[i];
        saa += a[i] * a[i];
        sbb += b[i] * b[i];
        sab += a[i] * b[i];
        m++;
      }
  const cov = sab / m - (sa / m) * (sb / m);
  return cov / Math.sqrt((saa / m - (sa / m) ** 2) * (sbb / m - (sb / m) ** 2));
}

function randomPose(rng: Rng, maxShift: number): Pose {
  const e = matrixToEuler(randomRotation(rng));
  return { ...e, tx: rng.range(-maxShift, maxShift), ty: rng.range(-maxShift, maxShift), tz: rng.range(-maxShift, maxShift) };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('rotation matrices', () => {
  it('are active rotations and eulerToMatrix is Rz(φ)·Ry(θ)·Rz(ψ)', () => {
    expect(Array.from(applyMat(rotationZ(Math.PI / 2), [1, 0, 0]))).toEqual([0, 1, 0]);
    expect(Array.from(applyMat(rotationY(Math.PI / 2), [0, 0, 1]))).toEqual([1, 0, 0]);
    expect(Array.from(applyMat(rotationX(Math.PI / 2), [0, 1, 0]))).toEqual([0, 0, 1]);
    const rng = new Rng(1);
    for (let k = 0; k < 20; k++) {
      const e = { phi: rng.range(-4, 4), theta: rng.range(-4, 4), psi: rng.range(-4, 4) };
      const product = multiply(rotationZ(e.phi), multiply(rotationY(e.theta), rotationZ(e.psi)));
      expect(maxAbsDiff(eulerToMatrix(e), product)).toBeLessThan(1e-15);
    }
  });

  it('quaternionToMatrix matches the axis–angle rotation', () => {
    const a = 0.7;
    const [c, s] = [Math.cos(a / 2), Math.sin(a / 2)];
    expect(maxAbsDiff(quaternionToMatrix([c, s, 0, 0]), rotationX(a))).toBeLessThan(1e-15);
    expect(maxAbsDiff(quaternionToMatrix([c, 0, s, 0]), rotationY(a))).toBeLessThan(1e-15);
    expect(maxAbsDiff(quaternionToMatrix([3 * c, 0, 0, 3 * s]), rotationZ(a))).toBeLessThan(1e-15);
    expect(() => quaternionToMatrix([0, 0, 0, 0])).toThrow(/zero quaternion/);
  });

  it('matrixToEuler inverts eulerToMatrix away from gimbal lock', () => {
    const rng = new Rng(2);
    for (let k = 0; k < 200; k++) {
      const e = { phi: rng.range(-Math.PI, Math.PI), theta: rng.range(0.001, Math.PI - 0.001), psi: rng.range(-Math.PI, Math.PI) };
      const back = matrixToEuler(eulerToMatrix(e));
      expect(Math.abs(back.phi - e.phi)).toBeLessThan(1e-9);
      expect(Math.abs(back.theta - e.theta)).toBeLessThan(1e-9);
      expect(Math.abs(back.psi - e.psi)).toBeLessThan(1e-9);
    }
    for (let k = 0; k < 200; k++) {
      const R = randomRotation(rng);
      expect(maxAbsDiff(eulerToMatrix(matrixToEuler(R)), R)).toBeLessThan(1e-14);
    }
  });

  it('matrixToEuler handles gimbal lock (θ ≈ 0, π) with ψ = 0 and an exact matrix round trip', () => {
    const phi = 0.9, psi = -2.1;
    const locked = matrixToEuler(eulerToMatrix({ phi, theta: 0, psi }));
    expect(locked.theta).toBe(0);
    expect(locked.psi).toBe(0);
    expect(locked.phi).toBeCloseTo(phi + psi, 14);
    const flipped = matrixToEuler(eulerToMatrix({ phi, theta: Math.PI, psi }));
    expect(flipped.theta).toBeCloseTo(Math.PI, 14);
    expect(flipped.psi).toBe(0);
    expect(flipped.phi).toBeCloseTo(phi - psi, 14);
    for (const theta of [0, 1e-16, 3e-15, 1e-13, 1e-10, 1e-7, 1e-4, Math.PI, Math.PI - 3e-15, Math.PI - 1e-13, -1e-9]) {
      const R = eulerToMatrix({ phi, theta, psi });
      const back = matrixToEuler(R);
      expect(back.theta).toBeGreaterThanOrEqual(0);
      expect(back.theta).toBeLessThanOrEqual(Math.PI);
      expect(maxAbsDiff(eulerToMatrix(back), R)).toBeLessThan(2e-14);
    }
  });

  it('rotationAngle measures known angles', () => {
    expect(degrees(rotationAngle(rotationZ(radians(30)), identity()))).toBeCloseTo(30, 12);
    expect(rotationAngle(rotationZ(Math.PI), identity())).toBeCloseTo(Math.PI, 12);
    expect(rotationAngle(rotationY(1e-9), identity()) / 1e-9).toBeCloseTo(1, 6);
    const rng = new Rng(3);
    for (let k = 0; k < 20; k++) {
      const R = randomRotation(rng);
      expect(degrees(rotationAngle(R, multiply(R, rotationX(radians(10)))))).toBeCloseTo(10, 10);
      expect(degrees(rotationAngle(multiply(rotationY(radians(-25)), R), R))).toBeCloseTo(25, 10);
      const S = randomRotation(rng);
      const reference = Math.acos(Math.min(1, Math.max(-1, (traceOf(multiply(transpose(R), S)) - 1) / 2)));
      expect(rotationAngle(R, S)).toBeCloseTo(reference, 7);
    }
  });
});

function traceOf(R: Mat3): number {
  return R[0] + R[4] + R[8];
}

describe('randomRotation', () => {
  const N = 20000;
  // Kolmogorov–Smirnov critical value at α = 0.001.
  const critical = 1.95 / Math.sqrt(N);

  function ksStatistic(samples: number[], cdf: (x: number) => number): number {
    const s = samples.slice().sort((a, b) => a - b);
    let d = 0;
    for (let i = 0; i < s.length; i++) {
      const f = cdf(s[i]);
      d = Math.max(d, Math.abs(f - i / s.length), Math.abs(f - (i + 1) / s.length));
    }
    return d;
  }
  // Haar measure: the rotation angle ω has density (1 − cos ω)/π on [0, π]; R·e_z is uniform on the sphere,
  // so its z component is uniform on [−1, 1].
  const angleCdf = (w: number): number => (w - Math.sin(w)) / Math.PI;
  const zCdf = (z: number): number => (z + 1) / 2;

  function statistics(sample: () => Mat3): { angle: number; z: number } {
    const angles: number[] = [];
    const zs: number[] = [];
    const I = identity();
    for (let k = 0; k < N; k++) {
      const R = sample();
      angles.push(rotationAngle(I, R));
      zs.push(R[8]);
    }
    return { angle: ksStatistic(angles, angleCdf), z: ksStatistic(zs, zCdf) };
  }

  it('is Haar uniform (rotation-angle and axis KS tests) and proper', () => {
    const rng = new Rng(4);
    for (let k = 0; k < 1000; k++) {
      const R = randomRotation(rng);
      expect(determinant(R)).toBeCloseTo(1, 12);
      expect(maxAbsDiff(multiply(transpose(R), R), identity())).toBeLessThan(1e-14);
    }
    const haar = statistics(() => randomRotation(rng));
    expect(haar.angle).toBeLessThan(critical);
    expect(haar.z).toBeLessThan(critical);
  });

  it('the same tests reject uniformly drawn Euler angles', () => {
    const rng = new Rng(5);
    const naive = statistics(() =>
      eulerToMatrix({ phi: rng.range(-Math.PI, Math.PI), theta: rng.range(0, Math.PI), psi: rng.range(-Math.PI, Math.PI) }),
    );
    expect(naive.angle).toBeGreaterThan(critical);
    expect(naive.z).toBeGreaterThan(critical);
  });
});

describe('poses', () => {
  it('inversePose undoes a pose', () => {
    const rng = new Rng(6);
    for (let k = 0; k < 50; k++) {
      const p = randomPose(rng, 5);
      const none = composePoses(p, inversePose(p));
      expect(rotationAngle(eulerToMatrix(none), identity())).toBeLessThan(1e-12);
      expect(Math.hypot(none.tx, none.ty, none.tz)).toBeLessThan(1e-12);
      const noneOtherSide = composePoses(inversePose(p), p);
      expect(rotationAngle(eulerToMatrix(noneOtherSide), identity())).toBeLessThan(1e-12);
      expect(Math.hypot(noneOtherSide.tx, noneOtherSide.ty, noneOtherSide.tz)).toBeLessThan(1e-12);
      const twice = inversePose(inversePose(p));
      expect(maxAbsDiff(eulerToMatrix(twice), eulerToMatrix(p))).toBeLessThan(1e-13);
      expect(maxAbsDiff([twice.tx, twice.ty, twice.tz], [p.tx, p.ty, p.tz])).toBeLessThan(1e-13);
    }
  });

  it('composePoses maps points like applying b then a', () => {
    const rng = new Rng(7);
    const a = randomPose(rng, 3);
    const b = randomPose(rng, 3);
    const ab = composePoses(a, b);
    // A pose moves a point x of the object to R·x + T (about the centre, which cancels here).
    const move = (p: Pose, x: ArrayLike<number>): Float64Array => {
      const y = applyMat(eulerToMatrix(p), x);
      return Float64Array.of(y[0] + p.tx, y[1] + p.ty, y[2] + p.tz);
    };
    const x = [1.5, -2, 0.25];
    expect(maxAbsDiff(move(ab, x), move(a, move(b, x)))).toBeLessThan(1e-13);
  });
});

describe('transformVolume', () => {
  it('90° about z is the axis permutation out(x, y, z) = V(y, 2c − x, z), bit exact', () => {
    // Active Rz(90°) takes the offset (dx, dy) to (−dy, dx); the output at x therefore reads the input at
    // c + Rᵀ(x − c) = (y, 2c − x, z). With n even, 2c − x = n for x = 0: that column reads `outside`.
    for (const n of [16, 15]) {
      const v = randomVolume(n, 8);
      const c = centreOf(n);
      const outside = -7.25;
      const out = transformVolume(v, { phi: Math.PI / 2, theta: 0, psi: 0, tx: 0, ty: 0, tz: 0 }, undefined, outside);
      let mismatches = 0;
      for (let z = 0; z < n; z++)
        for (let y = 0; y < n; y++)
          for (let x = 0; x < n; x++) {
            const sx = y, sy = 2 * c - x, sz = z;
            const expected = sy < n ? v.get(sx, sy, sz) : outside;
            if (out.get(x, y, z) !== expected) mismatches++;
          }
      expect(mismatches).toBe(0);
    }
  });

  it('180° about y (θ = π) is out(x, y, z) = V(2c − x, y, 2c − z), bit exact', () => {
    const n = 15;
    const v = randomVolume(n, 9);
    const c = centreOf(n);
    const out = transformVolume(v, { phi: 0, theta: Math.PI, psi: 0, tx: 0, ty: 0, tz: 0 });
    let mismatches = 0;
    for (let z = 0; z < n; z++)
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++) if (out.get(x, y, z) !== v.get(2 * c - x, y, 2 * c - z)) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('an integer shift T moves content by +T, bit exact', () => {
    const n = 12;
    const v = randomVolume(n, 10);
    const [tx, ty, tz] = [2, -1, 3];
    const out = transformVolume(v, { phi: 0, theta: 0, psi: 0, tx, ty, tz }, undefined, 5);
    let mismatches = 0;
    for (let z = 0; z < n; z++)
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++) {
          const [sx, sy, sz] = [x - tx, y - ty, z - tz];
          const inside = sx >= 0 && sx < n && sy >= 0 && sy < n && sz >= 0 && sz < n;
          if (out.get(x, y, z) !== (inside ? v.get(sx, sy, sz) : 5)) mismatches++;
        }
    expect(mismatches).toBe(0);
  });

  it('matches per-voxel sampling at c + Rᵀ(x − c − T), including the border', () => {
    const n = 14;
    const v = randomVolume(n, 11);
    const rng = new Rng(12);
    const pose = randomPose(rng, 2);
    const out = transformVolume(v, pose, undefined, 0.5);
    const Rt = transpose(eulerToMatrix(pose));
    const c = centreOf(n);
    let worst = 0;
    for (let z = 0; z < n; z++)
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++) {
          const s = applyMat(Rt, [x - c - pose.tx, y - c - pose.ty, z - c - pose.tz]);
          const expected = sampleTrilinear(v.data, n, s[0] + c, s[1] + c, s[2] + c, 0.5);
          worst = Math.max(worst, Math.abs(out.get(x, y, z) - expected));
        }
    expect(worst).toBeLessThan(1e-5);
  });

  it('follows the design convention on an analytic object (and the transposed convention does not)', () => {
    const n = 32;
    const c = centreOf(n);
    // Anisotropic, off-centre Gaussian: any mix-up of R with Rᵀ or of the sign of T moves it visibly.
    const centre = [5, -3, 2];
    const sig = [3.5, 2.2, 1.6];
    const f = (x: number, y: number, z: number): number =>
      Math.exp(
        -(((x - c - centre[0]) / sig[0]) ** 2 + ((y - c - centre[1]) / sig[1]) ** 2 + ((z - c - centre[2]) / sig[2]) ** 2) / 2,
      );
    const v = new Volume(n);
    for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) v.set(x, y, z, f(x, y, z));
    const pose: Pose = { phi: radians(40), theta: radians(70), psi: radians(-25), tx: 2.5, ty: -1.5, tz: 1 };
    const moved = transformVolume(v, pose);
    const analytic = (R: Mat3, t: number[]): Float32Array => {
      const Rt = transpose(R);
      const g = new Float32Array(n * n * n);
      for (let z = 0; z < n; z++)
        for (let y = 0; y < n; y++)
          for (let x = 0; x < n; x++) {
            const s = applyMat(Rt, [x - c - t[0], y - c - t[1], z - c - t[2]]);
            g[x + n * (y + n * z)] = f(s[0] + c, s[1] + c, s[2] + c);
          }
      return g;
    };
    const R = eulerToMatrix(pose);
    const T = [pose.tx, pose.ty, pose.tz];
    expect(interiorPearson(moved.data, analytic(R, T), n, n)).toBeGreaterThan(0.995);
    expect(interiorPearson(moved.data, analytic(transpose(R), T), n, n)).toBeLessThan(0.5);
    expect(interiorPearson(moved.data, analytic(R, T.map((t) => -t)), n, n)).toBeLessThan(0.5);
  });

  it('transforming by b then a equals one transform by composePoses(a, b)', () => {
    const n = 32;
    const v = blobVolume(n, 13);
    const rng = new Rng(14);
    for (let k = 0; k < 3; k++) {
      const a = randomPose(rng, 2);
      const b = randomPose(rng, 2);
      const twice = transformVolume(transformVolume(v, b), a);
      const once = transformVolume(v, composePoses(a, b));
      expect(interiorPearson(twice.data, once.data, n, n / 2 - 2)).toBeGreaterThan(0.999);
      // The order matters: composing the other way round is a different pose.
      const swapped = transformVolume(v, composePoses(b, a));
      expect(interiorPearson(twice.data, swapped.data, n, n / 2 - 2)).toBeLessThan(0.9);
    }
  });

  it('the inverse pose brings a transformed volume back', () => {
    const n = 32;
    const v = blobVolume(n, 15);
    const rng = new Rng(16);
    const p: Pose = { ...randomPose(rng, 0), tx: 3, ty: -3, tz: 2.5 };
    const moved = transformVolume(v, p);
    const back = transformVolume(moved, inversePose(p));
    // Two trilinear interpolations low-pass the blobs slightly, hence 0.995 rather than 0.999.
    expect(interiorPearson(back.data, v.data, n, n / 2 - 2)).toBeGreaterThan(0.995);
    // Forgetting to rotate the shift back (−T instead of −R⁻¹T) is caught.
    const inv = inversePose(p);
    const careless = transformVolume(moved, { ...inv, tx: -p.tx, ty: -p.ty, tz: -p.tz });
    expect(interiorPearson(careless.data, v.data, n, n / 2 - 2)).toBeLessThan(0.9);
  });

  it('reuses `out` and refuses to write into its own input', () => {
    const v = randomVolume(8, 17);
    const out = new Volume(8);
    const pose: Pose = { phi: 0.3, theta: 0.2, psi: 0.1, tx: 0, ty: 0, tz: 0 };
    expect(transformVolume(v, pose, out)).toBe(out);
    expect(() => transformVolume(v, pose, v)).toThrow(/own input/);
    expect(() => transformVolumeByMatrix(v, identity(), [0, 0, 0], new Volume(9))).toThrow(/9³/);
  });
});

describe('rowRange', () => {
  /** The x of 0 … m−1 whose sample p(x) = b + x·r comes within a voxel of the n³ grid on every axis, by brute force. */
  const inside = (b: number[], r: number[], n: number, m: number) =>
    Array.from({ length: m }, (_, x) => x).filter((x) => b.every((ba, a) => ba + x * r[a] >= -1 && ba + x * r[a] < n));

  it('covers every sample touching the grid, also for rows nearly parallel to an axis (bounds beyond 2³¹)', () => {
    const range = new Int32Array(2);
    const n = 16, m = 32;
    // R near a rotation by π (θ ≈ π): slopes of 1e-17 put the per-axis bounds near ±1e18, beyond an Int32's range
    for (const [b, r] of [[[3.5, 4.2, 5], [0.5, 1e-17, -2e-17]], [[3.5, -4.2, 5], [0.5, 1e-17, 0]], [[3.5, 4.2, 5], [-0.5, 3e-18, 1e-16]], [[2, 3, 4], [0.5, 0.25, -0.1]]]) {
      rowRange(b, r, n, m, range);
      const expected = inside(b, r, n, m);
      expect(range[0]).toBeGreaterThanOrEqual(0);
      expect(range[1]).toBeLessThanOrEqual(m);
      expect(range[0]).toBeLessThanOrEqual(range[1]);
      if (expected.length > 0) {
        expect(range[0]).toBeLessThanOrEqual(expected[0]);
        expect(range[1]).toBeGreaterThan(expected[expected.length - 1]);
      }
    }
  });
});

describe('trilinear kernels', () => {
  const n = 8;
  const v = randomVolume(n, 18);

  it('interpolate voxels exactly and average the eight corners at a cell centre', () => {
    expect(sampleTrilinear(v.data, n, 3, 5, 2)).toBe(v.get(3, 5, 2));
    let mean = 0;
    for (const [dx, dy, dz] of [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]])
      mean += v.get(2 + dx, 4 + dy, 1 + dz) / 8;
    expect(sampleTrilinear(v.data, n, 2.5, 4.5, 1.5)).toBeCloseTo(mean, 6);
    // Half-way past the last voxel blends with the outside value.
    expect(sampleTrilinear(v.data, n, n - 0.5, 3, 3, 2)).toBeCloseTo((v.get(n - 1, 3, 3) + 2) / 2, 6);
    expect(sampleTrilinear(v.data, n, -3, 3, 3, 2)).toBe(2);
    expect(sampleTrilinear(v.data, n, NaN, 3, 3, 2)).toBe(2);
  });

  it('sampleTrilinearWithGradient matches central finite differences, inside and at the border', () => {
    const rng = new Rng(19);
    const grad = new Float64Array(3);
    const h = 1e-5;
    const outside = 0.3;
    // Keep fractional parts away from cell faces, where the interpolant has a kink.
    const coordinate = (lo: number, hi: number): number => {
      const cell = Math.floor(rng.range(lo, hi));
      return cell + rng.range(0.05, 0.95);
    };
    for (let k = 0; k < 300; k++) {
      const [x, y, z] = [coordinate(-1, n), coordinate(-1, n), coordinate(-1, n)];
      const value = sampleTrilinearWithGradient(v.data, n, x, y, z, grad, outside);
      expect(value).toBeCloseTo(sampleTrilinear(v.data, n, x, y, z, outside), 12);
      const fd = [
        (sampleTrilinear(v.data, n, x + h, y, z, outside) - sampleTrilinear(v.data, n, x - h, y, z, outside)) / (2 * h),
        (sampleTrilinear(v.data, n, x, y + h, z, outside) - sampleTrilinear(v.data, n, x, y - h, z, outside)) / (2 * h),
        (sampleTrilinear(v.data, n, x, y, z + h, outside) - sampleTrilinear(v.data, n, x, y, z - h, outside)) / (2 * h),
      ];
      expect(maxAbsDiff(grad, fd)).toBeLessThan(1e-8);
    }
  });
});
