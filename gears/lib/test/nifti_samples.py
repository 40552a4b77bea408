#!/usr/bin/python3
"""Writes small NIfTI images of every datatype the gears read, both byte orders, NIfTI-1 and -2,
some with scl_slope/scl_inter, using nibabel; prints what nibabel reads back (x fastest) as JSON."""
import json
import os
import sys

import nibabel as nib
import numpy as np

out = sys.argv[1]
samples = []
shape = (5, 4, 3, 2)
base = np.arange(np.prod(shape)).reshape(shape, order="F")
for dtype in ["u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"]:
    for order in "<>":
        dt = np.dtype(order + dtype)
        signed = dt.kind in "if"
        values = (base * 3 - (60 if signed else 0)).astype(dt)
        for version, cls in ((1, nib.Nifti1Image), (2, nib.Nifti2Image)):
            if version == 2 and order == ">":
                continue
            header = cls.header_class(endianness=order)
            header.set_data_dtype(dt)
            img = cls(values, np.diag([1.5, 2.0, 2.5, 1.0]), header=header)
            scaled = dtype in ("i2", "u1") and version == 1
            if scaled:
                img.header.set_slope_inter(0.5, -7.25)
            name = os.path.join(out, f"v{version}_{dtype}_{'le' if order == '<' else 'be'}{'_scaled' if scaled else ''}.nii")
            nib.save(img, name)
            back = nib.load(name)
            samples.append(
                {
                    "path": name,
                    "dims": list(back.shape),
                    "zooms": [float(z) for z in back.header.get_zooms()[:3]],
                    "big_endian": back.header.endianness == ">",
                    "values": np.asarray(back.get_fdata(dtype=np.float64)).ravel(order="F").tolist(),
                }
            )
print(json.dumps(samples))
