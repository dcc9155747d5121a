"""Reference samplers written from the papers (DDPM, Ho et al. 2020; DDIM, Song et al. 2021;
DPM-Solver++, Lu et al. 2022) and shared/notes/algorithms.md, in float64.

Conventions shared with the engine (src/engine/schedulers):
- timesteps t_0 > ... > t_{n-1}; the step from t_i goes to t_{i+1}, the last to t = -1 where ᾱ = 1.
- x̂₀ is optionally clipped to [-1, 1]; ε̂ is then recomputed from the clipped x̂₀.
- DPM-Solver++(2M): first-order on the first step and on the final step (to ᾱ = 1).
"""
import math

import torch


def abar_at(ac: torch.Tensor, t: int) -> float:
    return 1.0 if t < 0 else float(ac[t])


def to_x0_eps(pred: str, out, x, a: float, s: float, clip: bool):
    if pred == "epsilon":
        x0 = (x - s * out) / a
        eps = out
    elif pred == "v":
        x0 = a * x - s * out
        eps = s * x + a * out
    elif pred == "x0":
        x0 = out
        eps = (x - a * out) / s
    else:
        raise ValueError(pred)
    if clip:
        x0 = x0.clamp(-1.0, 1.0)
        eps = (x - a * x0) / s
    return x0, eps


def ddpm_step(ac, out, t, tp, x, pred, clip, noise):
    ab, abp = abar_at(ac, t), abar_at(ac, tp)
    x0, _ = to_x0_eps(pred, out, x, math.sqrt(ab), math.sqrt(1 - ab), clip)
    beta = 1 - ab / abp  # effective beta over a (possibly skipped) interval
    mean = (math.sqrt(abp) * beta / (1 - ab)) * x0 + (math.sqrt(1 - beta) * (1 - abp) / (1 - ab)) * x
    if tp < 0:
        return mean
    var = max(beta * (1 - abp) / (1 - ab), 1e-20)
    return mean + math.sqrt(var) * noise


def ddim_step(ac, out, t, tp, x, pred, clip, noise, eta):
    ab, abp = abar_at(ac, t), abar_at(ac, tp)
    a, s, ap, sp = math.sqrt(ab), math.sqrt(1 - ab), math.sqrt(abp), math.sqrt(1 - abp)
    x0, eps = to_x0_eps(pred, out, x, a, s, clip)
    sig = eta * math.sqrt((sp * sp) / (s * s) * (1 - ab / abp))
    res = ap * x0 + math.sqrt(max(sp * sp - sig * sig, 0.0)) * eps
    if sig > 0:
        res = res + sig * noise
    return res


class DPMpp2M:
    def __init__(self, ac):
        self.ac = ac
        self.prev_x0 = None
        self.prev_h = None

    def step(self, out, t, tp, x, pred, clip):
        ab, abp = abar_at(self.ac, t), abar_at(self.ac, tp)
        a, s, ap, sp = math.sqrt(ab), math.sqrt(1 - ab), math.sqrt(abp), math.sqrt(1 - abp)
        x0, _ = to_x0_eps(pred, out, x, a, s, clip)
        if tp < 0:
            res = x0  # σ' = 0: the first-order update lands exactly on x̂₀
            h = None
        else:
            lam, lamp = math.log(a / s), math.log(ap / sp)
            h = lamp - lam
            if self.prev_x0 is None:
                D = x0
            else:
                r = self.prev_h / h
                D = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * self.prev_x0
            res = (sp / s) * x - ap * (math.exp(-h) - 1) * D
        self.prev_x0, self.prev_h = x0, h
        return res


def sample(kind, ac, timesteps, x, model, pred="epsilon", clip=False, eta=0.0, noises=None):
    """Runs the reverse process over `timesteps`; model(x, t) -> output. Returns the trajectory."""
    traj = []
    dpm = DPMpp2M(ac) if kind == "dpmpp2m" else None
    for i, t in enumerate(timesteps):
        tp = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        out = model(x, t)
        z = noises[i] if noises is not None else None
        if kind == "ddpm":
            x = ddpm_step(ac, out, t, tp, x, pred, clip, z)
        elif kind == "ddim":
            x = ddim_step(ac, out, t, tp, x, pred, clip, z, eta)
        elif kind == "dpmpp2m":
            x = dpm.step(out, t, tp, x, pred, clip)
        else:
            raise ValueError(kind)
        traj.append(x)
    return traj
