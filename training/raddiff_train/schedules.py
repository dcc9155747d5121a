"""Noise schedules as diffusers defines them (DDPMScheduler.__init__), computed in float64.

diffusers builds betas in float32; we keep float64 so that the TypeScript engine (which works in
float64 for coefficients) and this reference agree to ~1e-15, not ~1e-7.
"""
import math

import torch


def betas_for(kind: str, T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    if kind == "scaled-linear":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=torch.float64) ** 2
    if kind == "cosine":
        # diffusers "squaredcos_cap_v2" (Nichol & Dhariwal 2021, s = 0.008, max_beta = 0.999)
        def alpha_bar(u: float) -> float:
            return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

        return torch.tensor(
            [min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999) for i in range(T)],
            dtype=torch.float64,
        )
    raise ValueError(f"unknown schedule {kind}")


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    return torch.cumprod(1.0 - betas, dim=0)


def trailing_timesteps(n: int, start: int) -> list:
    """n timesteps evenly spaced from `start` down towards 0 ("trailing" spacing).

    t_i = floor((start+1)(n-i)/n + 0.5) - 1: one integer product and one division, and an explicit
    round-half-up, so every language gets the same integers.
    """
    if n < 1 or n > start + 1:
        raise ValueError("need 1 <= n <= start+1")
    return [math.floor((start + 1) * (n - i) / n + 0.5) - 1 for i in range(n)]
