"""Weak MRI/CT training pairs for mri2ct: a real CT registered onto each IXI T1 with elastix.

No same-person MRI + CT exists in the data this project can reach. The weak substitute: the one
real head CT (InVesalius head_cranium, HU) is registered onto every IXI T1 (affine, then B-spline;
Mattes mutual information, multi-resolution) with Debian's elastix, and resampled onto the T1 grid.
Each case gets the SynthRAD layout the mri2ct recipe reads:

    OUT/<subject>/mr.nii.gz    the IXI T1, zeroed outside the CT's field of view
    OUT/<subject>/ct.nii.gz    the registered CT in HU (int16), -1024 outside its field of view and
                               outside the T1's head (the CT's table and head rest are not this person)
    OUT/<subject>/mask.nii.gz  head (T1 threshold) within the CT's field of view
    OUT/<subject>/brain.nii.gz brain from the DLMUSE labels (evaluation mask)
    OUT/splits.txt             IXI's fixed split (train / val)
    OUT/<subject>/overlay.png  CT bone contour over the T1, to check the registration by eye

What the model learns from such pairs is one person's skull and CT texture deformed to other heads:
HU errors against these targets measure agreement with a registered CT, not with the subject's true
CT. Cards and results say so.

    /usr/bin/python3 -m raddiff_train.make_pairs --data ../shared/data --out /work/pairs [--jobs 2]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import nibabel as nib
import numpy as np
from scipy import ndimage

from .data import head_mask, ixi_subjects

# Shared by both stages; only the transform (and the affine's initialisation) differ.
_COMMON = """
(FixedInternalImagePixelType "float")
(MovingInternalImagePixelType "float")
(Registration "MultiResolutionRegistration")
(Metric "AdvancedMattesMutualInformation")
(NumberOfHistogramBins 32)
(Optimizer "AdaptiveStochasticGradientDescent")
(NumberOfResolutions 3)
(MaximumNumberOfIterations 400)
(ImageSampler "RandomCoordinate")
(NumberOfSpatialSamples 3000)
(NewSamplesEveryIteration "true")
(Interpolator "BSplineInterpolator")
(BSplineInterpolationOrder 1)
(ResampleInterpolator "FinalBSplineInterpolator")
(FinalBSplineInterpolationOrder 1)
(Resampler "DefaultResampler")
(FixedImagePyramid "FixedSmoothingImagePyramid")
(MovingImagePyramid "MovingSmoothingImagePyramid")
(HowToCombineTransforms "Compose")
(DefaultPixelValue 0)
(WriteResultImage "false")
(ResultImageFormat "nii")
(ErodeMask "false")
"""

AFFINE = _COMMON + """
(Transform "AffineTransform")
(AutomaticScalesEstimation "true")
(AutomaticTransformInitialization "true")
(AutomaticTransformInitializationMethod "CenterOfGravity")
"""

BSPLINE = _COMMON + """
(Transform "BSplineTransform")
(FinalGridSpacingInPhysicalUnits 16)
"""


def _run(cmd: list, log: str):
    with open(log, "a") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed (exit {r.returncode}); see {log}")


def _transform(tp: str, image: str, work: str, default: float, log: str) -> np.ndarray:
    """Resample `image` with a transform parameter file, a given outside value, linear interpolation."""
    text = open(tp).read()
    text = _set(text, "DefaultPixelValue", repr(float(default)))
    text = _set(text, "ResultImagePixelType", '"float"')
    text = _set(text, "FinalBSplineInterpolationOrder", "1")
    # the B-spline file points at the affine one through InitialTransformParametersFileName
    tp2 = os.path.join(work, "tp-apply.txt")
    open(tp2, "w").write(text)
    out = tempfile.mkdtemp(dir=work)
    _run(["transformix", "-in", image, "-tp", tp2, "-out", out, "-threads", "1"], log)
    res = [f for f in os.listdir(out) if f.startswith("result.")][0]
    return np.asarray(nib.load(os.path.join(out, res)).get_fdata(dtype=np.float32))


def _set(text: str, key: str, value: str) -> str:
    lines = [ln for ln in text.splitlines() if not ln.startswith(f"({key} ")]
    return "\n".join(lines + [f"({key} {value})"]) + "\n"


def prepare_ct(ct_path: str, folder: str) -> dict:
    """The CT as elastix / transformix read it, written once per run: `moving` (air = 0 for the
    centre-of-gravity initialisation, metal / high bone tail clipped), `fov` (ones on the CT grid)
    and `hu` (the CT itself)."""
    ct_img = nib.load(ct_path)
    ct = np.asarray(ct_img.get_fdata(dtype=np.float32))
    paths = {k: os.path.join(folder, f"{k}.nii.gz") for k in ("moving", "fov", "hu")}
    nib.save(nib.Nifti1Image(np.clip(ct + 1024, 0, 3000).astype(np.float32), ct_img.affine), paths["moving"])
    nib.save(nib.Nifti1Image(np.ones(ct.shape, np.float32), ct_img.affine), paths["fov"])
    nib.save(nib.Nifti1Image(ct, ct_img.affine), paths["hu"])
    return paths


def register_one(subject: str, t1_path: str, labels_path: str | None, ct_path: str, out: str, prepared: dict | None = None) -> dict:
    t0 = time.time()
    case = os.path.join(out, subject)
    os.makedirs(case, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f"reg-{subject}-")
    log = os.path.join(case, "elastix.log")
    open(log, "w").close()
    try:
        ctp = prepared or prepare_ct(ct_path, work)
        moving, ones, hu = ctp["moving"], ctp["fov"], ctp["hu"]
        p_aff, p_bs = os.path.join(work, "affine.txt"), os.path.join(work, "bspline.txt")
        open(p_aff, "w").write(AFFINE)
        open(p_bs, "w").write(BSPLINE)
        _run(["elastix", "-f", t1_path, "-m", moving, "-p", p_aff, "-p", p_bs, "-out", work, "-threads", "1"], log)
        tp = os.path.join(work, "TransformParameters.1.txt")
        ct_on_t1 = _transform(tp, hu, work, -1024.0, log)
        fov = _transform(tp, ones, work, 0.0, log) > 0.999

        t1_img = nib.load(t1_path)
        t1 = np.asarray(t1_img.get_fdata(dtype=np.float32))
        if ct_on_t1.shape != t1.shape:
            raise RuntimeError(f"{subject}: resampled CT has shape {ct_on_t1.shape}, T1 {t1.shape}")
        # the shared head mask (largest component, holes filled) at a low T1 threshold: scalp included
        head = head_mask(t1, threshold=0.15 * float(np.percentile(t1, 99)))
        mask = head & fov
        mr = np.where(fov, t1, 0).astype(np.float32)
        # outside the (slightly grown) head the CT holds its table and head rest, not this subject: air
        near_head = ndimage.binary_dilation(head, iterations=3)
        ct_out = np.where(fov & near_head, np.rint(ct_on_t1), -1024).clip(-1024, 3071).astype(np.int16)
        nib.save(nib.Nifti1Image(mr, t1_img.affine), os.path.join(case, "mr.nii.gz"))
        nib.save(nib.Nifti1Image(ct_out, t1_img.affine), os.path.join(case, "ct.nii.gz"))
        nib.save(nib.Nifti1Image(mask.astype(np.uint8), t1_img.affine), os.path.join(case, "mask.nii.gz"))
        if labels_path and os.path.exists(labels_path):
            lab = np.asarray(nib.load(labels_path).get_fdata(dtype=np.float32))
            nib.save(nib.Nifti1Image((lab > 0).astype(np.uint8), t1_img.affine), os.path.join(case, "brain.nii.gz"))
        _overlay(t1, ct_out, mask, os.path.join(case, "overlay.png"))
        # registration quality proxy: mutual information of T1 and registered CT inside the mask
        return {"subject": subject, "seconds": round(time.time() - t0, 1), "fov_head_fraction": float(mask.sum() / max(head.sum(), 1)),
                "nmi": float(_nmi(t1[mask], ct_out[mask]))}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _nmi(a: np.ndarray, b: np.ndarray, bins: int = 32) -> float:
    """(H(A) + H(B)) / H(A, B) on a joint histogram, as skimage defines it; 0 for an empty mask."""
    from skimage.metrics import normalized_mutual_information
    return normalized_mutual_information(a, b, bins=bins) if a.size else 0.0


def _overlay(t1: np.ndarray, ct: np.ndarray, mask: np.ndarray, path: str):
    """Three orthogonal mid slices: T1 in grey, CT bone (>300 HU) edges in red."""
    from PIL import Image
    lo, hi = np.percentile(t1[mask], [1, 99]) if mask.any() else (0, 1)
    rows = []
    for ax in range(3):
        i = t1.shape[ax] // 2
        g = np.take(t1, i, axis=ax)
        bone = np.take(ct, i, axis=ax) > 300
        edge = bone & ~ndimage.binary_erosion(bone)
        g8 = (np.clip((g - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)
        rgb = np.stack([g8, g8, g8], -1)
        rgb[edge] = [255, 40, 40]
        rgb = np.rot90(rgb)
        rows.append(np.pad(rgb, ((0, 128 - rgb.shape[0]) if rgb.shape[0] < 128 else (0, 0), (0, 4), (0, 0))))
    h = max(r.shape[0] for r in rows)
    rows = [np.pad(r, ((0, h - r.shape[0]), (0, 0), (0, 0))) for r in rows]
    Image.fromarray(np.concatenate(rows, 1)).resize((sum(r.shape[1] for r in rows) * 2, h * 2), Image.NEAREST).save(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="shared data root (mri/ixi-t1, ct/head_cranium.nii.gz)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--ct", default=None, help="CT to register (default: DATA/ct/head_cranium.nii.gz)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--subjects", type=int, default=0, help="only the first N subjects (quick checks)")
    a = ap.parse_args(argv)
    if not shutil.which("elastix") or not shutil.which("transformix"):
        raise SystemExit("elastix and transformix are needed: apt-get install elastix")
    ixi = os.path.join(a.data, "mri", "ixi-t1")
    labels = os.path.join(a.data, "mri", "ixi-t1-labels")
    ct = a.ct or os.path.join(a.data, "ct", "head_cranium.nii.gz")
    train, val = ixi_subjects(ixi)
    subjects = [(s, "val") for s in val] + [(s, "train") for s in train]
    if a.subjects:
        subjects = subjects[:a.subjects]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "splits.txt"), "w") as f:
        f.writelines(f"{s} {sp}\n" for s, sp in subjects)

    shared = tempfile.mkdtemp(prefix="reg-ct-")
    try:
        prepared = prepare_ct(ct, shared)

        def job(item):
            s, _ = item
            return register_one(s, os.path.join(ixi, f"{s}_T1.nii.gz"), os.path.join(labels, f"{s}_T1_DLMUSE.nii.gz"), ct, a.out, prepared)

        with ThreadPoolExecutor(max_workers=a.jobs) as ex:
            for r in ex.map(job, subjects):
                print(r, flush=True)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
