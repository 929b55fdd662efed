/**
 * Exact Euclidean distance transform of a voxel set: for every voxel of an n³ box, the squared distance (in
 * voxels²) to the nearest voxel of the set. Felzenszwalb & Huttenlocher's lower envelope of parabolas
 * ("Distance Transforms of Sampled Functions", Theory of Computing 8, 2012), one 1D pass per axis, so the
 * cost is linear in the number of voxels whatever the distances — what a mask's dilation and soft edge need.
 */

const FAR = 1e20;

/** Squared Euclidean distance of each voxel to the nearest voxel where `inSet` is true (FAR if the set is empty). */
export function squaredDistanceTransform(inSet: Uint8Array, n: number): Float64Array {
  const d = new Float64Array(n * n * n);
  for (let i = 0; i < d.length; i++) d[i] = inSet[i] ? 0 : FAR;
  const f = new Float64Array(n);
  const out = new Float64Array(n);
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  // x lines, then y, then z: the squared distance separates over the axes.
  for (const [stride, lineStep, planeStep] of [[1, n, n * n], [n, 1, n * n], [n * n, 1, n]] as const) {
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) {
        const base = a * planeStep + b * lineStep;
        for (let q = 0; q < n; q++) f[q] = d[base + q * stride];
        lowerEnvelope(f, n, out, v, z);
        for (let q = 0; q < n; q++) d[base + q * stride] = out[q];
      }
    }
  }
  return d;
}

/**
 * 1D transform out[q] = min_p (f[p] + (q − p)²) (the paper's algorithm; FAR stands for +∞ as there, which keeps
 * every intersection finite).
 */
function lowerEnvelope(f: Float64Array, n: number, out: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = 0;
  v[0] = 0;
  z[0] = -Infinity;
  z[1] = Infinity;
  for (let q = 1; q < n; q++) {
    let s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    while (s <= z[k]) {
      k--;
      s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1] < q) k++;
    out[q] = (q - v[k]) * (q - v[k]) + f[v[k]];
  }
}
