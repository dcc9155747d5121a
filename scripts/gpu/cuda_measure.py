"""Per-slice forward time and a 10-step volume pass of a shipped raddiff model on a CUDA GPU.

Run from the repository root on a machine with PyTorch + CUDA (scripts/gpu/cuda-measure.sh does):

    python3 scripts/gpu/cuda_measure.py [--card models/brain-t1.json] [--out DIR] [--budget-s 480]

Neither onnxruntime-gpu nor Node is needed there (onnxruntime-gpu's wheel is over the 64 MiB a
device call may carry, and onnxruntime-node's CUDA provider is downloaded at install time, which
that machine cannot do). Instead the card's UNet (training/raddiff_train/unet.py) is rebuilt and
given the ONNX file's own weights, so what is timed is the shipped graph's arithmetic; parity is
checked against onnxruntime's CPU provider on the same input when the `onnxruntime` package is
importable (it is on the lent H200 image), else against PyTorch on the CPU.

Figures (JSON on stdout and in OUT/cuda-measure.json): parity max |Δ|; forward ms per slice at
128² and 256², batch 1/8/32, strict fp32 and TF32; a 10-step DDIM pass over a 120×120×90 volume
(slices padded to 128², as the engine does) at batch 8 and batch 90, with and without the copies
to and from the host each step (the engine's scheduler runs on the host). CUDA events time the
GPU; wall time includes the launches. Stops measuring when --budget-s is spent.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
from onnx import numpy_helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "training"))
from raddiff_train.samplers import ddim_step  # noqa: E402
from raddiff_train.schedules import alphas_cumprod, betas_for, trailing_timesteps  # noqa: E402
from raddiff_train.unet import UNet  # noqa: E402


def load_unet(card: dict, onnx_path: str) -> UNet:
    """The card's UNet with the ONNX file's weights. torch.onnx.export keeps parameter names
    ("m." + state-dict key) except GroupNorm's affine pair, which becomes the constant operand of
    the Mul / Add after InstanceNormalization, in nodes named /m/<module path>/Mul and /Add."""
    model = UNet(**card["architecture"])
    graph = onnx.load(onnx_path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    by_name = {}
    for k in model.state_dict():
        if "m." + k in inits:
            by_name[k] = inits["m." + k]
    for node in graph.node:
        if node.op_type not in ("Mul", "Add") or not node.name.startswith("/m/"):
            continue
        parts = node.name[len("/m/"):].split("/")
        if len(parts) < 2 or parts[-1] not in ("Mul", "Add"):
            continue
        # scopes name each level either relative ("down.0.0" / "n1") or qualified ("out" / "out.0")
        suffix = ".weight" if node.op_type == "Mul" else ".bias"
        keys = [".".join(parts[i:-1]) + suffix for i in range(len(parts) - 1)]
        key = next((k for k in keys if k in model.state_dict()), None)
        consts = [inits[i] for i in node.input if i in inits]
        if key and key not in by_name and len(consts) == 1:
            by_name[key] = consts[0].reshape(-1)
    missing = [k for k in model.state_dict() if k not in by_name]
    if missing:
        raise SystemExit(f"{len(missing)} parameters not found in the ONNX file, e.g. {missing[:3]}")
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in by_name.items()})
    return model.eval()


def parity(model: UNet, onnx_path: str, dev: torch.device) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 128, 128, generator=g)
    t = torch.full((2,), 500.0)
    with torch.inference_mode():
        got = model.to(dev)(x.to(dev), t.to(dev)).float().cpu().numpy()
    try:
        import onnxruntime as ort

        s = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        ref = s.run(["out"], {"x": x.numpy(), "t": t.numpy()})[0]
        against = f"onnxruntime {ort.__version__} CPU provider"
    except ImportError:
        with torch.inference_mode():
            ref = model.cpu()(x, t).numpy()
        model.to(dev)
        against = "PyTorch CPU (onnxruntime not installed)"
    return {"against": against, "max_abs_diff": float(np.abs(got - ref).max()), "max_abs_out": float(np.abs(ref).max())}


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def time_forward(model, dev, size, batch, reps):
    x = torch.randn(batch, 1, size, size, device=dev)
    t = torch.full((batch,), 500.0, device=dev)
    cuda = dev.type == "cuda"
    with torch.inference_mode():
        for _ in range(3):
            model(x, t)
        sync(dev)
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        w0 = time.perf_counter()
        for _ in range(reps):
            model(x, t)
        if cuda:
            end.record()
        sync(dev)
    wall_ms = (time.perf_counter() - w0) * 1000 / reps
    gpu_ms = start.elapsed_time(end) / reps if cuda else wall_ms
    return {"size": size, "batch": batch, "ms_per_forward": round(gpu_ms, 3), "ms_per_slice": round(gpu_ms / batch, 4), "wall_ms_per_forward": round(wall_ms, 3)}


def volume_pass(model, dev, steps, slices, batch, host_steps):
    """The engine's pass: 120×120 slices padded to 128², DDIM η=0, clip. host_steps: copy the model
    output to the host and x back each step, as the engine's CPU-side scheduler does."""
    ac = alphas_cumprod(betas_for("linear", 1000))
    ts = trailing_timesteps(steps, 999)
    sync(dev)
    w0 = time.perf_counter()
    with torch.inference_mode():
        for s0 in range(0, slices, batch):
            n = min(batch, slices - s0)
            x = torch.randn(n, 1, 128, 128, device=dev)
            for i, t in enumerate(ts):
                tp = ts[i + 1] if i + 1 < len(ts) else -1
                eps = model(x, torch.full((n,), float(t), device=dev))
                if host_steps:
                    x = ddim_step(ac, eps.cpu(), t, tp, x.cpu(), "epsilon", True, None, 0.0).float().to(dev)
                else:
                    x = ddim_step(ac, eps, t, tp, x, "epsilon", True, None, 0.0).float()
            x.cpu()
    sync(dev)
    return {"steps": steps, "volume": [120, 120, slices], "batch": batch, "scheduler_on": "host" if host_steps else "gpu", "seconds": round(time.perf_counter() - w0, 3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--card", default=os.path.join(ROOT, "models/brain-t1.json"))
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--budget-s", type=float, default=480)
    ap.add_argument("--reps", type=int, default=20)
    # checks the script itself on a machine with no GPU: tiny sizes on the CPU, figures meaningless
    ap.add_argument("--dry-run-cpu", action="store_true")
    a = ap.parse_args()
    t_start = time.perf_counter()
    left = lambda: a.budget_s - (time.perf_counter() - t_start)
    card = json.load(open(a.card))
    onnx_path = os.path.join(os.path.dirname(os.path.abspath(a.card)), card["file"])
    if not torch.cuda.is_available() and not a.dry_run_cpu:
        raise SystemExit("no CUDA device visible to PyTorch")
    dev = torch.device("cpu" if a.dry_run_cpu else "cuda")
    sizes, batches, slices = ((16,), (1, 2), 4) if a.dry_run_cpu else ((128, 256), (1, 8, 32), 90)
    res = {"model": card["name"], "sha256": card["sha256"], "torch": torch.__version__, "cuda": torch.version.cuda,
           "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else "none (--dry-run-cpu)", "cudnn": torch.backends.cudnn.version()}
    torch.backends.cudnn.benchmark = True
    # strict fp32 first: the numbers the engine's float32 graph gives
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = load_unet(card, onnx_path).to(dev)
    res["parity_fp32"] = parity(model, onnx_path, dev)
    res["forward"] = []
    res["volume"] = []
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        mode = "tf32" if tf32 else "fp32"
        if tf32:
            res["parity_tf32"] = parity(model, onnx_path, dev)
        for size in sizes:
            for batch in batches:
                if left() < 60:
                    break
                res["forward"].append({"precision": mode, **time_forward(model, dev, size, batch, a.reps)})
                print(json.dumps(res["forward"][-1]), file=sys.stderr, flush=True)
        for batch, host in ((8, True), (8, False), (slices, False)):
            if left() < 60:
                break
            res["volume"].append({"precision": mode, **volume_pass(model, dev, 10, slices, batch, host)})
            print(json.dumps(res["volume"][-1]), file=sys.stderr, flush=True)
    res["seconds_total"] = round(time.perf_counter() - t_start, 1)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "cuda-measure.json"), "w") as f:
        json.dump(res, f, indent=2)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
