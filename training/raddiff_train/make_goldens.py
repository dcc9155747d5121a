"""Writes the engine's golden values (tests/reference/engine-*.json) from this PyTorch side.

- engine-schedules.json: betas / ᾱ samples per schedule, trailing timesteps.
- engine-samplers.json: trajectories of DDPM / DDIM / DPM-Solver++(2M) driven by an analytic fake
  model out = 0.1·x + 0.01·t/T, with explicit x_T and noise draws (checkable without ORT).
- engine-rng.json: first draws of the engine's seeded RNG, from this independent Python port.
- engine-e2e.json: the tiny fixture model sampled by PyTorch (DDIM η=0, DPM-Solver++(2M), DDPM).
Run: /usr/bin/python3 -m raddiff_train.make_goldens
"""
import json
import math
import os

import numpy as np
import torch

from . import samplers
from .make_tiny_model import ROOT, build
from .schedules import alphas_cumprod, betas_for, trailing_timesteps

REF = os.path.join(ROOT, "tests", "reference")
LINEAR = {"type": "linear", "T": 1000, "beta_start": 1e-4, "beta_end": 0.02}
SCALED = {"type": "scaled-linear", "T": 1000, "beta_start": 0.00085, "beta_end": 0.012}
COSINE = {"type": "cosine", "T": 1000, "beta_start": 1e-4, "beta_end": 0.02}


def ac_for(s):
    return alphas_cumprod(betas_for(s["type"], s["T"], s["beta_start"], s["beta_end"]))


def dump(name, obj):
    with open(os.path.join(REF, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def schedules():
    idx = [0, 1, 2, 10, 100, 250, 499, 500, 750, 900, 998, 999]
    out = {"indices": idx, "schedules": []}
    for s in (LINEAR, SCALED, COSINE, {"type": "linear", "T": 200, "beta_start": 1e-4, "beta_end": 0.02}):
        b = betas_for(s["type"], s["T"], s["beta_start"], s["beta_end"])
        ac = alphas_cumprod(b)
        ii = [i for i in idx if i < s["T"]]
        out["schedules"].append({"schedule": s, "indices": ii, "betas": [float(b[i]) for i in ii],
                                 "alphas_cumprod": [float(ac[i]) for i in ii]})
    out["timesteps"] = [{"n": n, "start": st, "timesteps": trailing_timesteps(n, st)}
                        for n, st in [(10, 999), (20, 999), (50, 999), (7, 999), (10, 250), (3, 2), (1, 999), (12, 499)]]
    return out


def sampler_cases():
    g = np.random.default_rng(1234)
    shape = [1, 1, 4, 4]
    cases = []
    specs = []
    for pred in ("epsilon", "v", "x0"):
        for clip in (False, True):
            specs += [("ddpm", 0.0, pred, clip, LINEAR, 10, 999), ("ddim", 0.0, pred, clip, LINEAR, 10, 999),
                      ("ddim", 0.7, pred, clip, LINEAR, 10, 999), ("dpmpp2m", 0.0, pred, clip, LINEAR, 10, 999)]
    for kind in ("ddpm", "ddim", "dpmpp2m"):
        specs += [(kind, 0.0, "epsilon", False, COSINE, 8, 999), (kind, 0.0, "epsilon", True, SCALED, 8, 999),
                  (kind, 0.0, "epsilon", False, LINEAR, 6, 300)]
    for kind, eta, pred, clip, sched, n, start in specs:
        ac = ac_for(sched)
        T = sched["T"]
        ts = trailing_timesteps(n, start)
        xT = torch.tensor(g.standard_normal(16), dtype=torch.float32).double()
        noises = [torch.tensor(g.standard_normal(16), dtype=torch.float32).double() for _ in ts]
        traj = samplers.sample(kind, ac, ts, xT, lambda x, t: 0.1 * x + 0.01 * t / T, pred, clip, eta, noises)
        cases.append({"sampler": kind, "eta": eta, "prediction": pred, "clip": clip, "schedule": sched,
                      "steps": n, "start": start, "timesteps": ts, "shape": shape,
                      "x_T": xT.tolist(), "noise": [z.tolist() for z in noises],
                      "trajectory": [x.tolist() for x in traj]})
    return {"model": "out = 0.1*x + 0.01*t/T (the same function whatever the prediction type)",
            "clip_range": [-1, 1], "cases": cases}


# --- independent port of src/engine/rng.ts's spec (xoshiro128** + splitmix32 seeding + Box-Muller)
M32 = 0xFFFFFFFF


def mix32(z):
    z = ((z ^ (z >> 16)) * 0x85EBCA6B) & M32
    z = ((z ^ (z >> 13)) * 0xC2B2AE35) & M32
    return z ^ (z >> 16)


class Xoshiro:
    def __init__(self, seed, stream=0):
        st = mix32((seed ^ mix32((stream + 0x6A09E667) & M32)) & M32)
        self.s = []
        for _ in range(4):
            st = (st + 0x9E3779B9) & M32
            self.s.append(mix32(st))
        self.spare = None

    def u32(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (32 - k))) & M32
        r = (rotl((s[1] * 5) & M32, 7) * 9) & M32
        t = (s[1] << 9) & M32
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 11)
        return r

    def uniform(self):
        a, b = self.u32() >> 5, self.u32() >> 6
        return (a * 67108864 + b) / 9007199254740992.0

    def normal(self):
        if self.spare is not None:
            z, self.spare = self.spare, None
            return z
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        r = math.sqrt(-2.0 * math.log(u1))
        self.spare = r * math.sin(2 * math.pi * u2)
        return r * math.cos(2 * math.pi * u2)


def rng():
    out = []
    for seed, stream in [(0, 0), (42, 0), (42, 1), (4294967295, 7)]:
        g = Xoshiro(seed, stream)
        u32 = [g.u32() for _ in range(8)]
        g = Xoshiro(seed, stream)
        uni = [g.uniform() for _ in range(4)]
        g = Xoshiro(seed, stream)
        nrm = [g.normal() for _ in range(9)]
        out.append({"seed": seed, "stream": stream, "u32": u32, "uniform": uni, "normal": nrm})
    g = Xoshiro(7, 0)
    big = np.array([g.normal() for _ in range(100000)])
    return {"spec": "xoshiro128** seeded by splitmix32 of mix32(seed ^ mix32(stream + 0x6a09e667)); "
                    "uniform = ((u32>>>5)*2^26 + (u32>>>6)) / 2^53; Box-Muller cos then sin, u1 = 1 - uniform",
            "cases": out, "moments_seed7_100k": {"mean": float(big.mean()), "std": float(big.std())}}


def e2e():
    model = build()
    g = np.random.default_rng(99)
    B, H, W = 2, 16, 16
    ac = ac_for(LINEAR)
    xT = torch.tensor(g.standard_normal((B, 1, H, W)), dtype=torch.float32)
    ts = trailing_timesteps(10, 999)
    noises = [torch.tensor(g.standard_normal((B, 1, H, W)), dtype=torch.float32).double() for _ in ts]

    def net(x, t):
        with torch.no_grad():
            return model(x.float(), torch.full((x.shape[0],), float(t))).double()

    runs = []
    # clipped runs saturate at ±1 with random weights, so unclipped runs check every value too
    for kind, eta, clip in (("ddim", 0.0, True), ("dpmpp2m", 0.0, True), ("ddpm", 0.0, True),
                            ("ddim", 0.0, False), ("dpmpp2m", 0.0, False), ("ddim", 0.5, False)):
        traj = samplers.sample(kind, ac, ts, xT.double(), net, "epsilon", clip, eta, noises)
        runs.append({"sampler": kind, "eta": eta, "clip": clip, "out": traj[-1].float().flatten().tolist()})
    first = net(xT.double(), ts[0]).float().flatten().tolist()
    # partial diffusion: start at t* = 250 from a smooth image, x_{t*} = sqrt(ᾱ) y (no added noise)
    y = torch.linspace(-0.8, 0.8, H * W).reshape(1, 1, H, W).repeat(B, 1, 1, 1).double()
    ts_p = trailing_timesteps(5, 250)
    xs = math.sqrt(float(ac[250])) * y
    part = samplers.sample("ddim", ac, ts_p, xs, net, "epsilon", True, 0.0, None)[-1]
    return {"model": "fixtures/models/tiny-eps.onnx", "shape": [B, 1, H, W], "timesteps": ts,
            "schedule": LINEAR, "prediction": "epsilon", "clip": True,
            "x_T": xT.flatten().tolist(), "noise": [z.float().flatten().tolist() for z in noises],
            "first_forward": {"t": ts[0], "out": first}, "runs": runs,
            "partial": {"start": 250, "steps": 5, "timesteps": ts_p, "y": y.float().flatten().tolist(),
                        "out": part.float().flatten().tolist()}}


def main():
    os.makedirs(REF, exist_ok=True)
    torch.set_num_threads(1)
    dump("engine-schedules.json", schedules())
    dump("engine-samplers.json", sampler_cases())
    dump("engine-rng.json", rng())
    dump("engine-e2e.json", e2e())
    dump("engine-normalise.json", normalise())


def normalise():
    """numpy.percentile (method 'linear') on float32 values, the range the engine must reproduce.
    The sparse signed set makes b − a inexact in float32, which a dense set never does."""
    g = np.random.default_rng(5)
    dense = (g.gamma(2.0, 150.0, size=1000) - 40).astype(np.float32)
    sparse = (g.standard_normal(7) * 100).astype(np.float32)
    cases = []
    for vals in (dense, sparse):
        ps = [0, 0.5, 1, 25, 50, 99, 99.5, 100] + [float(p) for p in g.uniform(0, 100, 60)]
        cases.append({"values": vals.astype(np.float64).tolist(), "percentiles": ps,
                      "numpy": [float(v) for v in np.percentile(vals, ps)]})
    return {"cases": cases}


if __name__ == "__main__":
    main()
