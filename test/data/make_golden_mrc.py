#!/usr/bin/env python3
"""Writes the small golden MRC files read by test/mrc.test.ts, using the reference Python library mrcfile.

Run from anywhere: python3 test/data/make_golden_mrc.py   (writes next to this script)

Every file is 4x4x4. numpy arrays are indexed [z, y, x] (mrcfile convention), so x is the fastest axis on
disk, as in subtomo. The value formulas below are repeated in test/mrc.test.ts; keep them in step.
"""
import os

import mrcfile
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
N = 4
z, y, x = np.meshgrid(np.arange(N), np.arange(N), np.arange(N), indexing="ij")
LINEAR = x + 4 * y + 16 * z  # 0 … 63, the x-fastest voxel index


def write(name, data, voxel_size, origin=(0.0, 0.0, 0.0), extended_header=None, exttyp=None, label=None):
    path = os.path.join(HERE, name)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel_size
        mrc.header.origin = origin
        if extended_header is not None:
            mrc.set_extended_header(extended_header)
            mrc.header.exttyp = exttyp
        # a fixed first label (mrcfile's default carries the date) keeps regenerated files byte-identical
        mrc.header.label[0] = "golden file for subtomo tests, written by mrcfile"
        mrc.header.nlabl = 1
        if label is not None:
            mrc.header.label[1] = label
            mrc.header.nlabl = 2
        mrc.update_header_stats()
    return path


def main():
    # float32, little-endian, voxel 6 Å: v = x + 10y + 100z + 0.25
    f32 = (x + 10 * y + 100 * z + 0.25).astype(np.float32)
    write("golden_f32_le.mrc", f32, 6.0, origin=(12.0, -6.0, 3.5), label="golden float32 little-endian")
    # the same data stored big-endian (mrcfile follows the byte order of the array)
    write("golden_f32_be.mrc", f32.astype(">f4"), 6.0)
    # big-endian with the machine stamp wiped: readers must detect the byte order from the header values
    path = write("golden_f32_be_nostamp.mrc", f32.astype(">f4"), 6.0)
    with open(path, "r+b") as fh:
        fh.seek(212)
        fh.write(b"\x00\x00\x00\x00")
    # int16 (mode 1), voxel 4.5 Å: v = 1000(x − 2) + 10y − z
    write("golden_i16.mrc", (1000 * (x - 2) + 10 * y - z).astype(np.int16), 4.5)
    # int8 (mode 0), voxel 3 Å: v = linear − 32
    write("golden_i8.mrc", (LINEAR - 32).astype(np.int8), 3.0)
    # uint16 (mode 6), voxel 2.5 Å: v = 65000 − 700·linear (above the int16 range)
    write("golden_u16.mrc", (65000 - 700 * LINEAR).astype(np.uint16), 2.5)
    # float16 (mode 12), voxel 2 Å, with a 340-byte extended header (not a multiple of 4): v = linear/8 − 4
    ext = np.arange(340, dtype=np.uint8).view("V1")
    write("golden_f16_ext.mrc", (LINEAR / 8 - 4).astype(np.float16), 2.0, extended_header=ext, exttyp=b"TEST")
    # float32 stored with z fastest (mapc=3, mapr=2, maps=1): the disk array is indexed [x, y, z]
    path = write("golden_f32_zyx_axes.mrc", np.ascontiguousarray(f32.transpose(2, 1, 0)), 6.0)
    with mrcfile.open(path, mode="r+", permissive=True) as mrc:
        mrc.header.mapc, mrc.header.mapr, mrc.header.maps = 3, 2, 1


if __name__ == "__main__":
    main()
