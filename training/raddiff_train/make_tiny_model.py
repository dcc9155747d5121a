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


def build_edm25(steps: int = 150) -> torch.nn.Module:
    """2.5D EDM variant (edm.py): 3 neighbouring slices in (±1), the centre slice's x̂0 out, t
    continuous. Trained briefly on stacks of three blob images that share their blobs, so the
    neighbours carry information about the centre."""
    from .edm import EDM, SigmaMap, loss_weight, sample_sigma

    torch.manual_seed(2)
    torch.set_num_threads(1)
    sched = {"type": "linear", "T": 1000, "beta_start": 1e-4, "beta_end": 0.02}
    m = EDM(tiny_unet(in_ch=3), sched, context=1)
    smap = SigmaMap(sched)
    g = torch.Generator().manual_seed(2)
    opt = torch.optim.Adam(m.net.parameters(), lr=3e-3)
    for _ in range(steps):
        base = blobs(g, 32)
        x0 = torch.cat([(base * (0.9 + 0.2 * torch.rand(32, 1, 1, 1, generator=g))).clamp(-1, 1) for _ in range(3)], 1)
        sigma = sample_sigma(32, smap, g, -1.8, 1.4, 0.15)
        noisy = x0 + sigma[:, None, None, None] * torch.randn(x0.shape, generator=g)
        d = m.denoise(noisy, sigma, smap.t_of_sigma(sigma))
        loss = (loss_weight(sigma) * ((d - x0[:, 1:2]) ** 2).flatten(1).mean(1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def main_edm25(out_dir: str = os.path.join(ROOT, "fixtures", "models"),
               ref: str = os.path.join(ROOT, "tests", "reference", "engine-context.json")) -> None:
    """fixtures/models/tiny-edm25.onnx + card, and a PyTorch reference for the engine's 2.5D path:
    a 12x20x7 volume (x fastest), evaluated slice by slice along axis 2 (axial on an identity
    grid) at two timesteps, neighbours reflected (no edge repeat) at the ends."""
    import json

    from .export import sha256_file
    from .run_edm import export_edm

    os.makedirs(out_dir, exist_ok=True)
    m = build_edm25()
    path = os.path.join(out_dir, "tiny-edm25.onnx")
    export_edm(m, path, size=16)
    cfg = m.net.config
    card = {"name": "tiny-edm25", "version": "0.0.1", "tasks": ["test"], "modality": "MR", "contrast": "T1",
            "prediction": "x0", "objective": {"kind": "edm", "sigma_data": 0.5},
            "schedule": {"type": "linear", "T": 1000, "beta_start": 1e-4, "beta_end": 0.02},
            "normalisation": {"kind": "percentile", "params": {"low": 0.5, "high": 99.5}}, "plane": "axial",
            "size_multiple": 2, "tile_size": 32, "channels": 1, "context_slices": 1, "cond_channels": 0,
            "timestep_input": "float32", "clip_sample": True, "architecture": cfg,
            "training_data": "150 Adam steps on synthetic 16x16 blob stacks (seed 2); for engine tests only",
            "metrics": {}, "licence": "Apache-2.0", "file": "tiny-edm25.onnx", "sha256": sha256_file(path)}
    with open(os.path.join(out_dir, "tiny-edm25.json"), "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    g = torch.Generator().manual_seed(3)
    nx, ny, nz = 12, 20, 7
    vol = (blobs(g, 1, 20)[0, 0, :ny, :nx][None].repeat(nz, 1, 1) * torch.linspace(0.6, 1.0, nz)[:, None, None]
           + 0.05 * torch.randn(nz, ny, nx, generator=g)).clamp(-1, 1)  # [z, y, x]
    refl = lambda i: -i if i < 0 else 2 * (nz - 1) - i if i >= nz else i
    out = {}
    with torch.no_grad():
        for t in (3.5, 40.0):
            x = torch.stack([torch.stack([vol[refl(k + c)] for c in (-1, 0, 1)]) for k in range(nz)])  # [nz, 3, ny, nx]
            out[str(t)] = m(x, torch.full((nz,), t))[:, 0].reshape(-1).tolist()
    from .edm import SigmaMap
    smap = SigmaMap(card["schedule"])
    sig = torch.tensor([0.012, 0.05, 0.1, 0.2, 1.0, 10.0], dtype=torch.float32)
    with open(ref, "w") as f:
        json.dump({"size": [nx, ny, nz], "x": vol.reshape(-1).tolist(), "out": out,
                   "t_of_sigma": [[float(a), float(b)] for a, b in zip(sig, smap.t_of_sigma(sig))],
                   "note": "x is the state x_t (already in normalised units), out the model's x0 per axial slice; "
                           "made by training/raddiff_train/make_tiny_model.py edm25 (PyTorch)"}, f)
    print(path, os.path.getsize(path), ref)


if __name__ == "__main__":
    if sys.argv[1:2] == ["edm25"]:
        main_edm25(*sys.argv[2:])
    elif sys.argv[1:2] == ["cond"]:
        main_cond(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
