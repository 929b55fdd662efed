/**
 * The input permutation of a mixed-radix decimation-in-time FFT (core/fft.ts's JavaScript kernels and the
 * WebAssembly plans of core/fftWasm.ts): sample j goes to the position whose stage-s digit is j's digit for
 * the radices taken from the last stage (the mixed-radix digit reversal).
 */
export function digitReversal(n: number, radices: readonly number[]): { order: Int32Array; slot: Int32Array } {
  /** order[position] = sample; slot[sample] = position. */
  const order = new Int32Array(n);
  const slot = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    let rest = j;
    let pos = 0;
    let weight = n;
    for (let s = radices.length - 1; s >= 0; s--) {
      weight /= radices[s];
      pos += (rest % radices[s]) * weight;
      rest = Math.floor(rest / radices[s]);
    }
    order[pos] = j;
    slot[j] = pos;
  }
  return { order, slot };
}
