"""Reference geometry for the superres pipeline on the IXI fixture, for ×2 in-plane (voxel axes 0, 1),
×4 through-plane (axis 2) and ×2 on all axes, plus skimage's order-1 resize for the linear start: the nibabel affine composed with the voxel-centre
zoom (new index n ↦ old index (n + ½)/f − ½), checked here to keep the field-of-view centre fixed.
(nibabel.affines.rescale_affine is not used: it pins the integer centre voxel (shape − 1) // 2,
which is half a voxel off for even sizes.) Writes tests/reference/pipelines-refs.json.
Run: /usr/bin/python3 scripts/reference/pipelines_refs.py
"""
import json
import os

import nibabel as nib
import numpy as np
from nibabel.affines import apply_affine, from_matvec

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
img = nib.load(os.path.join(ROOT, "fixtures", "nifti", "ixi-t1-small.nii.gz"))
shape = np.array(img.shape[:3])
zooms = np.array(img.header.get_zooms()[:3], dtype=float)
cases = []
# [True, False, True] = the fixture's canonical axial in-plane axes (voxel i → P, k → R/L).
for f, axes in [(2, [True, True, False]), (4, [False, False, True]), (2, [True, True, True]), (2, [True, False, True])]:
    ax = np.array(axes)
    new_shape = np.where(ax, shape * f, shape)
    new_zooms = np.where(ax, zooms / f, zooms)
    fs = np.where(ax, f, 1).astype(float)
    aff = img.affine @ from_matvec(np.diag(1 / fs), (1 / fs - 1) / 2)
    assert np.allclose(apply_affine(aff, (new_shape - 1) / 2), apply_affine(img.affine, (shape - 1) / 2))
    assert np.allclose(np.sqrt((aff[:3, :3] ** 2).sum(0)), new_zooms)
    cases.append({"scale": f, "axes": axes, "shape": [int(v) for v in new_shape], "affine": aff.tolist()})
# Cell-centred linear upsampling (the superres starting point) vs skimage.transform.resize(order=1).
from skimage.transform import resize  # noqa: E402

rng = np.random.default_rng(3)
small = rng.uniform(0, 1, (3, 5, 4))  # (z, y, x)
lin = resize(small, (3, 10, 8), order=1, mode="edge", anti_aliasing=False)
linear = {"size": [4, 5, 3], "input": [float(v) for v in small.ravel()], "factor": 2, "axes": [True, True, False],
          "output_size": [8, 10, 3], "output": [float(v) for v in lin.ravel()]}
# The anomaly intensity score on the tests' crop of the fixture (voxels [14:46, 14:46, 20:24]) inside
# the mask of voxel columns i in [4, 28): median and 1.4826·MAD of those voxels (numpy.median).
crop = img.get_fdata()[14:46, 14:46, 20:24]
vals = crop[4:28, :, :].ravel()
med = float(np.median(vals))
anomaly_z = {"median": med, "scale": float(np.median(np.abs(vals - med)) * 1.4826)}
out = os.path.join(ROOT, "tests", "reference", "pipelines-refs.json")
with open(out, "w") as fh:
    json.dump({"source_affine": img.affine.tolist(), "superres": cases, "linear_upsample": linear, "anomaly_intensity_z": anomaly_z}, fh, indent=1)
print(out)
