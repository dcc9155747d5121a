"""Volume loading, per-volume normalisation, slicing, masks, augmentation and subject splits.

Conventions shared with the TypeScript engine (src/engine/normalise.ts, src/engine/slicing.ts):
- Real values = stored * scl_slope + scl_inter computed in float64, rounded to float32 (the engine's
  realValues()). We apply the scaling ourselves rather than trust nibabel's get_fdata dtype path.
- percentile normalisation: numpy.percentile(method='linear') over ALL voxels of the volume (float32
  values promoted to float64, the engine's sort order and two-sided lerp), then
  y = 2 (v - low) / (high - low) - 1 in float64, clipped to [-1, 1], stored as float32.
  If high <= low, high = low + 1. ct-window uses the card's fixed [low, high] instead.
- Planes name ANATOMY. Every subject's arrays are first reordered (no resampling) to the closest
  canonical LPS voxel order, exactly as the engine's toCanonical (src/engine/canonical.ts): LPS
  direction = nibabel's RAS affine 3x3 with rows 0 and 1 negated, columns normalised; for each LPS
  axis in order x (L), y (P), z (S), the not yet used voxel axis with the largest |cosine| (ties: the
  lower voxel axis), flipped when that cosine is negative. On the canonical [x, y, z] array,
  axial = slices along z with rows y and columns x (arr[:, :, s].T), coronal = along y
  (arr[:, s, :].T, rows z), sagittal = along x (arr[s, :, :].T, rows z, columns y).
  A subject's masks / lesion / cond volumes take the image's reordering (they share its grid).
- Padding to the model multiple: reflect (numpy 'reflect', no edge repeat), extra split evenly with
  the smaller half at the top / left (the engine's paddingFor).
"""
import csv
import json
import os
import sys

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F

PLANES = ("axial", "coronal", "sagittal")


def load_real(path: str):
    """The volume's real values (float32, [i, j, k]) and its affine."""
    img = nib.load(path)
    raw = np.asanyarray(img.dataobj.get_unscaled()) if hasattr(img.dataobj, "get_unscaled") else np.asanyarray(img.dataobj)
    slope, inter = img.dataobj.slope, img.dataobj.inter
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    raw = raw.reshape(raw.shape[:3]) if raw.ndim > 3 and all(n == 1 for n in raw.shape[3:]) else raw
    if raw.ndim != 3:
        raise ValueError(f"{path}: need a 3D volume, got shape {raw.shape}")
    real = (raw.astype(np.float64) * slope + inter).astype(np.float32)
    return real, img.affine


def canonical_order(affine: np.ndarray):
    """(perm, flip): canonical axis a is voxel axis perm[a], reversed when flip[a] (the engine's
    orientationTowards(direction, IDENTITY))."""
    m = np.asarray(affine, dtype=np.float64)[:3, :3]
    d = m / np.linalg.norm(m, axis=0)
    d[:2] *= -1  # RAS -> LPS
    perm, flip, used = [], [], set()
    for a in range(3):
        best = None
        for j in range(3):
            if j not in used and (best is None or abs(d[a, j]) > abs(d[a, best])):
                best = j
        used.add(best)
        perm.append(best)
        flip.append(bool(d[a, best] < 0))
    return tuple(perm), tuple(flip)


def reorient(arr: np.ndarray, order) -> np.ndarray:
    perm, flip = order
    out = np.transpose(arr, perm)
    axes = tuple(a for a in range(3) if flip[a])
    return np.ascontiguousarray(np.flip(out, axes) if axes else out)


def reoriented_affine(affine: np.ndarray, shape, order) -> np.ndarray:
    """The affine of reorient(arr, order): new index -> old index, then the old affine."""
    perm, flip = order
    m = np.zeros((4, 4))
    m[3, 3] = 1.0
    for a in range(3):
        m[perm[a], a] = -1.0 if flip[a] else 1.0
        m[perm[a], 3] = shape[perm[a]] - 1 if flip[a] else 0.0
    return np.asarray(affine, dtype=np.float64) @ m


def load_canonical(path: str, order=None):
    """load_real, reordered to canonical LPS (by its own affine unless `order` is given):
    (array [x, y, z], canonical affine, order)."""
    real, affine = load_real(path)
    order = order or canonical_order(affine)
    return reorient(real, order), reoriented_affine(affine, real.shape, order), order


def normalisation_range(real: np.ndarray, norm: dict):
    p = norm["params"]
    if norm["kind"] == "ct-window":
        return float(p["low"]), float(p["high"])
    low, high = np.percentile(real.astype(np.float64).ravel(), [p["low"], p["high"]], method="linear")
    return float(low), float(high) if high > low else float(low) + 1.0


def normalise(real: np.ndarray, rng: tuple) -> np.ndarray:
    low, high = rng
    y = 2.0 * (real.astype(np.float64) - low) / (high - low) - 1.0
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def slices(vol: np.ndarray, plane: str) -> np.ndarray:
    """[count, H, W] slices of an [i, j, k] array in the engine's plane convention."""
    if plane == "axial":
        return np.ascontiguousarray(vol.transpose(2, 1, 0))
    if plane == "coronal":
        return np.ascontiguousarray(vol.transpose(1, 2, 0))
    if plane == "sagittal":
        return np.ascontiguousarray(vol.transpose(0, 2, 1))
    raise ValueError(f"unknown plane {plane}")


def padding_for(H: int, W: int, multiple: int):
    PH, PW = -(-H // multiple) * multiple, -(-W // multiple) * multiple
    return PH, PW, (PH - H) // 2, (PW - W) // 2


def pad_to(s: np.ndarray, PH: int, PW: int, mode: str = "reflect") -> np.ndarray:
    """Pads [..., H, W] to at least PH x PW the engine's way (top/left get the smaller half)."""
    H, W = s.shape[-2:]
    top, left = max(PH - H, 0) // 2, max(PW - W, 0) // 2
    widths = [(0, 0)] * (s.ndim - 2) + [(top, max(PH - H, 0) - top), (left, max(PW - W, 0) - left)]
    if mode == "reflect" and min(H, W) > 1:
        # numpy's reflect is periodic for pads longer than the axis, like the engine's padIndex
        return np.pad(s, widths, mode="reflect")
    if mode == "constant":  # background: -1 in normalised units, "outside" for 0/1 masks read as > 0.5
        return np.pad(s, widths, mode="constant", constant_values=-1.0)
    return np.pad(s, widths, mode="edge")


# ---- masks -----------------------------------------------------------------------------------

def head_mask(real: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Threshold (Otsu unless given) + largest connected component + hole filling."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    t = threshold_otsu(real) if threshold is None else threshold
    m = real > t
    lab, n = ndimage.label(m)
    if n > 1:
        sizes = ndimage.sum(m, lab, range(1, n + 1))
        m = lab == (1 + int(np.argmax(sizes)))
    m = ndimage.binary_closing(m, iterations=2)
    return ndimage.binary_fill_holes(m)


# ---- sources: what a recipe trains on ---------------------------------------------------------

def ixi_subjects(root: str):
    """(train, val) subject lists from mri/ixi-t1/participants.csv: the fixed split."""
    with open(os.path.join(root, "participants.csv")) as f:
        rows = list(csv.DictReader(f))
    pick = lambda s: [r["subject"] for r in rows if r["split"] == s]
    return pick("train"), pick("val")


def nifti_files(folder: str):
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith((".nii", ".nii.gz")))


def split_by_subject(items: list, val_fraction: float = 0.12, seed: int = 0):
    """Deterministic subject-level split for folders without a split file (at least one val item)."""
    items = sorted(items)
    order = np.random.default_rng(seed).permutation(len(items))
    nval = max(1, int(round(len(items) * val_fraction))) if len(items) > 1 else 0
    val = {items[i] for i in order[:nval]}
    return [x for x in items if x not in val], [x for x in items if x in val]


def synthrad_cases(folder: str):
    """Case folders holding mr.nii.gz + ct.nii.gz (optional mask.nii.gz), the SynthRAD layout."""
    out = []
    for d in sorted(os.listdir(folder)):
        c = os.path.join(folder, d)
        mr, ct = os.path.join(c, "mr.nii.gz"), os.path.join(c, "ct.nii.gz")
        if os.path.isdir(c) and os.path.exists(mr) and os.path.exists(ct):
            m = os.path.join(c, "mask.nii.gz")
            out.append({"id": d, "mr": mr, "ct": ct, "mask": m if os.path.exists(m) else None})
    return out


# ---- slice sets ------------------------------------------------------------------------------

class SliceSet:
    """Normalised, padded slices of several volumes in memory: x [N,1,H,W] plus optional cond,
    per-pixel loss weight (0 on tumour) and foreground mask (for masked metrics)."""

    def __init__(self, x, cond=None, weight=None, fg=None, subject=None):
        self.x, self.cond, self.weight, self.fg = x, cond, weight, fg
        self.subject = subject if subject is not None else [""] * len(x)

    def __len__(self):
        return len(self.x)


def _fit(s: np.ndarray, size: int, multiple: int, mode: str) -> np.ndarray:
    """Pads slices up to `size` (or the next multiple when larger); larger slices stay whole."""
    H, W = s.shape[-2:]
    PH, PW, _, _ = padding_for(max(H, size), max(W, size), multiple)
    return pad_to(s, PH, PW, mode)


def volume_slices(spec: dict, norm: dict, plane: str, size: int, multiple: int, min_fg: float = 0.05,
                  max_slices: int | None = None, cond_norm: dict | None = None, tumour_free_max: float = 1.0):
    """Slices of one subject. spec: {image, [cond], [mask], [lesion]} paths."""
    real, _, order = load_canonical(spec["image"])
    on_grid = lambda p: _same_grid(load_canonical(p, order)[0], real, p)
    x = normalise(real, normalisation_range(real, norm))
    # foreground for slice selection and masked metrics: brain labels, a given mask, else the head
    fg_path = spec.get("brain") or spec.get("mask")
    fg = on_grid(fg_path) > 0 if fg_path else head_mask(real)
    keep_fg = slices(fg, plane)
    frac = keep_fg.reshape(len(keep_fg), -1).mean(1)
    idx = np.nonzero(frac >= min_fg * frac.max())[0]
    lesion = None
    if spec.get("lesion"):
        les = slices(on_grid(spec["lesion"]) > 0, plane)
        lfrac = les.reshape(len(les), -1).sum(1) / np.maximum(keep_fg.reshape(len(keep_fg), -1).sum(1), 1)
        idx = idx[lfrac[idx] <= tumour_free_max]
        lesion = les
    if max_slices and len(idx) > max_slices:
        idx = idx[np.linspace(0, len(idx) - 1, max_slices).round().astype(int)]
    xs = _fit(slices(x, plane)[idx], size, multiple, "reflect")
    out = {"x": xs, "fg": _fit(keep_fg[idx].astype(np.float32), size, multiple, "constant") > 0}
    if lesion is not None:
        from scipy import ndimage
        grown = np.stack([ndimage.binary_dilation(l, iterations=3) for l in lesion[idx]])
        out["weight"] = 1.0 - _fit(grown.astype(np.float32), size, multiple, "edge")
    if spec.get("cond"):
        creal = on_grid(spec["cond"])
        c = normalise(creal, normalisation_range(creal, cond_norm or norm))
        out["cond"] = _fit(slices(c, plane)[idx], size, multiple, "reflect")
    return out


def _same_grid(a: np.ndarray, ref: np.ndarray, path: str) -> np.ndarray:
    if a.shape != ref.shape:
        raise ValueError(f"{path}: shape {a.shape} is not the image's {ref.shape} after reorientation")
    return a


def build_sliceset(specs: list, **kw) -> SliceSet:
    parts, subj = [], []
    for s in specs:
        p = volume_slices(s, **kw)
        parts.append(p)
        subj += [s.get("id", os.path.basename(s["image"]))] * len(p["x"])
    shapes = {p["x"].shape[-2:] for p in parts}
    if len(shapes) > 1:
        # different in-plane sizes: pad to the largest with background (-1 = air / MR background);
        # reflecting a small slice that far would tile copies of the body
        H, W = max(h for h, _ in shapes), max(w for _, w in shapes)
        for p in parts:
            for k in p:
                p[k] = pad_to(p[k].astype(np.float32), H, W, "edge" if k == "weight" else "constant")
    cat = lambda k: torch.from_numpy(np.concatenate([p[k] for p in parts]).astype(np.float32))[:, None] if k in parts[0] else None
    fg = cat("fg")
    return SliceSet(cat("x"), cat("cond"), cat("weight"), fg > 0.5 if fg is not None else None, subj)


# ---- augmentation ----------------------------------------------------------------------------

def random_crop(batch: list, size: int, g: torch.Generator) -> list:
    """Same random size x size window for every tensor of the batch item (x, cond, weight, ...)."""
    H, W = batch[0].shape[-2:]
    if H <= size and W <= size:
        return batch
    y = int(torch.randint(0, H - size + 1, (1,), generator=g))
    x = int(torch.randint(0, W - size + 1, (1,), generator=g))
    return [b[..., y:y + size, x:x + size] if b is not None else None for b in batch]


def augment(x, cond, weight, g: torch.Generator, flip_axes=(3,), rot_deg=8.0, scale=0.08, gamma=0.1):
    """Flips, small rotation / scaling (bilinear, background -1), gamma jitter on the image only.
    Geometric transforms hit x, cond and weight alike so pairs stay aligned."""
    B = x.shape[0]
    for ax in flip_axes:
        f = torch.rand(B, generator=g) < 0.5
        x = torch.where(f[:, None, None, None], x.flip(ax), x)
        cond = torch.where(f[:, None, None, None], cond.flip(ax), cond) if cond is not None else None
        weight = torch.where(f[:, None, None, None], weight.flip(ax), weight) if weight is not None else None
    if rot_deg > 0 or scale > 0:
        a = (torch.rand(B, generator=g) * 2 - 1) * rot_deg * np.pi / 180
        s = 1 + (torch.rand(B, generator=g) * 2 - 1) * scale
        theta = torch.zeros(B, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a) / s, -torch.sin(a) / s
        theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a) / s, torch.cos(a) / s
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        warp = lambda v, bg: F.grid_sample(v - bg, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + bg
        x = warp(x, -1.0)
        cond = warp(cond, -1.0) if cond is not None else None
        weight = warp(weight, 1.0) if weight is not None else None
    if gamma > 0:
        gm = torch.exp((torch.rand(B, 1, 1, 1, generator=g) * 2 - 1) * gamma)
        x = ((x + 1) / 2).clamp(0, 1).pow(gm) * 2 - 1
    return x, cond, weight


def _dump(path: str, out_dir: str, kind: str = "percentile", low: float = 0.5, high: float = 99.5,
          plane: str = "axial", multiple: int = 8, slice_index: int = -1) -> None:
    """Peer-check output for the TypeScript parity test: raw float32 little-endian files + JSON.
    Everything on the canonical grid, with its LPS geometry."""
    real, affine, order = load_canonical(path)
    norm = {"kind": kind, "params": {"low": float(low), "high": float(high)}}
    rng = normalisation_range(real, norm)
    y = normalise(real, rng)
    os.makedirs(out_dir, exist_ok=True)
    # x fastest, like the engine's Volume.data
    real.transpose(2, 1, 0).astype("<f4").tofile(os.path.join(out_dir, "canonical.f32"))
    y.transpose(2, 1, 0).astype("<f4").tofile(os.path.join(out_dir, "normalised.f32"))
    sl = slices(y, plane)
    s = len(sl) // 2 if slice_index < 0 else slice_index
    PH, PW, _, _ = padding_for(*sl.shape[1:], multiple)
    pad_to(sl[s], PH, PW, "reflect").astype("<f4").tofile(os.path.join(out_dir, "slice.f32"))
    with open(os.path.join(out_dir, "normalised.json"), "w") as f:
        json.dump({"shape": list(real.shape), "low": rng[0], "high": rng[1], "plane": plane, "slice": int(s),
                   "slice_shape": [PH, PW], "multiple": multiple, "perm": list(order[0]), "flip": list(order[1]),
                   **lps_geometry(affine)}, f)


def lps_geometry(affine: np.ndarray) -> dict:
    """spacing, origin and row-major direction in LPS, as the engine's Volume holds them."""
    a = np.asarray(affine, dtype=np.float64)
    sp = np.linalg.norm(a[:3, :3], axis=0)
    flip = np.diag([-1.0, -1.0, 1.0])
    return {"spacing": sp.tolist(), "origin": (flip @ a[:3, 3]).tolist(),
            "direction": (flip @ (a[:3, :3] / sp)).ravel().tolist()}


if __name__ == "__main__":
    # /usr/bin/python3 training/raddiff_train/data.py dump VOLUME OUT_DIR [kind low high plane multiple]
    if len(sys.argv) >= 4 and sys.argv[1] == "dump":
        a = sys.argv[2:]
        _dump(a[0], a[1], *(a[2:3]), *[float(v) for v in a[3:5]], *(a[5:6]), *[int(v) for v in a[6:7]])
    else:
        sys.exit("usage: data.py dump VOLUME OUT_DIR [kind low high plane multiple]")
