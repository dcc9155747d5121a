"""The training loop: ε- (or v-) prediction MSE with uniform t, AdamW, EMA weights, atomic
checkpoints with resume, deterministic seeds, periodic validation loss on held-out subjects."""
import copy
import os
import time

import torch

from .data import SliceSet, augment, random_crop
from .run_dir import checkpoint_path, resume_step, save_checkpoint
from .schedules import alphas_cumprod, betas_for


class Diffusion:
    """Forward-process coefficients (float64 schedule, used in float32 on the device)."""

    def __init__(self, schedule: dict, device):
        ab = alphas_cumprod(betas_for(schedule["type"], schedule["T"], schedule["beta_start"], schedule["beta_end"]))
        self.T = schedule["T"]
        self.a = ab.sqrt().float().to(device)
        self.s = (1 - ab).sqrt().float().to(device)

    def q(self, x0, t, eps):
        a, s = self.a[t][:, None, None, None], self.s[t][:, None, None, None]
        return a * x0 + s * eps, a, s

    @staticmethod
    def target(prediction: str, x0, eps, a, s):
        return eps if prediction == "epsilon" else a * eps - s * x0

    @staticmethod
    def x0_hat(prediction: str, xt, out, a, s):
        x0 = (xt - s * out) / a if prediction == "epsilon" else a * xt - s * out
        return x0.clamp(-1, 1)


def weighted_mse(pred, target, w=None):
    if w is None:
        return (pred - target).pow(2).mean()
    return ((pred - target).pow(2) * w).sum() / w.sum().clamp_min(1.0)


def sample_batch(ds: SliceSet, batch: int, size: int, g: torch.Generator):
    idx = torch.randint(len(ds), (batch,), generator=g)
    xs, cs, ws = [], [], []
    for i in idx.tolist():
        x, c, w = random_crop([ds.x[i], ds.cond[i] if ds.cond is not None else None,
                               ds.weight[i] if ds.weight is not None else None], size, g)
        xs.append(x), cs.append(c), ws.append(w)
    stack = lambda v: torch.stack(v) if v[0] is not None else None
    return stack(xs), stack(cs), stack(ws)


@torch.no_grad()
def val_loss(model, ds: SliceSet, diff: Diffusion, prediction: str, device, batch=8, max_slices=64, seed=1234):
    """Fixed noise and t per slice (seeded), so successive evaluations are comparable."""
    g = torch.Generator().manual_seed(seed)
    n = min(len(ds), max_slices)
    pick = torch.linspace(0, len(ds) - 1, n).round().long()
    total, count = 0.0, 0
    model.eval()
    for b in range(0, n, batch):
        i = pick[b:b + batch]
        x0 = ds.x[i]
        eps = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, diff.T, (len(i),), generator=g)
        x0, eps, t = x0.to(device), eps.to(device), t.to(device)
        xt, a, s = diff.q(x0, t, eps)
        out = model(xt, t.float(), ds.cond[i].to(device) if ds.cond is not None else None)
        w = ds.weight[i].to(device) if ds.weight is not None else None
        total += weighted_mse(out, diff.target(prediction, x0, eps, a, s), w).item() * len(i)
        count += len(i)
    model.train()
    return total / max(count, 1)


def fit(model, train_set: SliceSet, val_set: SliceSet, r: dict, *, steps: int, work: str, device,
        seed: int = 0, resume: str | None = None, log=print, val_every: int = 250, ckpt_every: int = 250,
        log_every: int = 25, ema_decay: float = 0.999):
    """Trains in place and returns the EMA model. Checkpoints go to work/ckpt.pt."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=r["lr"], weight_decay=0.0)
    diff = Diffusion(r["schedule"], device)
    prediction = r.get("prediction", "epsilon")
    start = 0
    if resume:
        st = torch.load(resume, map_location="cpu")  # RNG states must stay CPU tensors
        model.load_state_dict(st["model"]), ema.load_state_dict(st["ema"]), opt.load_state_dict(st["opt"])
        g.set_state(st["gen"]), torch.set_rng_state(st["torch_rng"])
        start = resume_step(st, steps, resume)
        log(f"resumed from {resume} at step {start}")
    os.makedirs(work, exist_ok=True)
    ckpt = checkpoint_path(work)

    def save(step):
        save_checkpoint(ckpt, {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                               "gen": g.get_state(), "torch_rng": torch.get_rng_state(), "step": step,
                               "recipe": r["name"], "config": model.config})

    warm = min(200, max(1, steps // 20))
    t0, run_loss, run_n = time.time(), 0.0, 0
    for step in range(start, steps):
        for pg in opt.param_groups:
            pg["lr"] = r["lr"] * min(1.0, (step + 1) / warm)
        x0, cond, w = sample_batch(train_set, r["batch"], r["size"], g)
        x0, cond, w = augment(x0, cond, w, g, flip_axes=r.get("flip_axes", (3,)))
        eps = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, diff.T, (x0.shape[0],), generator=g)
        x0, eps, t = x0.to(device), eps.to(device), t.to(device)
        cond = cond.to(device) if cond is not None else None
        w = w.to(device) if w is not None else None
        xt, a, s = diff.q(x0, t, eps)
        loss = weighted_mse(model(xt, t.float(), cond), diff.target(prediction, x0, eps, a, s), w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(ema_decay, (1 + step) / (10 + step))  # warm-up so short runs still have a usable EMA
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - d)
        run_loss, run_n = run_loss + loss.item(), run_n + 1
        done = step + 1
        if done % log_every == 0 or done == steps:
            dt = time.time() - t0
            log(f"step {done}/{steps} loss {run_loss / run_n:.5f} {run_n / dt:.3f} it/s")
            t0, run_loss, run_n = time.time(), 0.0, 0
        if val_set is not None and len(val_set) and (done % val_every == 0 or done == steps):
            log(f"step {done} val_loss(ema) {val_loss(ema, val_set, diff, prediction, device):.5f}")
            t0 = time.time()
        if done % ckpt_every == 0 or done == steps:
            save(done)
    if start >= steps:
        log(f"checkpoint already at step {start} >= {steps}: nothing to train")
    return ema
