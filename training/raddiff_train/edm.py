"""EDM preconditioning (Karras et al. 2022) tied to the engine's VP timestep contract, and 2.5D inputs.

Why EDM: the tasks run at low noise (denoising 3–10 % noise ≈ σ 0.06–0.2 on data in [−1, 1];
range–null-space super-resolution near t ≈ 10), where an ε-model trained with uniform t sees ~4 % of
its samples and its x̂₀ = (x_t − σ ε̂)/α barely leaves x_t. EDM predicts the clean image directly
through D(x; σ) = c_skip x + c_out F(c_in x, c_noise) and draws ln σ from a normal centred on the
levels the tasks use (../shared/notes/algorithms.md, "Training for the noise levels the tasks use").

Timestep link (so the engine's VP schedulers run the model unchanged, card `prediction: "x0"`):
σ(t) = √((1 − ᾱ_t)/ᾱ_t) for the card's schedule, ᾱ interpolated linearly between integer t, so t is
continuous in [0, T−1]. The network's noise input c_noise IS that continuous t (the same embedding
the ε-models used, which is what lets a new model warm-start from shipped weights). The ONNX graph
takes x_VP = √ᾱ_t · x_VE and t, and returns D(x_VE; σ(t)) — an x̂₀.

2.5D: the input holds 2k+1 neighbouring slices (all at the same σ, independent noise per slice, as a
noisy scan has), the output is the centre slice only.
"""
import math

import torch
import torch.nn as nn

from .schedules import alphas_cumprod, betas_for

SIGMA_DATA = 0.5


def abar_table(schedule: dict, one_minus: bool = False) -> torch.Tensor:
    """ᾱ (or 1 − ᾱ, computed in float64 before rounding: near t = 0 it is ~1e-4 and float32 1 − ᾱ
    would lose three digits)."""
    ab = alphas_cumprod(betas_for(schedule["type"], schedule["T"], schedule["beta_start"], schedule["beta_end"]))
    return (1 - ab).float() if one_minus else ab.float()


def abar_at(table: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """ᾱ at continuous t ∈ [0, T−1], linear between integer steps (Gather + lerp in ONNX)."""
    T = table.shape[0]
    t = t.clamp(0, T - 1)
    i0 = torch.floor(t).clamp(max=T - 2)
    f = t - i0
    i0 = i0.long()
    return table[i0] * (1 - f) + table[i0 + 1] * f


class SigmaMap:
    """σ ↔ continuous t for one schedule (training side: σ drawn first, t found by inversion)."""

    def __init__(self, schedule: dict):
        self.abar = abar_table(schedule)
        self.one_minus = abar_table(schedule, True)
        self.sigma = (self.one_minus / self.abar).sqrt()  # increasing in t
        self.log_sigma = self.sigma.log()
        self.T = schedule["T"]

    @property
    def sigma_min(self):
        return float(self.sigma[0])

    @property
    def sigma_max(self):
        return float(self.sigma[-1])

    def t_of_sigma(self, sigma: torch.Tensor) -> torch.Tensor:
        """Inverse of σ(t) with ᾱ linear between steps: bracket in log σ, then solve exactly for the
        fraction (ᾱ = 1/(1+σ²) is linear in f)."""
        s = sigma.clamp(self.sigma_min, self.sigma_max)
        i = torch.searchsorted(self.sigma, s, right=True).clamp(1, self.T - 1) - 1
        a_target = 1.0 / (1.0 + s * s)
        a0, a1 = self.abar[i], self.abar[i + 1]
        f = ((a0 - a_target) / (a0 - a1)).clamp(0, 1)
        return i.float() + f

    def sigma_of_t(self, t: torch.Tensor) -> torch.Tensor:
        return (abar_at(self.one_minus, t) / abar_at(self.abar, t)).sqrt()


class EDM(nn.Module):
    """D(x_VE; σ) around a UNet F whose input is 2k+1 slices and whose output is the centre slice.
    forward_vp(x_VP, t) is the exported contract."""

    def __init__(self, net: nn.Module, schedule: dict, context: int = 1, sigma_data: float = SIGMA_DATA):
        super().__init__()
        self.net, self.context, self.sigma_data = net, context, sigma_data
        self.register_buffer("abar", abar_table(schedule))
        self.register_buffer("one_minus_abar", abar_table(schedule, True))
        self.config = dict(net.config, context_slices=context, sigma_data=sigma_data)

    def denoise(self, x_ve: torch.Tensor, sigma: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        sd = self.sigma_data
        s = sigma[:, None, None, None]
        c_skip = sd * sd / (s * s + sd * sd)
        c_out = s * sd / (s * s + sd * sd).sqrt()
        c_in = 1.0 / (s * s + sd * sd).sqrt()
        F = self.net(c_in * x_ve, t, cond)
        centre = x_ve[:, self.context:self.context + 1]
        return c_skip * centre + c_out * F

    def forward(self, x_vp: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        a = abar_at(self.abar, t)
        sigma = (abar_at(self.one_minus_abar, t) / a).sqrt()
        return self.denoise(x_vp / a.sqrt()[:, None, None, None], sigma, t, cond)


class VPred(EDM):
    """The alternative issue 13 asked to compare: v-prediction (Salimans & Ho 2022) on the VP input,
    x̂0 = √ᾱ x_VP − √(1 − ᾱ) v̂, with the same UNet, 2.5D input and exported contract (x_VP, t -> x̂0),
    so the engine runs either unchanged. Trained with min-SNR-γ weighting (Hang et al. 2023): the
    v-loss weighted min(SNR, γ)/(SNR + 1) equals min(SNR, γ) times the x̂0 squared error, which is
    how fit_edm computes it (`vpred_loss_weight`)."""

    def denoise(self, x_ve, sigma, t, cond=None):
        s = sigma[:, None, None, None]
        a = 1.0 / (1.0 + s * s)
        x_vp = a.sqrt() * x_ve
        v = self.net(x_vp, t, cond)
        centre = x_vp[:, self.context:self.context + 1]
        return a.sqrt() * centre - (1.0 - a).sqrt() * v


def loss_weight(sigma: torch.Tensor, sigma_data: float = SIGMA_DATA) -> torch.Tensor:
    return (sigma * sigma + sigma_data ** 2) / (sigma * sigma_data) ** 2


def vpred_loss_weight(sigma: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    """min-SNR-γ on the x̂0 error (SNR = 1/σ² in VE terms): flat at γ below σ = 1/√γ, where EDM's λ(σ)
    keeps growing as 1/σ²."""
    return (1.0 / (sigma * sigma)).clamp(max=gamma)


def sample_sigma(n: int, smap: SigmaMap, g: torch.Generator, p_mean: float, p_std: float,
                 uniform_frac: float, focus_frac: float = 0.0, focus_range: tuple | None = None) -> torch.Tensor:
    """ln σ ~ N(p_mean, p_std²) for most of the batch (the restoration range), and t uniform over
    [0, T−1] for `uniform_frac` of it, so sampling from pure noise (anomaly healing, translation)
    still works. `focus_frac` of the batch (drawn before the uniform-t part) takes ln σ uniform over
    `focus_range`, the levels the task's default call runs at."""
    ln = torch.randn(n, generator=g) * p_std + p_mean
    if focus_frac > 0:
        lo, hi = math.log(focus_range[0]), math.log(focus_range[1])
        f = torch.rand(n, generator=g) < focus_frac
        ln = torch.where(f, lo + (hi - lo) * torch.rand(n, generator=g), ln)
    sigma = ln.exp().clamp(smap.sigma_min, smap.sigma_max)
    u = torch.rand(n, generator=g) < uniform_frac
    tu = torch.rand(n, generator=g) * (smap.T - 1)
    return torch.where(u, smap.sigma_of_t(tu), sigma)


def widen_input(net: nn.Module, state: dict, in_ch: int, centre: int) -> dict:
    """Warm start from a 1-channel model: its input conv weights go to the centre channel, the
    neighbours start at zero, so the new net begins as the old one."""
    w = state["inp.weight"]
    if w.shape[1] == in_ch:
        return state
    new = torch.zeros(w.shape[0], in_ch, *w.shape[2:])
    x_ch = net.config["in_ch"]
    if w.shape[1] == x_ch and in_ch > x_ch:
        # a conditioned model from an unconditioned prior: the image channels keep their weights and
        # each cond channel (an image estimate of the same slices) starts as a copy of them
        new[:, :x_ch] = w
        for c in range(x_ch, in_ch):
            new[:, c] = w[:, (c - x_ch) % x_ch]
        return dict(state, **{"inp.weight": new})
    cond_ch = net.config.get("cond_ch", 0)
    if w.shape[1] == 2 and cond_ch and in_ch == x_ch + cond_ch:
        # a 2D conditional model (one image + one cond channel) to 2.5D: each goes to its centre channel
        new[:, x_ch // 2] = w[:, 0]
        new[:, x_ch + cond_ch // 2] = w[:, 1]
        return dict(state, **{"inp.weight": new})
    if not cond_ch and w.shape[1] % 2 == 1 and w.shape[1] < in_ch:
        # a 2.5D model to a wider context (±k -> ±k'): its slices keep their weights, centred; the
        # outer neighbours start at zero
        off = (in_ch - w.shape[1]) // 2
        new[:, off:off + w.shape[1]] = w
        return dict(state, **{"inp.weight": new})
    new[:, centre:centre + 1] = w[:, :1]
    out = dict(state)
    out["inp.weight"] = new
    return out


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 2.0) -> float:
    mse = float((a - b).pow(2).mean())
    return 10 * math.log10(peak * peak / max(mse, 1e-12))
