/**
 * Slow, textbook references for the spherical-harmonic tests: explicit sums, no recursions, no FFT.
 * Accurate to ~1e-10 up to degree ~25 (the alternating sums lose digits beyond that).
 */

const factorials: number[] = [1];
export function factorial(k: number): number {
  for (let i = factorials.length; i <= k; i++) factorials.push(factorials[i - 1] * i);
  return factorials[k];
}

function binomial(n: number, k: number): number {
  return factorial(n) / (factorial(k) * factorial(n - k));
}

/**
 * Associated Legendre function without the Condon–Shortley phase, P_l^m(x) = (1−x²)^{m/2}·dᵐ/dxᵐ P_l(x),
 * from the explicit coefficients P_l(x) = 2^{−l} Σ_k (−1)^k C(l,k) C(2l−2k, l) x^{l−2k}.
 */
export function associatedLegendre(l: number, m: number, x: number): number {
  let sum = 0;
  for (let k = 0; 2 * k <= l; k++) {
    const power = l - 2 * k;
    if (power < m) continue;
    const coeff = ((k % 2 === 0 ? 1 : -1) * binomial(l, k) * binomial(2 * l - 2 * k, l)) / 2 ** l;
    sum += (coeff * factorial(power)) / factorial(power - m) * x ** (power - m);
  }
  return (1 - x * x) ** (m / 2) * sum;
}

/** Y_lm(θ, φ) as [re, im], orthonormal, Condon–Shortley phase, Y_{l,−m} = (−1)^m conj(Y_lm). */
export function sphericalHarmonic(l: number, m: number, theta: number, phi: number): [number, number] {
  const ma = Math.abs(m);
  const norm = Math.sqrt(((2 * l + 1) / (4 * Math.PI)) * (factorial(l - ma) / factorial(l + ma)));
  const p = (ma % 2 === 0 ? 1 : -1) * norm * associatedLegendre(l, ma, Math.cos(theta));
  const re = p * Math.cos(ma * phi);
  const im = p * Math.sin(ma * phi);
  if (m >= 0) return [re, im];
  const sign = ma % 2 === 0 ? 1 : -1;
  return [sign * re, -sign * im];
}

/** Wigner small-d d^l_{m'm}(β) from the explicit sum (Wigner 1931; e.g. Sakurai eq. 3.8.33). */
export function wignerDExplicit(l: number, mp: number, m: number, beta: number): number {
  const c = Math.cos(beta / 2);
  const s = Math.sin(beta / 2);
  const pre = Math.sqrt(factorial(l + mp) * factorial(l - mp) * factorial(l + m) * factorial(l - m));
  let sum = 0;
  for (let k = Math.max(0, m - mp); k <= Math.min(l + m, l - mp); k++) {
    const sign = (mp - m + k) % 2 === 0 ? 1 : -1;
    const denom = factorial(l + m - k) * factorial(k) * factorial(mp - m + k) * factorial(l - mp - k);
    sum += (sign / denom) * c ** (2 * l + m - mp - 2 * k) * s ** (mp - m + 2 * k);
  }
  return pre * sum;
}

/** Σ_lm f_lm·Y_lm(θ, φ) by direct summation; coefficients interleaved complex at l² + l + m. */
export function synthesizeAt(coeffs: Float64Array, B: number, theta: number, phi: number): [number, number] {
  let re = 0;
  let im = 0;
  for (let l = 0; l < B; l++) {
    for (let m = -l; m <= l; m++) {
      const o = 2 * (l * l + l + m);
      const [yr, yi] = sphericalHarmonic(l, m, theta, phi);
      re += coeffs[o] * yr - coeffs[o + 1] * yi;
      im += coeffs[o] * yi + coeffs[o + 1] * yr;
    }
  }
  return [re, im];
}
