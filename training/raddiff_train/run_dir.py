"""The run folder of `training/train.py MODEL`, for both objectives (ε in train.py, EDM in run_edm.py):
WORK (default training/runs/NAME) holds ckpt.pt, parity/ and train.log; OUT receives the ONNX and
its card. One place, so --work, --resume and the GPU script (training/gpu) find the same files
whichever recipe wrote them."""
import os
import time

import torch

TRAINING = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_name(a) -> str:
    """The model's file name: MODEL, or MODEL-smoke for --smoke runs."""
    return a.model + ("-smoke" if a.smoke else "")


def open_run(a):
    """Creates WORK and OUT; returns the run's name, WORK and a log function that prints a
    timestamped line and appends it to WORK/train.log (appended: a resumed run continues its log)."""
    name = run_name(a)
    work = a.work or os.path.join(TRAINING, "runs", name)
    os.makedirs(work, exist_ok=True)
    os.makedirs(a.out, exist_ok=True)
    logf = open(os.path.join(work, "train.log"), "a")

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    return name, work, log


def checkpoint_path(work: str) -> str:
    return os.path.join(work, "ckpt.pt")


def resume_step(st: dict, steps: int, resume: str) -> int:
    """The checkpoint's step, refusing one at or past the run's length: the loop would not run and the run would
    export the checkpoint as if trained (the recipes' default --steps is a first run's length)."""
    start = int(st["step"])
    if start >= steps:
        raise SystemExit(f"--resume {resume} is at step {start}, at or past --steps {steps}: "
                         f"pass --steps above {start} to train on")
    return start


def save_checkpoint(path: str, state: dict) -> None:
    """Written aside and renamed over the old one, so a run killed mid-write keeps its last checkpoint."""
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)
