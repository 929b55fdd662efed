"""Peers for bench/fft3.ts: forward + inverse real-input 3D FFT timings of numpy and pyFFTW, one run at a time,
so that the bench can interleave them with its own runs.

Usage: python fft-peers.py, then one command per line on stdin, one JSON line per command on stdout:
  setup N  ->  {"numpy": version, "pyfftw": version or null}: volumes and FFTW plans for N³, 3 warm-up runs each
  run N    ->  {"numpy32": ms, "numpy64": ms, "pyfftw": ms}: one timed run of each (pyfftw absent when missing)
Every run takes the same float32 volume kind as subtomo's (standard normal) and includes the conversions each
library needs, as subtomo's includes copying its input:
  numpy32  np.fft.rfftn + irfftn on the float32 volume (numpy >= 2 computes in single precision: complex64)
  numpy64  the same on the volume as float64 (double precision, like subtomo)
  pyfftw   FFTW r2c + c2r in double precision, one thread, plans made with FFTW_MEASURE before timing;
           the float32 volume is copied into the aligned float64 input each run, the inverse is normalised
"""
import json
import sys
import time

import numpy as np

try:
    import pyfftw
except ImportError:  # numpy alone still gives two columns
    pyfftw = None


def ms(run):
    t0 = time.perf_counter()
    run()
    return (time.perf_counter() - t0) * 1e3


def setup(n):
    v32 = np.random.default_rng(1).standard_normal((n, n, n)).astype(np.float32)
    v64 = v32.astype(np.float64)
    axes = (0, 1, 2)
    runs = {
        "numpy32": lambda: np.fft.irfftn(np.fft.rfftn(v32), s=v32.shape, axes=axes),
        "numpy64": lambda: np.fft.irfftn(np.fft.rfftn(v64), s=v64.shape, axes=axes),
    }
    if pyfftw is not None:
        real_in = pyfftw.empty_aligned((n, n, n), dtype="float64")
        spectrum = pyfftw.empty_aligned((n, n, n // 2 + 1), dtype="complex128")
        real_out = pyfftw.empty_aligned((n, n, n), dtype="float64")
        flags = ("FFTW_MEASURE",)
        forward = pyfftw.FFTW(real_in, spectrum, axes=axes, flags=flags, threads=1)
        inverse = pyfftw.FFTW(spectrum, real_out, axes=axes, direction="FFTW_BACKWARD", flags=flags, threads=1)

        def run():
            real_in[:] = v32
            forward()
            inverse()  # normalised by 1/n³ (pyFFTW's default), as subtomo's inverse is

        run()
        if not np.allclose(real_out, v32, atol=1e-5):
            raise SystemExit("pyFFTW round trip does not reproduce its input")
        runs["pyfftw"] = run
    for run in runs.values():
        for _ in range(3):
            run()
    return runs


def main():
    sizes = {}
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "setup":
            sizes[int(arg)] = setup(int(arg))
            reply = {"numpy": np.__version__, "pyfftw": pyfftw.__version__ if pyfftw is not None else None}
        elif command == "run":
            reply = {name: ms(run) for name, run in sizes[int(arg)].items()}
        else:
            break
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
