"""ONNX export (opset 17) and the model card written beside it.

Graph contract (the engine checks it): inputs `x` [B,C,H,W] float32, `t` [B] float32 timesteps
(integers 0..T-1 carried as float32: exact, and no Cast node in front of the embedding), optional
`cond` [B,Cc,H,W] float32; output `out` [B,C,H,W]. Batch, height and width are dynamic.
"""
import hashlib
import json
import os

import torch

from .unet import UNet, count_params


class _Wrap(torch.nn.Module):
    def __init__(self, m: UNet, cond: bool):
        super().__init__()
        self.m, self.cond = m, cond

    def forward(self, x, t, cond=None):
        return self.m(x, t, cond if self.cond else None)


def export_onnx(model: UNet, path: str, size: int = 32) -> None:
    cfg = model.config
    model.eval()
    x = torch.zeros(1, cfg["in_ch"], size, size)
    t = torch.zeros(1)
    names, args = ["x", "t"], [x, t]
    axes = {"x": {0: "B", 2: "H", 3: "W"}, "t": {0: "B"}, "out": {0: "B", 2: "H", 3: "W"}}
    if cfg["cond_ch"] > 0:
        names.append("cond")
        args.append(torch.zeros(1, cfg["cond_ch"], size, size))
        axes["cond"] = {0: "B", 2: "H", 3: "W"}
    with torch.no_grad():
        torch.onnx.export(_Wrap(model, cfg["cond_ch"] > 0), tuple(args), path, opset_version=17,
                          input_names=names, output_names=["out"], dynamic_axes=axes,
                          do_constant_folding=True)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_card(model: UNet, onnx_path: str, **fields) -> dict:
    cfg = model.config
    card = {
        "name": fields.pop("name"),
        "version": fields.pop("version", "0.1.0"),
        "tasks": fields.pop("tasks"),
        "modality": fields.pop("modality", "MR"),
        "contrast": fields.pop("contrast", None),
        "prediction": fields.pop("prediction", "epsilon"),
        "schedule": fields.pop("schedule", {"type": "linear", "T": 1000, "beta_start": 1e-4, "beta_end": 0.02}),
        "normalisation": fields.pop("normalisation", {"kind": "percentile", "params": {"low": 0.5, "high": 99.5}}),
        "plane": fields.pop("plane", "axial"),
        "size_multiple": 2 ** (len(cfg["mults"]) - 1),
        "tile_size": fields.pop("tile_size", 256),
        "channels": cfg["in_ch"],
        "cond_channels": cfg["cond_ch"],
        "timestep_input": "float32",
        "clip_sample": fields.pop("clip_sample", True),
        "parameters": count_params(model),
        "architecture": cfg,
        "training_data": fields.pop("training_data", None),
        "metrics": fields.pop("metrics", {}),
        "licence": fields.pop("licence", "Apache-2.0"),
        "file": os.path.basename(onnx_path),
        "sha256": sha256_file(onnx_path),
    }
    card.update(fields)
    with open(os.path.splitext(onnx_path)[0] + ".json", "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    return card
