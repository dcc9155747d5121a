#!/usr/bin/python3
"""Issue 13, item 1: EDM against v-prediction with min-SNR weighting, side by side on held-out data.

  /usr/bin/python3 training/compare_objectives.py --data ../shared/data [--minutes 15 | --steps N] [--arms A,B] [--work DIR]

Every arm trains the same UNet (same seed, so the same initial weights) on the same brain-t1 data
(130 IXI train subjects, 2.5D, 64² crops, batch 16) for the same wall-clock budget on this machine,
from scratch, then denoises the same held-out slices of the 10 val subjects in one call at several
noise levels (PSNR inside the head, as the recipe's validation does). Arms:

  edm              EDM preconditioning and λ(σ), ln σ ~ N(−1.8, 1.4²) + 15 % t uniform (the shipped recipe)
  vpred-uniform    v-prediction, min-SNR-5, t uniform over the 1000 steps (the usual VP recipe)
  vpred-lognormal  v-prediction, min-SNR-5, σ drawn as the edm arm draws it (separates the
                   parametrisation and weighting from the noise-level distribution)

--minutes gives every arm the same wall-clock budget (what a session's CPU buys; the steps reached are
printed); --steps gives every arm the same samples, the fairer test when the machine's load changes
between arms (it did in session 10: see training/README.md).
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from raddiff_train.edm import EDM, SigmaMap, VPred  # noqa: E402
from raddiff_train.recipes import ARCH, LINEAR, recipe, run_sources  # noqa: E402
from raddiff_train.run_edm import bf16_ok  # noqa: E402
from raddiff_train.train_edm import Stack, fit_edm, val_denoise  # noqa: E402
from raddiff_train.unet import UNet  # noqa: E402

ARMS = {
    "edm": dict(objective="edm"),
    "vpred-uniform": dict(objective="vpred", uniform_frac=1.0, min_snr_gamma=5.0),  # sample_sigma: t uniform for all
    "vpred-lognormal": dict(objective="vpred", min_snr_gamma=5.0),
}
SIGMAS = (0.03, 0.06, 0.1, 0.2, 0.5, 1.0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--minutes", type=float, default=15.0, help="training budget per arm")
    p.add_argument("--steps", type=int, help="a step budget per arm instead of --minutes (the same samples for every arm)")
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--work", default=os.path.join(HERE, "runs", "compare-objectives"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-slices", type=int, default=96)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True)
    logf = open(os.path.join(a.work, "compare.log"), "a")

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    base = recipe("brain-t1")
    base["schedule"] = LINEAR
    train_specs, val_specs = run_sources(base, a.data)
    multiple = 2 ** (len(ARCH["mults"]) - 1)
    kw = dict(norm=base["norm"], plane=base["plane"], size=base["size"], multiple=multiple, log=log)
    train, val = Stack(train_specs, **kw), Stack(val_specs, **kw)
    use_bf16 = bf16_ok()
    budget = f"{a.steps} steps" if a.steps else f"{a.minutes} min"
    log(f"{len(train_specs)} train / {len(val_specs)} val subjects; {budget} per arm, {a.threads} thread(s), bf16 {use_bf16}")
    smap = SigmaMap(LINEAR)
    results = {}
    for arm in a.arms.split(","):
        r = dict(base, **ARMS[arm])
        torch.manual_seed(a.seed)
        net = UNet(in_ch=3, out_ch=1, cond_ch=0, **ARCH)
        model = (VPred if r["objective"] == "vpred" else EDM)(net, LINEAR, context=1)
        work = os.path.join(a.work, arm)
        os.makedirs(work, exist_ok=True)
        t0 = time.time()
        ema = fit_edm(model, train, None, r, steps=10 ** 7, stop_step=a.steps, work=work, device=torch.device("cpu"), seed=a.seed,
                      log=lambda m, arm=arm: log(f"{arm}: {m}"), log_every=200, ckpt_every=500,
                      bf16=use_bf16, max_seconds=None if a.steps else a.minutes * 60)
        steps = ema.trained_steps
        res = val_denoise(ema.cpu().eval(), val, smap, sigmas=SIGMAS, max_slices=a.val_slices)
        results[arm] = {"steps": steps, "train_s": round(time.time() - t0), "denoise": res}
        log(f"{arm}: {steps} steps; held-out one-call PSNR: {json.dumps(res)}")
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump({"budget_per_arm": budget, "sigmas": SIGMAS, "arms": results}, f, indent=2)
    head = "| arm | steps | " + " | ".join(f"σ {s}" for s in SIGMAS) + " |"
    log(head)
    log("|" + "---|" * (len(SIGMAS) + 2))
    noisy = next(iter(results.values()))["denoise"]
    log("| noisy input | – | " + " | ".join(f"{noisy[f'sigma_{s}']['input_psnr_fg']:.2f}" for s in SIGMAS) + " |")
    for arm, v in results.items():
        log(f"| {arm} | {v['steps']} | " + " | ".join(f"{v['denoise'][f'sigma_{s}']['psnr_fg']:.2f}" for s in SIGMAS) + " |")


if __name__ == "__main__":
    main()
