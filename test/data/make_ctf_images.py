#!/usr/bin/env python3
"""Writes the CTF volumes (rlnCtfImage) read by test/ctf-image.test.ts, in the three layouts relion_refine
reads (src/ml_optimiser.cpp, MlOptimiser::get3DCTFAndMulti), using the reference Python library mrcfile.

Run from anywhere: python3 test/data/make_ctf_images.py   (writes test/data/ctf-images/)

Every volume is for an 8^3 particle of 5.4 A voxels and holds the point-symmetric test function
    f(kx, ky, kz) = 1 + 0.01 kx^2 + 0.02 ky^2 + 0.04 kz^2 + 0.003 kx ky + 0.005 ky kz + 0.007 kx kz
at the frequency k (Fourier voxels; each axis's index i stands for i up to n/2 and i - n above, as FFTW and
RELION's FFTW_ELEM count them). numpy arrays are indexed [z, y, x] (mrcfile's convention): x is fastest on disk.
The formulas are repeated in test/ctf-image.test.ts; keep them in step.

- relion4_weights.mrc: what relion_tomo_subtomo writes as <particle>_weights.mrc (programs/subtomo.cpp,
  ctfAndMultiplicity): the FFTW half transform (x = 0 .. n/2), (n/2+1) x n x 2n, the CTF^2 sum in the first n
  z-sections and the multiplicity m(k) = 3 + 0.1 |k|^2 in the next n, float32, header pixel size 1/5.4.
- warp_ctf.mrc: Warp's <particle>_ctf_5.40A.mrc (WarpLib/TiltSeries/TiltSeries.ReconstructSubtomos.cs): the
  same half transform, (n/2+1) x n x n, float16 (WriteMRC16b), pixel size 5.4.
- relion3_ctf.mrc: the full transform centred on voxel n/2 (RELION 3.0, relion_reconstruct --reconstruct_ctf);
  relion_refine reads frequency k at voxel n/2 - k, so the value at voxel v is f(n/2 - v), float32, pixel 5.4.
"""
import os

import mrcfile
import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ctf-images")
N = 8
PIXEL = 5.4


def f(kx, ky, kz):
    return 1 + 0.01 * kx**2 + 0.02 * ky**2 + 0.04 * kz**2 + 0.003 * kx * ky + 0.005 * ky * kz + 0.007 * kx * kz


def fftw_frequency(i):
    return np.where(i <= N // 2, i, i - N)


def write(name, data, voxel_size):
    os.makedirs(HERE, exist_ok=True)
    with mrcfile.new(os.path.join(HERE, name), overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel_size
        # a fixed label (mrcfile's default carries the date) keeps regenerated files byte-identical
        mrc.header.label[0] = "golden CTF volume for subtomo tests, written by mrcfile"
        mrc.header.nlabl = 1
        mrc.update_header_stats()


def main():
    z, y, x = np.meshgrid(np.arange(N), np.arange(N), np.arange(N // 2 + 1), indexing="ij")
    kx, ky, kz = x, fftw_frequency(y), fftw_frequency(z)
    half = f(kx, ky, kz)
    multiplicity = 3 + 0.1 * (kx**2 + ky**2 + kz**2)
    write("relion4_weights.mrc", np.concatenate([half, multiplicity]).astype(np.float32), 1 / PIXEL)
    write("warp_ctf.mrc", half.astype(np.float16), PIXEL)
    z, y, x = np.meshgrid(np.arange(N), np.arange(N), np.arange(N), indexing="ij")
    c = N // 2
    write("relion3_ctf.mrc", f(c - x, c - y, c - z).astype(np.float32), PIXEL)


if __name__ == "__main__":
    main()
