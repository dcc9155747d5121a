"""Exports the engine's test model: a tiny UNet (seed 0, ~45k parameters) trained for a few hundred
steps of ε-prediction on synthetic blobs, so that its samples stay in range and the end-to-end
tests compare meaningful numbers (random weights make x̂₀ explode to ±1000 or saturate the clip).
Writes fixtures/models/tiny-eps.onnx and its card. Run: /usr/bin/python3 -m raddiff_train.make_tiny_model
"""
import os
import sys

import torch

from .export import export_onnx, write_card
from .schedules import alphas_cumprod, betas_for
from .unet import tiny_unet

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def blobs(g: torch.Generator, n: int, size: int = 16) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    img = torch.zeros(n, 1, size, size)
    for _ in range(3):
        c = torch.rand(n, 2, generator=g) * size
        r = 1.5 + 3 * torch.rand(n, generator=g)
        a = torch.rand(n, generator=g) * 2 - 0.5
        d2 = (yy[None] - c[:, 0, None, None]) ** 2 + (xx[None] - c[:, 1, None, None]) ** 2
        img[:, 0] += a[:, None, None] * torch.exp(-d2 / (2 * r[:, None, None] ** 2))
    return img.clamp(-1, 1)


def build(steps: int = 400) -> torch.nn.Module:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    m = tiny_unet()
    g = torch.Generator().manual_seed(0)
    ac = alphas_cumprod(betas_for("linear", 1000)).float()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(steps):
        x0 = blobs(g, 32)
        t = torch.randint(0, 1000, (32,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        a = ac[t].sqrt()[:, None, None, None]
        xt = a * x0 + (1 - a * a).sqrt() * eps
        loss = ((m(xt, t.float()) - eps) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def main(out_dir: str = os.path.join(ROOT, "fixtures", "models")) -> None:
    os.makedirs(out_dir, exist_ok=True)
    m = build()
    path = os.path.join(out_dir, "tiny-eps.onnx")
    export_onnx(m, path, size=16)
    write_card(m, path, name="tiny-eps", version="0.0.1", tasks=["test"], contrast="T1",
               tile_size=32, training_data="400 Adam steps on synthetic 16x16 Gaussian blobs (seed 0); for engine tests only",
               metrics={})
    print(path, os.path.getsize(path))


def build_cond(steps: int = 200) -> torch.nn.Module:
    """Conditional variant for the translate pipeline's tests: learns x0 = −cond (an inverted copy
    of the conditioning blobs), so its output visibly depends on `cond`."""
    torch.manual_seed(1)
    torch.set_num_threads(1)
    m = tiny_unet(cond_ch=1)
    g = torch.Generator().manual_seed(1)
    ac = alphas_cumprod(betas_for("linear", 1000)).float()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(steps):
        cond = blobs(g, 32)
        x0 = -cond
        t = torch.randint(0, 1000, (32,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        a = ac[t].sqrt()[:, None, None, None]
        xt = a * x0 + (1 - a * a).sqrt() * eps
        loss = ((m(xt, t.float(), cond) - eps) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def main_cond(out_dir: str = os.path.join(ROOT, "fixtures", "models")) -> None:
    """fixtures/models/tiny-cond.onnx + card (tasks ["translate"], CT window −1024…2048 HU)."""
    os.makedirs(out_dir, exist_ok=True)
    m = build_cond()
    path = os.path.join(out_dir, "tiny-cond.onnx")
    export_onnx(m, path, size=16)
    write_card(m, path, name="tiny-cond", version="0.0.1", tasks=["translate"], modality="CT", contrast=None,
               normalisation={"kind": "ct-window", "params": {"low": -1024, "high": 2048}},
               cond_normalisation={"kind": "percentile", "params": {"low": 0.5, "high": 99.5}},
               limitations=["test model: trained on synthetic blobs, meaningless output"],
               tile_size=32, training_data="200 Adam steps on synthetic 16x16 blobs, target = -cond (seed 1); for pipeline tests only",
               metrics={})
    print(path, os.path.getsize(path))


if __name__ == "__main__":
    if sys.argv[1:2] == ["cond"]:
        main_cond(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
