"""Classical baselines for scripts/eval.ts, with scikit-image (python3-skimage).

Exchange format: raw little-endian float32 files in x-fastest order (numpy C order of (nz, ny, nx)),
shape given on the command line, so no orientation convention can get in the way.

  denoise:  eval_baselines.py denoise IN.f32 NX NY NZ SIGMA OUTDIR [--clean CLEAN.f32] [--quick]
            writes nlm06.f32 / nlm08.f32 (denoise_nl_means, 3D, fast mode, h = 0.6 / 0.8 σ̂ with σ̂
            from skimage's estimate_sigma, patch 5, search distance 6 (3 with --quick)) and tv.f32 (denoise_tv_chambolle; weight
            picked on the clean volume from a small grid when --clean is given: an oracle that
            favours the baseline, stated in RESULTS.md)
  superres: eval_baselines.py superres IN.f32 NX NY NZ FACTOR AXES OUTDIR
            AXES like "110" (upsample x and y); writes bicubic.f32 (skimage.transform.resize,
            order 3, anti_aliasing False, mode 'edge': cell-centred like the average-pool model)
Prints one JSON line with seconds per method.
"""
import json
import os
import sys
import time

import numpy as np
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, estimate_sigma
from skimage.transform import resize


def load(path, nx, ny, nz):
    return np.fromfile(path, dtype="<f4").reshape(nz, ny, nx).astype(np.float64)


def save(a, path):
    np.ascontiguousarray(a, dtype="<f4").tofile(path)


def main(argv):
    task = argv[0]
    if task == "denoise":
        src, nx, ny, nz, sigma, out = argv[1], int(argv[2]), int(argv[3]), int(argv[4]), float(argv[5]), argv[6]
        clean = load(argv[argv.index("--clean") + 1], nx, ny, nz) if "--clean" in argv else None
        quick = "--quick" in argv
        x = load(src, nx, ny, nz)
        scale = float(np.percentile(x, 99.5)) or 1.0
        xn, sn = x / scale, sigma / scale
        times = {}
        # σ̂ from the noisy volume itself (skimage's wavelet estimator), not the true σ: a user has
        # only the noisy scan. Both h = 0.6 σ̂ and 0.8 σ̂ are written; eval.ts keeps the better one
        # per volume, so the baseline is at its best h, not at one default.
        sh = float(estimate_sigma(xn))
        t = time.time()
        for tag, hf in (("06", 0.6), ("08", 0.8)):
            nlm = denoise_nl_means(xn, h=hf * sh, sigma=sh, patch_size=5, patch_distance=3 if quick else 6, fast_mode=True)
            save(nlm * scale, os.path.join(out, f"nlm{tag}.f32"))
        times["nlm"] = (time.time() - t) / 2
        weights = [0.5 * sn, sn, 2 * sn, 4 * sn] if clean is not None else [sn]
        best, best_err, best_w = None, np.inf, None
        t = time.time()
        for w in weights:
            tv = denoise_tv_chambolle(xn, weight=w)
            err = np.mean((tv * scale - clean) ** 2) if clean is not None else 0.0
            if err < best_err:
                best, best_err, best_w = tv, err, w
        times["tv"] = (time.time() - t) / len(weights)
        save(best * scale, os.path.join(out, "tv.f32"))
        print(json.dumps({"seconds": times, "tv_weight": best_w, "scale": scale, "sigma_hat": sh * scale}))
    elif task == "superres":
        src, nx, ny, nz, f, axes, out = argv[1], int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5]), argv[6], argv[7]
        x = load(src, nx, ny, nz)
        fz, fy, fx = [f if a == "1" else 1 for a in reversed(axes)]
        t = time.time()
        up = resize(x, (nz * fz, ny * fy, nx * fx), order=3, mode="edge", anti_aliasing=False, preserve_range=True)
        save(up, os.path.join(out, "bicubic.f32"))
        print(json.dumps({"seconds": {"bicubic": time.time() - t}}))
    else:
        raise SystemExit(f"unknown task {task}")


if __name__ == "__main__":
    main(sys.argv[1:])
