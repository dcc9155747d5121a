"""Held-out metrics for the card and the PNG grid of val slices (clean / noised / restored).

Metric: the one-step x0 estimate (Tweedie posterior mean) from x_t = a x0 + s ε at fixed t, in
normalised units ([-1, 1], so PSNR uses peak-to-peak 2). `input_psnr` is the PSNR of x_t / a, the
noisy image the model starts from, for scale.
"""
import math
import struct
import zlib

import numpy as np
import torch

from .data import SliceSet
from .train import Diffusion

EVAL_T = (50, 100, 250, 500)


def _psnr(mse: float) -> float:
    return 10 * math.log10(4.0 / mse) if mse > 0 else float("inf")


def _pick(ds: SliceSet, n: int) -> torch.Tensor:
    return torch.linspace(0, len(ds) - 1, min(n, len(ds))).round().long()


@torch.no_grad()
def one_step_metrics(model, ds: SliceSet, schedule: dict, prediction: str, device, ts=EVAL_T,
                     max_slices: int = 32, batch: int = 8, seed: int = 7, hu_per_unit: float | None = None) -> dict:
    """hu_per_unit (ct-window models): also report the mean absolute error in HU, whole slice and
    foreground. For conditional models add t = T-1 to ts: x0 from the condition alone."""
    diff = Diffusion(schedule, device)
    model.eval()
    pick = _pick(ds, max_slices)
    out = {}
    for t_val in ts:
        g = torch.Generator().manual_seed(seed + t_val)
        se = sei = sem = nm = ae = aem = 0.0
        n = 0
        for b in range(0, len(pick), batch):
            i = pick[b:b + batch]
            x0 = ds.x[i].to(device)
            eps = torch.randn(x0.shape, generator=g).to(device)
            t = torch.full((len(i),), t_val, device=device)
            xt, a, s = diff.q(x0, t, eps)
            y = model(xt, t.float(), ds.cond[i].to(device) if ds.cond is not None else None)
            x0h = Diffusion.x0_hat(prediction, xt, y, a, s)
            se += (x0h - x0).pow(2).mean(dim=(1, 2, 3)).sum().item()
            ae += (x0h - x0).abs().mean(dim=(1, 2, 3)).sum().item()
            sei += (xt / a - x0).pow(2).mean(dim=(1, 2, 3)).sum().item()
            if ds.fg is not None:
                m = ds.fg[i].to(device)
                sem += ((x0h - x0).pow(2) * m).sum().item()
                aem += ((x0h - x0).abs() * m).sum().item()
                nm += m.sum().item()
            n += len(i)
        mse = se / n
        r = {"mse": round(mse, 6), "psnr": round(_psnr(mse), 3), "input_psnr": round(_psnr(sei / n), 3),
             "noise_sd": round(float(diff.s[t_val] / diff.a[t_val]), 5)}
        if nm > 0:
            r["mse_foreground"] = round(sem / nm, 6)
            r["psnr_foreground"] = round(_psnr(sem / nm), 3)
        if hu_per_unit:
            r["mae_hu"] = round(ae / n * hu_per_unit, 2)
            if nm > 0:
                r["mae_hu_foreground"] = round(aem / nm * hu_per_unit, 2)
        out[f"t{t_val}"] = r
    return {"one_step_x0": out, "val_slices": int(len(pick)), "units": "normalised [-1,1], PSNR peak-to-peak 2"}


def _png(path: str, img: np.ndarray) -> None:
    """8-bit greyscale PNG, no dependency beyond zlib."""
    h, w = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))
    chunk = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


@torch.no_grad()
def grid_png(model, ds: SliceSet, schedule: dict, prediction: str, device, path: str, rows: int = 4,
             ts=(100, 250, 500), seed: int = 3) -> None:
    """Rows: val slices. Columns: [cond,] clean, then noised / restored (one-step x0) per t.
    Each slice is shown with its row axis flipped (voxel row 0 at the bottom), which puts superior
    up for the usual RAS/LPS-stored axial and IXI's P-S-R storage alike."""
    diff = Diffusion(schedule, device)
    model.eval()
    i = torch.linspace(0, len(ds) - 1, rows + 2)[1:-1].round().long()  # skip the end slices
    x0 = ds.x[i].to(device)
    cond = ds.cond[i].to(device) if ds.cond is not None else None
    cols = ([cond[:, :1]] if cond is not None else []) + [x0]
    g = torch.Generator().manual_seed(seed)
    for t_val in ts:
        eps = torch.randn(x0.shape, generator=g).to(device)
        t = torch.full((len(i),), t_val, device=device)
        xt, a, s = diff.q(x0, t, eps)
        cols += [(xt / a).clamp(-1, 1), Diffusion.x0_hat(prediction, xt, model(xt, t.float(), cond), a, s)]
    tiles = torch.cat([torch.cat([c[r, 0].flip(0) for c in cols], dim=1) for r in range(len(i))], dim=0)
    img = ((tiles.cpu().numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8)
    _png(path, img)
