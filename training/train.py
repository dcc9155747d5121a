#!/usr/bin/python3
"""Train, evaluate and export one raddiff model.

  /usr/bin/python3 training/train.py MODEL --data DIR [--out DIR] [--work DIR] [--steps N]
      [--smoke] [--resume CKPT] [--device cpu|cuda] [--seed N] [--threads N] [--png PATH]

MODEL: brain-t1 | brain-flair | head-ct | mri2ct. Writes OUT/MODEL.onnx + OUT/MODEL.json (the card,
held-out metrics filled in), the PNG grid (docs/models/MODEL.png; OUT/MODEL.png with --smoke), and
checkpoints + train.log under WORK.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from raddiff_train.data import build_sliceset  # noqa: E402
from raddiff_train.evaluate import grid_png, one_step_metrics  # noqa: E402
from raddiff_train.export import export_onnx, write_card  # noqa: E402
from raddiff_train.recipes import ARCH, LINEAR, SMOKE_ARCH, recipe, run_sources  # noqa: E402
from raddiff_train.run_dir import open_run  # noqa: E402
from raddiff_train.train import fit  # noqa: E402
from raddiff_train.unet import UNet, count_params  # noqa: E402


def parse(argv):
    p = argparse.ArgumentParser(description="train, evaluate and export a raddiff model")
    p.add_argument("model")
    p.add_argument("--data", required=True, help="shared data root, or your own folder of volumes / cases")
    p.add_argument("--out", default=os.path.join(ROOT, "models"), help="where the ONNX + card go")
    p.add_argument("--work", help="checkpoints and log (default training/runs/MODEL)")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--smoke", action="store_true", help="a few steps on a few slices (< 1 min on 2 cores)")
    p.add_argument("--resume", help="checkpoint to continue from")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda if available")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="PyTorch CPU threads (default: all cores; 1 with --smoke)")
    p.add_argument("--png", help="grid path (default docs/models/MODEL.png)")
    p.add_argument("--init", help="warm start: a shipped model's ONNX file (same UNet layout) or a checkpoint")
    p.add_argument("--size", type=int, help="training crop size (EDM recipes: patch training, then a full-size fine-tune)")
    p.add_argument("--lr", type=float)
    p.add_argument("--context", type=int, help="EDM recipes: neighbouring slices each side (default: the recipe's); "
                   "--init from a model with fewer starts the new ones at zero")
    p.add_argument("--objective", choices=["edm", "epsilon"], help="default: the recipe's")
    p.add_argument("--version", help="card version (default: the recipe's)")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                   help="EDM recipes on CPU: bf16 autocast (auto: on where the CPU has AVX-512 BF16 or AMX)")
    p.add_argument("--minutes", type=float, help="EDM recipes: stop training after this many minutes (then evaluate and export)")
    p.add_argument("--decay", type=float, help="EDM recipes: the last fraction of the run (of --minutes when given, "
                   "else of --steps) lowers the lr linearly to 0")
    p.add_argument("--focus", type=float, help="EDM recipes: this fraction of the samples draws ln sigma uniformly over "
                   "the recipe's task_sigmas (the levels its task's default call runs at)")
    p.add_argument("--mix", help="super-resolution recipes: comma-separated shares of the training samples per trained "
                   "degradation, in the recipe's order (default: in proportion to their slices)")
    p.add_argument("--mean-frac", type=float, help="conditioned recipes: the fraction of samples that trains the "
                   "posterior-mean call (default: the recipe's)")
    return p.parse_args(argv)


def main(argv=None):
    a = parse(argv)
    t_start = time.time()
    # --smoke's tiny model gains nothing from a second thread and loses much on a loaded machine
    # (OpenMP threads wait on each other at every op)
    torch.set_num_threads(a.threads or (1 if a.smoke else os.cpu_count() or 1))
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device available to PyTorch")
    r = recipe(a.model)
    r["schedule"] = LINEAR
    if (a.objective or r.get("objective", "epsilon")) == "edm":
        from raddiff_train.run_edm import main_edm
        return main_edm(a, r, device)
    r["prediction"] = "epsilon"
    arch = SMOKE_ARCH if a.smoke else ARCH
    if a.batch:
        r["batch"] = a.batch
    if a.smoke:  # 64² crops of the padded slices; evaluation still runs on whole slices
        r["batch"], r["size"] = a.batch or 4, 64
    steps = a.steps or (8 if a.smoke else r["steps"])
    name, work, log = open_run(a)
    train_specs, val_specs = run_sources(r, a.data, a.smoke)
    multiple = 2 ** (len(arch["mults"]) - 1)
    kw = dict(norm=r["norm"], plane=r["plane"], size=r["size"], multiple=multiple,
              max_slices=4 if a.smoke else None, cond_norm=r.get("cond_norm"),
              tumour_free_max=r.get("tumour_free_max", 1.0))
    train_set, val_set = build_sliceset(train_specs, **kw), build_sliceset(val_specs, **kw)
    log(f"{a.model}: {len(train_specs)} train subjects / {len(train_set)} slices, {len(val_specs)} val subjects / "
        f"{len(val_set)} slices, slice {tuple(train_set.x.shape[-2:])}, device {device}, threads {torch.get_num_threads()}")
    cond_ch = 1 if r.get("cond_norm") else 0
    torch.manual_seed(a.seed)
    model = UNet(in_ch=1, out_ch=1, cond_ch=cond_ch, **arch)
    log(f"UNet {count_params(model)} parameters {model.config}")
    t_train = time.time()
    ema = fit(model, train_set, val_set, r, steps=steps, work=work, device=device, seed=a.seed, resume=a.resume,
              log=log, val_every=max(steps // 2, 1) if a.smoke else 250, ckpt_every=steps if a.smoke else 250,
              log_every=max(steps // 4, 1) if a.smoke else 25)
    train_s = time.time() - t_train
    ema = ema.cpu().eval()

    n = r["norm"]
    hu = (n["params"]["high"] - n["params"]["low"]) / 2 if n["kind"] == "ct-window" else None
    ts = (50, 100, 250, 500) + ((r["schedule"]["T"] - 1,) if cond_ch else ())
    metrics = one_step_metrics(ema, val_set, r["schedule"], r["prediction"], torch.device("cpu"), ts=ts,
                               max_slices=4 if a.smoke else 32, hu_per_unit=hu)
    log("held-out one-step x0: " + json.dumps(metrics["one_step_x0"]))
    png = a.png or (os.path.join(a.out, f"{a.model}-smoke.png") if a.smoke else os.path.join(ROOT, "docs", "models", f"{a.model}.png"))
    os.makedirs(os.path.dirname(png), exist_ok=True)
    grid_png(ema, val_set, r["schedule"], r["prediction"], torch.device("cpu"), png)

    onnx_path = os.path.join(a.out, f"{name}.onnx")
    export_onnx(ema, onnx_path, size=r["size"])
    parity = parity_check(ema, onnx_path, val_set, work, r)
    extra = {"cond_normalisation": r["cond_norm"], "cond_modality": r.get("cond_modality")} if cond_ch else {}
    card = write_card(
        ema, onnx_path, name=name, version="0.1.0", tasks=r["tasks"],
        modality=r["modality"], contrast=r["contrast"], prediction=r["prediction"], schedule=r["schedule"],
        normalisation=r["norm"], plane=r["plane"], tile_size=r["tile_size"], licence=r["licence"],
        training_data={"description": r["data_note"], "train_subjects": [s["id"] for s in train_specs],
                       "val_subjects": [s["id"] for s in val_specs], "train_slices": len(train_set),
                       "steps": steps, "batch": r["batch"], "seed": a.seed, "device": str(device),
                       "train_seconds": round(train_s, 1), "smoke": a.smoke},
        metrics=dict(metrics, onnx_parity=parity), **extra)
    log(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes), card, {png}; parity: {parity}")
    log(f"total {time.time() - t_start:.1f} s (training {train_s:.1f} s)")
    return card


def parity_check(model, onnx_path: str, ds, work: str, r: dict) -> dict:
    """PyTorch vs onnxruntime on one held-out slice. Without the python onnxruntime module the
    sample is saved (parity/ in WORK: x, t, cond, PyTorch output as float32 files) for the
    TypeScript side's onnxruntime-node check."""
    x = ds.x[:1]
    cond = ds.cond[:1] if ds.cond is not None else None
    t = torch.tensor([250.0])
    with torch.no_grad():
        ref = model(x, t, cond).numpy()
    d = os.path.join(work, "parity")
    os.makedirs(d, exist_ok=True)
    for name, v in [("x", x.numpy()), ("out", ref)] + ([("cond", cond.numpy())] if cond is not None else []):
        v.astype("<f4").tofile(os.path.join(d, f"{name}.f32"))
    with open(os.path.join(d, "sample.json"), "w") as f:
        json.dump({"onnx": os.path.abspath(onnx_path), "shape": list(x.shape), "t": 250.0,
                   "cond_shape": list(cond.shape) if cond is not None else None}, f)
    try:
        import onnxruntime as ort
    except ImportError:
        return {"checked": False, "note": "python onnxruntime missing; sample saved for the onnxruntime-node test"}
    feeds = {"x": x.numpy(), "t": t.numpy()}
    if cond is not None:
        feeds["cond"] = cond.numpy()
    got = ort.InferenceSession(onnx_path).run(["out"], feeds)[0]
    return {"checked": True, "max_abs_diff": float(np.abs(got - ref).max())}


if __name__ == "__main__":
    main()
