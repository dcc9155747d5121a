"""Reference numbers for src/metrics: PSNR/SSIM from scikit-image, MAE/Dice/AUROC/AUPRC from
plain numpy (sklearn is not installed; the definitions follow sklearn's roc_auc_score and
average_precision_score). Writes tests/reference/metrics-refs.json with the inputs included.
Run: /usr/bin/python3 scripts/reference/metrics_refs.py
"""
import json
import os

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
rng = np.random.default_rng(7)


def xfastest(a):
    """numpy (z, y, x) C-order → flat x-fastest list, as the TS side stores volumes."""
    return [float(v) for v in a.ravel(order="C")]


def curve(s, y):
    """(tp, fp) after each distinct threshold, scores descending (sklearn's _binary_clf_curve)."""
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.where(np.diff(s))[0]
    idx = np.r_[distinct, len(s) - 1]
    tp = np.cumsum(y)[idx]
    return tp, (idx + 1) - tp


def auroc(s, y):
    tp, fp = curve(s, y)
    tpr = np.r_[0, tp] / tp[-1]
    fpr = np.r_[0, fp] / fp[-1]
    return float(np.trapz(tpr, fpr))


def ap(s, y):
    tp, fp = curve(s, y)
    prec = tp / (tp + fp)
    rec = np.r_[0, tp / tp[-1]]
    return float(np.sum(np.diff(rec) * prec))


cases = []
for shape in [(1, 24, 20), (12, 14, 13)]:  # (z, y, x): a 2D image and a 3D volume
    ref = rng.uniform(0, 100, shape).astype(np.float32)
    ref = np.cumsum(ref, axis=-1) / 10  # some structure
    test = (ref + rng.normal(0, 5, shape)).astype(np.float32)
    R = 150.0
    img_ref, img_test = (ref[0], test[0]) if shape[0] == 1 else (ref, test)
    cases.append({
        "size": [shape[2], shape[1], shape[0]],
        "ref": xfastest(ref), "test": xfastest(test), "data_range": R,
        "psnr": float(peak_signal_noise_ratio(img_ref.astype(np.float64), img_test.astype(np.float64), data_range=R)),
        "ssim": float(structural_similarity(img_ref.astype(np.float64), img_test.astype(np.float64), data_range=R,
                                            gaussian_weights=True, sigma=1.5, use_sample_covariance=False)),
        "mae": float(np.mean(np.abs(ref.astype(np.float64) - test.astype(np.float64)))),
    })

n = 400
labels = (rng.uniform(size=n) < 0.2).astype(np.int64)
scores = np.round(rng.normal(size=n) + 1.2 * labels, 1)  # rounding makes ties
pred = (scores > 0.8).astype(np.int64)
detection = {
    "scores": [float(v) for v in scores], "labels": [int(v) for v in labels],
    "auroc": auroc(scores, labels), "auprc": ap(scores, labels),
    "dice_at_0.8": float(2 * np.sum(pred * labels) / (np.sum(pred) + np.sum(labels))),
}
# slice-to-slice step (sliceStep): mean |x[s+1] - x[s]| along one axis, over the pairs with both voxels in the mask
shape = (9, 11, 10)  # (z, y, x)
vol = rng.normal(size=shape).cumsum(axis=0).astype(np.float32)
mask = rng.uniform(size=shape) < 0.7
step = {"size": [shape[2], shape[1], shape[0]], "x": xfastest(vol), "mask": [int(v) for v in mask.ravel(order="C")], "masked": {}, "all": {}}
for ax_ts, ax_np in [(0, 2), (1, 1), (2, 0)]:
    d = np.abs(np.diff(vol.astype(np.float64), axis=ax_np))
    n = shape[ax_np]
    both = np.take(mask, range(n - 1), axis=ax_np) & np.take(mask, range(1, n), axis=ax_np)
    step["masked"][str(ax_ts)] = float(d[both].mean())
    step["all"][str(ax_ts)] = float(d.mean())

out = os.path.join(ROOT, "tests", "reference", "metrics-refs.json")
with open(out, "w") as f:
    json.dump({"images": cases, "detection": detection, "slice_step": step}, f)
print(out, [(c["psnr"], c["ssim"]) for c in cases], detection["auroc"], detection["auprc"])
