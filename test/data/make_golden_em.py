#!/usr/bin/env python3
"""Writes the small golden EM files read by test/em.test.ts, with numpy only (no EM library needed).

Run from anywhere: python3 test/data/make_golden_em.py   (writes next to this script)

EM layout (TOM toolbox tom_emread.m): 512-byte header = machine byte, general-purpose byte, unused byte,
data-type byte, int32 nx, ny, nz, 80-byte comment, 40 int32 parameters, 256 bytes of user data; then the
voxels with x fastest. numpy arrays are indexed [z, y, x], so C order writes x fastest. Every file is 4x4x4;
the value formulas are repeated in test/em.test.ts, keep them in step.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
N = 4
z, y, x = np.meshgrid(np.arange(N), np.arange(N), np.arange(N), indexing="ij")

MACHINE = {"sgi": 3, "mac": 5, "pc": 6}
DATA_TYPE = {"i1": 1, "i2": 2, "i4": 4, "f4": 5, "f8": 9}


def write(name, data, machine, little_endian, comment):
    order = "<" if little_endian else ">"
    kind = data.dtype.kind + str(data.dtype.itemsize)
    header = np.zeros(512, dtype=np.uint8)
    header[0] = MACHINE[machine]
    header[3] = DATA_TYPE[kind]
    header[4:16] = np.frombuffer(np.array(data.shape[::-1], dtype=order + "i4").tobytes(), dtype=np.uint8)
    text = comment.encode("ascii")[:80]
    header[16:16 + len(text)] = np.frombuffer(text, dtype=np.uint8)
    with open(os.path.join(HERE, name), "wb") as fh:
        fh.write(header.tobytes())
        fh.write(np.ascontiguousarray(data).astype(order + kind).tobytes())


def main():
    # float32 from a PC (little-endian): v = x + 10y + 100z + 0.25, as the MRC golden files
    write("golden_f32_pc.em", (x + 10 * y + 100 * z + 0.25).astype(np.float32), "pc", True, "golden float32 PC")
    # int16 from an SGI (big-endian): v = 1000(x - 2) + 10y - z
    write("golden_i16_sgi.em", (1000 * (x - 2) + 10 * y - z).astype(np.int16), "sgi", False, "golden int16 SGI")
    # float64 from a Mac (big-endian): v = 0.5x - 3y + 2z - 0.125
    write("golden_f64_mac.em", (0.5 * x - 3 * y + 2 * z - 0.125).astype(np.float64), "mac", False, "golden float64 Mac")
    # int8 from a PC: v = 16z + 4y + x - 32 (negative values check the sign)
    write("golden_i8_pc.em", (16 * z + 4 * y + x - 32).astype(np.int8), "pc", True, "golden int8 PC")
    # int32 little-endian data under a machine byte that claims SGI (big-endian): v = 100000x - y + 7z
    write("golden_i4_wrongstamp.em", (100000 * x - y + 7 * z).astype(np.int32), "sgi", True, "int32 LE, SGI stamp")


if __name__ == "__main__":
    main()
