"""Training pairs for the conditioned super-resolution model, made the way the engine makes its input.

The engine (src/pipelines/superres.ts, volume-ops.ts) normalises the LOW-resolution volume by its own
percentiles, upsamples it with cell-centred Keys cubic interpolation (edge samples replicated) and
makes the result consistent with the measurement (x += A†(y − A x), A = mean pooling, A† =
replication). That upsampled, consistent volume is the model's `cond`. So here, per training subject
and per degradation: LR = mean-pool(HR), range = percentiles of LR, target = normalise(HR, range),
cond = consistent cubic upsampling of normalise(LR, range). Written in numpy on the canonical
[x, y, z] array; tests/training/superres-cond.test.ts checks it against the engine's functions.

Degradations (the eval's): in-plane = the two axes of the recipe's plane, through = its slice axis.
"""
import numpy as np

from .data import normalisation_range, normalise

# slice axis of each anatomical plane on the canonical [x, y, z] array (data.slices)
SLICE_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}


def degradation_axes(plane: str, which: str):
    ax = SLICE_AXIS[plane]
    return tuple((d == ax) if which == "through" else (d != ax) for d in range(3))


def crop_to_multiple(a: np.ndarray, f: int, axes) -> np.ndarray:
    sl = tuple(slice(0, (n // f) * f) if on else slice(None) for n, on in zip(a.shape, axes))
    return a[sl]


def average_pool(x: np.ndarray, f: int, axes) -> np.ndarray:
    """Mean over f-blocks along the chosen axes (float64 sums, like the engine); trailing voxels that
    do not fill a block are dropped."""
    y = crop_to_multiple(x.astype(np.float64), f, axes)
    for d in range(3):
        if axes[d]:
            shp = list(y.shape)
            shp[d:d + 1] = [shp[d] // f, f]
            y = y.reshape(shp).mean(axis=d + 1)
    return y.astype(np.float32)


def replicate(y: np.ndarray, f: int, axes) -> np.ndarray:
    for d in range(3):
        if axes[d]:
            y = np.repeat(y, f, axis=d)
    return y


def _keys(x: np.ndarray) -> np.ndarray:
    t = np.abs(x)
    return np.where(t < 1, 1.5 * t ** 3 - 2.5 * t ** 2 + 1, np.where(t < 2, -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2, 0.0))


def cubic_upsample(y: np.ndarray, f: int, axes) -> np.ndarray:
    """Cell-centred Keys (a = −0.5) upsampling by f: new index n sits at old coordinate (n + ½)/f − ½;
    taps p0−1 … p0+2 with indices clamped to the axis (edge samples replicated); float32 per axis."""
    cur = y.astype(np.float32)
    for d in range(3):
        if not axes[d]:
            continue
        N = cur.shape[d]
        pos = (np.arange(N * f) + 0.5) / f - 0.5
        p0 = np.floor(pos).astype(int)
        out = np.zeros(cur.shape[:d] + (N * f,) + cur.shape[d + 1:], dtype=np.float64)
        for q in range(-1, 3):
            idx = np.clip(p0 + q, 0, N - 1)
            w = _keys(pos - (p0 + q))  # float64, as the engine's JS numbers
            shape = [1, 1, 1]
            shape[d] = N * f
            out += np.take(cur, idx, axis=d).astype(np.float64) * w.reshape(shape)
        cur = out.astype(np.float32)
    return cur


def consistent_cubic(y: np.ndarray, f: int, axes) -> np.ndarray:
    up = cubic_upsample(y, f, axes)
    return (up + replicate(y - average_pool(up, f, axes), f, axes)).astype(np.float32)


def superres_pair(real: np.ndarray, norm: dict, f: int, axes):
    """(target, cond, crop) for one HR volume: both normalised by the LR volume's range, on the
    HR grid cropped to whole blocks (crop = the slicing applied to HR-grid arrays such as masks)."""
    low = average_pool(real, f, axes)
    rng = normalisation_range(low, norm)
    hr = crop_to_multiple(real, f, axes)
    crop = tuple(slice(0, n) for n in hr.shape)
    return normalise(hr, rng), consistent_cubic(normalise(low, rng), f, axes), crop


def _dump(src: str, nx: str, ny: str, nz: str, f: str, axes: str, out_dir: str) -> None:
    """Peer check for tests/training/superres-pairs.test.ts: a raw float32 volume (x fastest) in,
    its mean pooling and that pooling's consistent cubic upsampling out (pool.f32, cond.f32, x fastest)."""
    import os
    shape = (int(nx), int(ny), int(nz))
    y = np.fromfile(src, dtype="<f4").reshape(shape, order="F")
    ax = tuple(c == "1" for c in axes)
    os.makedirs(out_dir, exist_ok=True)
    low = average_pool(y, int(f), ax)
    low.ravel(order="F").astype("<f4").tofile(os.path.join(out_dir, "pool.f32"))
    consistent_cubic(low, int(f), ax).ravel(order="F").astype("<f4").tofile(os.path.join(out_dir, "cond.f32"))


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 9 and sys.argv[1] == "dump":
        _dump(*sys.argv[2:])
    else:
        sys.exit("usage: python -m raddiff_train.superres_data dump IN.f32 NX NY NZ F AXES(e.g. 011) OUT_DIR")
