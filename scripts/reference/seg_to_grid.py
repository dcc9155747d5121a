#!/usr/bin/python3
"""Peer reader for raddiff's SEG → mask decoder (src/io/dicom/read-dicom-seg.ts): pydicom decodes
the Segmentation's pixel data and per-frame functional groups on its own, and numpy places each
frame on a target voxel grid by solving origin + D·diag(spacing)·ijk = position (a general linear
solve, where the decoder projects on orthonormal axes). Prints the flat x-fastest indices of the
voxels set, and each frame's (i, j, k) offset, as JSON.

Usage: /usr/bin/python3 scripts/reference/seg_to_grid.py FILE GRID_JSON
GRID_JSON: {"size": [nx, ny, nz], "spacing": [...], "origin": [...], "direction": [9, row-major]}
"""
import json
import sys

import numpy as np
import pydicom


def group(frame, shared, seq, attr):
    for g in (frame, shared):
        if g is not None and seq in g:
            item = g[seq].value[0]
            if attr in item:
                return item[attr].value
    raise KeyError(attr)


def main(file, grid_json):
    grid = json.loads(grid_json)
    size = np.array(grid["size"])
    spacing = np.array(grid["spacing"], dtype=float)
    origin = np.array(grid["origin"], dtype=float)
    direction = np.array(grid["direction"], dtype=float).reshape(3, 3)
    affine = direction @ np.diag(spacing)
    ds = pydicom.dcmread(file)
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    frames = ds.pixel_array
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    rows, cols = int(ds.Rows), int(ds.Columns)
    mask = np.zeros(tuple(size[::-1]), dtype=bool)  # [k, j, i]
    offsets = []
    for f, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
        ipp = np.array([float(x) for x in group(fg, shared, "PlanePositionSequence", "ImagePositionPatient")])
        ijk = np.linalg.solve(affine, ipp - origin)
        i0, j0, k = (int(round(x)) for x in ijk)
        offsets.append([i0, j0, k])
        # pixel_array[f][r, c]: row r runs down a column (axis j), column c along a row (axis i).
        mask[k, j0:j0 + rows, i0:i0 + cols] |= frames[f] > 0
    json.dump({"ones": [int(n) for n in np.flatnonzero(mask.reshape(-1))], "offsets": offsets}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
