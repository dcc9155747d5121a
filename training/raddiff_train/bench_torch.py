"""PyTorch side of `npm run bench:engine` (bench/engine.ts).

  bench_torch.py export DIR        default ~3.4M-param UNet (seed 0, random weights) → DIR/bench.onnx + card
  bench_torch.py time DIR STEPS SLICES timings of the same weights in PyTorch eager (JSON on stdout)
"""
import json
import math
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


def timeit(fn, reps):
    fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def main():
    mode, out = sys.argv[1], sys.argv[2]
    model = build()
    if mode == "export":
        path = os.path.join(out, "bench.onnx")
        export_onnx(model, path, size=64)
        write_card(model, path, name="bench-unet", tasks=["bench"], tile_size=256,
                   training_data="none: random weights for timing", metrics={})
        print(json.dumps({"flops128": flops(model, 128, 128), "flops256": flops(model, 256, 256),
                          "parameters": sum(p.numel() for p in model.parameters())}))
        return
    torch.set_num_threads(os.cpu_count())
    vol_steps, slices = int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 90
    res = {"threads": torch.get_num_threads(), "forward_ms": {}}
    with torch.inference_mode():
        for size in (128, 256):
            for b in (1, 8):
                x, t = torch.randn(b, 1, size, size), torch.full((b,), 500.0)
                reps = 5 if size * size * b <= 128 * 128 * 8 else 2
                res["forward_ms"][f"{size}x{b}"] = 1000 * timeit(lambda: model(x, t), reps)
        if vol_steps > 0:
            # the same pass as the engine: axial 120×120 slices padded to 128², batches of 8, DDIM η=0
            ac = alphas_cumprod(betas_for("linear", 1000))
            ts = trailing_timesteps(vol_steps, 999)
            t0 = time.perf_counter()
            for s0 in range(0, slices, 8):
                n = min(8, slices - s0)
                x = torch.randn(n, 1, 128, 128)
                for i, t in enumerate(ts):
                    tp = ts[i + 1] if i + 1 < len(ts) else -1
                    eps = model(x, torch.full((n,), float(t)))
                    x = ddim_step(ac, eps, t, tp, x, "epsilon", True, None, 0.0).float()
            res["volume_s"] = time.perf_counter() - t0
    print(json.dumps(res))


if __name__ == "__main__":
    main()
