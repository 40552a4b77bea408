#!/usr/bin/python3
"""Facts about NIfTI images read with nibabel (independent of Sprocket's own NIfTI reader):
shape and voxel sizes from the header, and a digest of the voxel data as stored.
Usage: /usr/bin/python3 nifti_facts.py IMAGE.nii[.gz] ... -> {path: {shape, zooms, dtype, sha1}}
"""
import hashlib
import json
import sys

import nibabel as nib
import numpy as np

facts = {}
for path in sys.argv[1:]:
    img = nib.load(path)
    data = np.ascontiguousarray(np.asanyarray(img.dataobj))
    facts[path] = {
        "shape": [int(n) for n in img.shape],
        "zooms": [round(float(z), 6) for z in img.header.get_zooms()],
        "dtype": str(data.dtype),
        "sha1": hashlib.sha1(data.tobytes()).hexdigest(),
    }
print(json.dumps(facts))
