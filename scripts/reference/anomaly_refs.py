"""References for the anomaly post-processing (src/pipelines/mask-ops.ts, anomaly-score.ts), made by
scipy.ndimage and numpy on small seeded volumes: binary erosion (6-connected cross, border 0),
median filter (mode 'reflect'), 26-connected labelling, and the robust z-score (median, 1.4826·MAD).
Volumes are stored flat in C order of shape (nz, ny, nx), i.e. x fastest, as raddiff's.
Writes tests/reference/anomaly-refs.json. Run: /usr/bin/python3 scripts/reference/anomaly_refs.py
"""
import json
import os

import numpy as np
from scipy import ndimage as ndi

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
rng = np.random.default_rng(14)
nx, ny, nz = 20, 17, 12
shape = (nz, ny, nx)
flat = lambda a: a.ravel(order="C").tolist()

# a blobby mask: smoothed noise thresholded, so erosion and labelling have structure to act on
smooth = ndi.gaussian_filter(rng.standard_normal(shape), 2.0)
blob = smooth > -0.03
# sparser islands (some touching only by an edge or a corner) for the labelling
islands = np.abs(ndi.gaussian_filter(rng.standard_normal(shape), 0.8)) > 0.32
cross = ndi.generate_binary_structure(3, 1)
erosion = {
    "iso2": ndi.binary_erosion(blob, structure=cross, iterations=2, border_value=0),
}
# anisotropic spacing (1, 1, 2.5) mm and 2 mm: radii (2, 2, 1) voxels; iteration n uses the cross
# restricted to the axes whose radius exceeds n (z is axis 0 in numpy order)
aniso = blob.copy()
for n, axes in enumerate([(0, 1, 2), (1, 2)]):
    s = np.zeros((3, 3, 3), bool)
    s[1, 1, 1] = True
    for ax in axes:
        idx = [1, 1, 1]
        for v in (0, 2):
            idx[ax] = v
            s[tuple(idx)] = True
    aniso = ndi.binary_erosion(aniso, structure=s, border_value=0)
erosion["aniso"] = aniso

# dilation (border_value 0), the same isotropic and anisotropic diamonds as the erosion
dilation = {"iso2": ndi.binary_dilation(islands, structure=cross, iterations=2, border_value=0)}
dil = islands.copy()
for n, axes in enumerate([(0, 1, 2), (1, 2)]):
    s = np.zeros((3, 3, 3), bool)
    s[1, 1, 1] = True
    for ax in axes:
        idx = [1, 1, 1]
        for v in (0, 2):
            idx[ax] = v
            s[tuple(idx)] = True
    dil = ndi.binary_dilation(dil, structure=s, border_value=0)
dilation["aniso"] = dil
# hole filling (3D, 6-connected background): a hollow ball, a shell open to one face, and the islands
zz, yy, xx = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
r = np.sqrt((zz - 6) ** 2 + (yy - 8) ** 2 + (xx - 6) ** 2)
hollow = ((r > 2.2) & (r < 4.5)) | islands
hollow[:, :, 14:] |= (np.abs(yy - 8) <= 3)[:, :, 14:] & ~((np.abs(yy - 8) <= 1) & (np.abs(zz - 6) <= 1))[:, :, 14:]
filled = ndi.binary_fill_holes(hollow)

x = rng.standard_normal(shape).astype(np.float32) * 3 + np.linspace(0, 5, nx, dtype=np.float32)[None, None, :]
med3 = ndi.median_filter(x, size=3, mode="reflect")
med5 = ndi.median_filter(x, size=5, mode="reflect")

labels, n = ndi.label(islands, structure=np.ones((3, 3, 3)))
counts = ndi.sum_labels(np.ones(shape), labels, index=np.arange(1, n + 1)).astype(int)

# robust z over the blob: lesion-like bright outliers in 10% of it must not move median or MAD much
y = x.copy()
inside = np.flatnonzero(blob.ravel())
y.ravel()[inside[:: 10]] += 20
vals = y[blob]
med = float(np.median(vals))
mad = float(np.median(np.abs(vals - med)) * 1.4826)
z = np.where(blob, (y - med) / mad, 0).astype(np.float32)

out = {
    "size": [nx, ny, nz],
    "mask": flat(blob.astype(np.uint8)),
    "erosion_iso2": flat(erosion["iso2"].astype(np.uint8)),
    "erosion_aniso": flat(erosion["aniso"].astype(np.uint8)),
    "aniso_spacing": [1, 1, 2.5],
    "aniso_mm": 2,
    "x": flat(x),
    "median3": flat(med3),
    "median5": flat(med5),
    "islands": flat(islands.astype(np.uint8)),
    "dilation_iso2": flat(dilation["iso2"].astype(np.uint8)),
    "dilation_aniso": flat(dilation["aniso"].astype(np.uint8)),
    "hollow": flat(hollow.astype(np.uint8)),
    "filled": flat(filled.astype(np.uint8)),
    "labels": flat(labels.astype(np.int32)),
    "counts": counts.tolist(),
    "y": flat(y),
    "z_median": med,
    "z_scale": mad,
    "z": flat(z),
}
with open(os.path.join(ROOT, "tests", "reference", "anomaly-refs.json"), "w") as f:
    json.dump(out, f)
print("filled adds", int(filled.sum() - hollow.sum()), "dilated", int(dilation["iso2"].sum()), int(dil.sum()), "of", int(islands.sum()))
print("labels", n, "counts", counts.tolist(), "6-conn", ndi.label(islands)[1], "eroded", int(erosion["iso2"].sum()), int(aniso.sum()), "of", int(blob.sum()))
