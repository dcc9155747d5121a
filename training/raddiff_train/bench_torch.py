"""PyTorch side of `npm run bench:engine` (bench/engine.ts).

  bench_torch.py export DIR               default UNet (seed 0, random weights) → DIR/bench.onnx + card
  bench_torch.py serve THREADS            the same weights in PyTorch eager, driven by JSON lines on stdin

`serve` exists so the bench can interleave PyTorch and ONNX Runtime forward by forward: on a shared,
loaded machine the load changes on a scale of seconds, and only paired measurements taken in the
same moments give a ratio that means something. Commands (one JSON object per line, one reply each):
  {"op": "fwd", "size": S, "batch": B}          one timed forward (after a first untimed one per shape)
  {"op": "vol", "steps": N, "slices": S, "batch": B}   starts the reference DDIM volume pass
  {"op": "vol_next"}                            runs its next forward + DDIM step
Timed replies give wall seconds `s` and process CPU seconds `cpu` (all threads).
  {"op": "quit"}

Fairness: inference_mode, the same thread count as ONNX Runtime (torch.set_num_threads), a warm-up
forward per shape, the same batches and steps as the engine. Whoever starts this should also set
OMP_WAIT_POLICY=PASSIVE, the OpenMP counterpart of the engine's "no spinning" ORT setting (libgomp's
spinning waits otherwise make 2-thread PyTorch 5-20× slower on a loaded machine).
"""
import json
import os
import sys
import time

import torch

from .export import export_onnx, write_card
from .samplers import ddim_step
from .schedules import alphas_cumprod, betas_for, trailing_timesteps
from .unet import UNet, default_unet


def build() -> UNet:
    torch.manual_seed(0)
    return default_unet().eval()


def flops(model: UNet, h: int, w: int) -> float:
    """Multiply-adds ×2 of convolutions, linears and attention matmuls for one [1,1,h,w] forward."""
    total = [0.0]

    def conv(m, i, o):
        total[0] += 2.0 * o.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def lin(m, i, o):
        total[0] += 2.0 * o.numel() * m.in_features

    hooks = [m.register_forward_hook(conv) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    hooks += [m.register_forward_hook(lin) for m in model.modules() if isinstance(m, torch.nn.Linear)]

    def attn(m, i, o):
        b, c, hh, ww = o.shape
        total[0] += 2.0 * 2 * b * (hh * ww) ** 2 * c

    from .unet import Attention
    hooks += [m.register_forward_hook(attn) for m in model.modules() if isinstance(m, Attention)]
    with torch.no_grad():
        model(torch.zeros(1, 1, h, w), torch.zeros(1))
    for hk in hooks:
        hk.remove()
    return total[0]


def volume_pass(model: UNet, steps: int, slices: int, batch: int):
    """The engine's pass: axial 120×120 slices padded to 128², batches of `batch`, DDIM η=0.
    Yields after each forward + step, so a driver can interleave it with the engine."""
    ac = alphas_cumprod(betas_for("linear", 1000))
    ts = trailing_timesteps(steps, 999)
    for s0 in range(0, slices, batch):
        n = min(batch, slices - s0)
        x = torch.randn(n, 1, 128, 128)
        for i, t in enumerate(ts):
            tp = ts[i + 1] if i + 1 < len(ts) else -1
            eps = model(x, torch.full((n,), float(t)))
            x = ddim_step(ac, eps, t, tp, x, "epsilon", True, None, 0.0).float()
            yield


def serve(threads: int) -> None:
    torch.set_num_threads(threads)
    model = build()
    warm, vol = set(), None
    reply = lambda o: (sys.stdout.write(json.dumps(o) + "\n"), sys.stdout.flush())
    reply({"threads": torch.get_num_threads(), "wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"), "torch": torch.__version__})
    with torch.inference_mode():
        for line in sys.stdin:
            cmd = json.loads(line)
            op = cmd["op"]
            if op == "fwd":
                b, s = cmd["batch"], cmd["size"]
                x, t = torch.randn(b, 1, s, s), torch.full((b,), 500.0)
                if (b, s) not in warm:
                    model(x, t)
                    warm.add((b, s))
                t0, c0 = time.perf_counter(), time.process_time()
                model(x, t)
                reply({"s": time.perf_counter() - t0, "cpu": time.process_time() - c0})
            elif op == "vol":
                model(torch.randn(cmd["batch"], 1, 128, 128), torch.full((cmd["batch"],), 500.0))
                vol = volume_pass(model, cmd["steps"], cmd["slices"], cmd["batch"])
                reply({"ok": True})
            elif op == "vol_next":
                t0, c0 = time.perf_counter(), time.process_time()
                done = next(vol, "done") == "done"
                reply({"s": time.perf_counter() - t0, "cpu": time.process_time() - c0, "done": done})
            elif op == "quit":
                return


def main():
    mode = sys.argv[1]
    if mode == "export":
        out = sys.argv[2]
        model = build()
        path = os.path.join(out, "bench.onnx")
        export_onnx(model, path, size=64)
        write_card(model, path, name="bench-unet", tasks=["bench"], tile_size=256,
                   training_data="none: random weights for timing", metrics={})
        print(json.dumps({"flops128": flops(model, 128, 128), "flops256": flops(model, 256, 256),
                          "parameters": sum(p.numel() for p in model.parameters())}))
        return
    if mode == "serve":
        serve(int(sys.argv[2]))
        return
    raise SystemExit(f"unknown mode {mode!r}: export | serve")


if __name__ == "__main__":
    main()
