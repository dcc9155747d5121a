"""`training/train.py MODEL` for recipes with objective "edm": data, warm start, training, held-out
metrics, ONNX export (x_VP, t -> x̂0 of the centre slice) and the card."""
import json
import os
import time

import torch

from .data import normalisation_range, normalise
from .edm import EDM, SigmaMap, widen_input
from .export import sha256_file
from .recipes import ARCH, SMOKE_ARCH, run_sources
from .run_dir import open_run
from .train_edm import Stack, fit_edm, grid_png_edm, grid_png_superres, load_onnx_init, val_denoise, val_sigma_kw, val_superres, val_translate, grid_png_translate
from .unet import UNet, count_params

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def gflop_per_slice(net: torch.nn.Module, in_ch: int, size: int = 128) -> float:
    """Multiply-adds x2 of convolutions, linears and attention products on one size² slice."""
    total = [0]

    def conv(m, i, o):
        total[0] += 2 * o.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def lin(m, i, o):
        total[0] += 2 * o.numel() * m.in_features

    hooks = []
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(lin))
    from .unet import Attention

    def attn(m, i, o):
        b, c, h, w = o.shape
        total[0] += 2 * 2 * b * c * (h * w) ** 2

    hooks += [m.register_forward_hook(attn) for m in net.modules() if isinstance(m, Attention)]
    with torch.no_grad():
        net(torch.zeros(1, in_ch, size, size), torch.zeros(1))
    for h in hooks:
        h.remove()
    return total[0] / 1e9


def export_edm(edm: EDM, path: str, size: int = 64) -> None:
    edm = edm.cpu().eval()
    cin, cc = edm.config["in_ch"], edm.config["cond_ch"]
    args, names = (torch.zeros(1, cin, size, size), torch.full((1,), 10.0)), ["x", "t"]
    axes = {"x": {0: "B", 2: "H", 3: "W"}, "t": {0: "B"}, "out": {0: "B", 2: "H", 3: "W"}}
    if cc:
        args, names = args + (torch.zeros(1, cc, size, size),), names + ["cond"]
        axes["cond"] = {0: "B", 2: "H", 3: "W"}
    with torch.no_grad():
        torch.onnx.export(edm, args, path, opset_version=17, input_names=names, output_names=["out"],
                          dynamic_axes=axes, do_constant_folding=True)


def superres_variants(r: dict, which: list):
    """Stack variants for a conditioned super-resolution recipe: one (target, cond, crop, plane) per
    degradation in `which` ([factor, 'inplane' | 'through'] pairs). The thick axis of 'through' is
    the recipe plane's slice axis; with `superres.through_plane` those pairs are sliced in that plane
    instead, one that holds the thick axis in-plane, so the model sees the missing detail's direction
    (the engine runs the model in the card's superres.plane_through for thick-slice input)."""
    from .superres_data import degradation_axes, superres_pair
    through_plane = r["superres"].get("through_plane") or r["plane"]
    return lambda real: [(*superres_pair(real, r["norm"], f, degradation_axes(r["plane"], w)),
                          through_plane if w == "through" else r["plane"]) for f, w in which]


def stride_variants(r: dict):
    """Thicker-slice copies of each training volume (every s-th slice along the recipe's slice axis):
    a 2.5D model then also sees neighbours as far apart as in a thick-slice scan (head-ct trains on
    1.5 mm CT and is evaluated on 3 mm). None: the volume as it is."""
    strides = r.get("slice_strides")
    if not strides:
        return None
    from .superres_data import SLICE_AXIS
    ax = SLICE_AXIS[r["plane"]]

    def variants(real):
        out = []
        for st in strides:
            crop = tuple(slice(None, None, st) if d == ax else slice(None) for d in range(3))
            v = real[crop]
            out.append((normalise(v, normalisation_range(v, r["norm"])), None, crop))
        return out
    return variants


def bf16_ok() -> bool:
    """AVX-512 BF16 (or AMX) in the CPU flags: only then is bf16 autocast worth trying on CPU."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def degradation_names(sr: dict) -> list:
    """'x2 inplane', ...: how --mix, the card's mix and its trained_degradations name the recipe's degradations."""
    return [f"x{f} {w}" for f, w in sr["train"]]


def parse_mix(text: str, r: dict) -> list:
    """--mix: one non-negative share per trained degradation of a super-resolution recipe, normalised."""
    sr = r.get("superres")
    if not sr:
        raise SystemExit(f"--mix: recipe {r['name']} trains no super-resolution degradations")
    try:
        w = [float(v) for v in text.split(",")]
    except ValueError:
        raise SystemExit(f"--mix {text!r}: comma-separated numbers, one per degradation") from None
    names = degradation_names(sr)
    if len(w) != len(names) or min(w) < 0 or sum(w) <= 0:
        raise SystemExit(f"--mix {text!r}: {len(names)} non-negative shares, not all 0, one each for {', '.join(names)}")
    return [v / sum(w) for v in w]


def main_edm(a, r, device):
    t_start = time.time()
    k = a.context or r.get("context", 1)
    arch = SMOKE_ARCH if a.smoke else dict(ARCH, **r.get("arch", {}))
    size = a.size or (64 if a.smoke else r["size"])
    batch = a.batch or (4 if a.smoke else r["batch"])
    if a.lr:
        r["lr"] = a.lr
    for opt in ("decay", "focus", "mean_frac"):  # fractions of the run / of the samples
        v = getattr(a, opt, None)
        if v is not None:
            if not 0 <= v <= 1:
                raise SystemExit(f"--{opt.replace('_', '-')} {v}: a fraction in [0, 1]")
            r[opt] = v
    if getattr(a, "mix", None):
        r["mix"] = parse_mix(a.mix, r)
    if r.get("focus") and not r.get("task_sigmas"):
        raise SystemExit(f"--focus: recipe {a.model} names no task_sigmas")
    steps = a.steps or (8 if a.smoke else r["steps"])
    name, work, log = open_run(a)
    train_specs, val_specs = run_sources(r, a.data, a.smoke)
    multiple = 2 ** (len(arch["mults"]) - 1)
    kw = dict(norm=r["norm"], plane=r["plane"], size=max(size, multiple), multiple=multiple,
              max_centres=4 if a.smoke else None, tumour_free_max=r.get("tumour_free_max", 1.0), log=log)
    # bf16 autocast on CPUs with AVX-512 BF16 / AMX: 18.5 -> 25.9 samples/s (64², batch 16, 1 thread,
    # Xeon with AMX; channels_last added another 5 % with bf16 and nothing without, so it is left out)
    use_bf16 = device.type == "cpu" and (a.bf16 == "on" or (a.bf16 == "auto" and bf16_ok()))
    log(f"{name}: EDM, context ±{k} slices, crops {size}², batch {batch}, device {device}, "
        f"threads {torch.get_num_threads()}, bf16 autocast {'on' if use_bf16 else 'off'} "
        f"(CPU has AVX-512 BF16/AMX: {'yes' if bf16_ok() else 'no'})")
    sr = r.get("superres")
    if sr:  # conditioned super-resolution: pairs made as the engine makes them; one val stack per degradation
        train = Stack(train_specs, variants=superres_variants(r, sr["train"]), **kw)
        val = {f"x{f}_{w}": Stack(val_specs, variants=superres_variants(r, [(f, w)]), **kw) for f, w in sr["val"]}
        # the mean call's σ per degradation (through-plane lower: its slices keep their in-plane detail)
        r["mean_sigma_of_variant"] = [r["mean_sigma"][w] for _, w in sr["train"]]
        r["mean_sigma_of_val"] = {f"x{f}_{w}": r["mean_sigma"][w] for f, w in sr["val"]}
    else:
        # a paired recipe (mri2ct): each spec's cond volume, normalised by the recipe's cond_norm
        train = Stack(train_specs, cond_norm=r.get("cond_norm"), variants=stride_variants(r), **kw)
        val = Stack(val_specs, cond_norm=r.get("cond_norm"), **kw)
    paired = r.get("mean_start") == "zeros"
    cond_ch = 2 * k + 1 if sr or paired else 0
    torch.manual_seed(a.seed)
    net = UNet(in_ch=2 * k + 1, out_ch=1, cond_ch=cond_ch, **arch)
    edm = EDM(net, r["schedule"], context=k)
    log(f"UNet {count_params(net)} parameters, {gflop_per_slice(net, 2 * k + 1 + cond_ch):.2f} GFLOP per 128² slice, {net.config}")
    if a.init and not a.resume:
        if a.init.endswith(".onnx"):
            load_onnx_init(net, a.init, log)
        else:
            st = torch.load(a.init, map_location="cpu")
            sd, cin = st["ema"], 2 * k + 1 + cond_ch
            if sd["net.inp.weight"].shape[1] != cin:  # e.g. --context 2 from a ±1 model
                inner = widen_input(net, {n[4:]: v for n, v in sd.items() if n.startswith("net.")}, cin, k)
                sd = dict(sd, **{"net." + n: v for n, v in inner.items()})
                log(f"input conv widened to {cin} channels (new neighbours start at zero)")
            edm.load_state_dict(sd)
            log(f"warm start from checkpoint {a.init} (EMA weights, step {st.get('step')})")
    t_train = time.time()
    ema = fit_edm(edm, train, val, r, steps=steps, work=work, device=device, seed=a.seed, resume=a.resume, log=log,
                  val_every=steps if a.smoke else 500, ckpt_every=steps if a.smoke else 250,
                  log_every=max(steps // 4, 1) if a.smoke else 25, size=size, batch=batch, bf16=use_bf16,
                  max_seconds=a.minutes * 60 if a.minutes else None)
    steps = getattr(ema, "trained_steps", steps)
    train_s = time.time() - t_train
    ema = ema.cpu().eval()
    smap = SigmaMap(r["schedule"])
    png = a.png or (os.path.join(a.out, f"{name}.png") if a.smoke else os.path.join(ROOT, "docs", "models", f"{a.model}.png"))
    os.makedirs(os.path.dirname(png), exist_ok=True)
    if sr:
        metrics = {"one_call_superres": val_superres(ema, val, smap, r["mean_sigma_of_val"], max_slices=8 if a.smoke else 96)}
        log("held-out posterior-mean super-resolution: " + json.dumps(metrics["one_call_superres"]))
        grid_png_superres(ema, val, smap, png, r["mean_sigma_of_val"])
    elif paired:
        metrics = {"one_call_translate": val_translate(ema, val, smap, r["norm"], max_slices=8 if a.smoke else 96)}
        log("held-out posterior-mean translation: " + json.dumps(metrics["one_call_translate"]))
        grid_png_translate(ema, val, smap, png)
    else:
        metrics = {"one_call_denoise": val_denoise(ema, val, smap, max_slices=8 if a.smoke else 96, **val_sigma_kw(r))}
        log("held-out one-call denoise: " + json.dumps(metrics["one_call_denoise"]))
        grid_png_edm(ema, val, smap, png, **val_sigma_kw(r))
    onnx_path = os.path.join(a.out, f"{name}.onnx")
    export_edm(ema, onnx_path)
    parity = _parity(ema, onnx_path, next(iter(val.values())) if sr else val, work)
    card = {
        "name": name, "version": a.version or r.get("version", "0.2.0"), "tasks": r["tasks"],
        "modality": r["modality"], "contrast": r["contrast"],
        "prediction": "x0",
        "objective": {"kind": "edm", "sigma_data": ema.sigma_data, "p_mean": r["p_mean"], "p_std": r["p_std"],
                      "uniform_t_fraction": r["uniform_frac"],
                      "timestep_mapping": "sigma(t) = sqrt((1 - abar(t)) / abar(t)) with abar linear between integer t "
                                          "of the schedule; the graph takes x_VP = sqrt(abar(t)) x_VE and continuous t "
                                          "in [0, T-1] and returns D(x_VE; sigma(t)), the x0 estimate of the centre slice"},
        "schedule": r["schedule"], "normalisation": r["norm"], "plane": r["plane"],
        "size_multiple": multiple, "tile_size": r["tile_size"], "channels": 1, "context_slices": k,
        "cond_channels": cond_ch, "timestep_input": "float32", "clip_sample": True,
        "parameters": count_params(ema.net), "gflop_per_128_slice": round(gflop_per_slice(ema.net, 2 * k + 1 + cond_ch), 3),
        "architecture": ema.net.config,
        "training_data": {"description": r["data_note"], "train_subjects": [s["id"] for s in train_specs],
                          "val_subjects": [s["id"] for s in val_specs], "train_centre_slices": len(train),
                          "steps": steps, "batch": batch, "crop": size, "seed": a.seed, "device": str(device),
                          "train_seconds_this_run": round(train_s, 1), "init": os.path.basename(a.init) if a.init else None,
                          "lr": r["lr"], **({"focus": r["focus"], "task_sigmas": list(r["task_sigmas"])} if r.get("focus") else {}),
                          **({"decay": r["decay"]} if r.get("decay") else {}),
                          **({"mix": dict(zip(degradation_names(sr), (round(v, 3) for v in r["mix"])))}
                             if sr and r.get("mix") else {}), "smoke": a.smoke},
        "metrics": dict(metrics, onnx_parity=parity),
        "licence": r["licence"], "file": os.path.basename(onnx_path), "sha256": sha256_file(onnx_path),
    }
    for key in ("anomaly",):
        if key in r:
            card[key] = r[key]
    if sr:
        card["cond_modality"], card["cond_normalisation"] = r["modality"], r["norm"]
        card["superres"] = {"conditioning": "consistent-cubic", "mean_sigma": r["mean_sigma"]["inplane"],
                            "mean_sigma_through": r["mean_sigma"]["through"],
                            **({"plane_through": sr["through_plane"]} if sr.get("through_plane") else {}),
                            "trained_degradations": degradation_names(sr), "mean_fraction": r["mean_frac"],
                            "note": "cond = the engine's consistent cubic upsampling of the low-resolution input (normalised by "
                                    "the input's own percentiles), centre slice and one neighbour each side; mean mode = one "
                                    "call reading the same volume as x at sigma = mean_sigma (mean_sigma_through for thick slices), D(cond; sigma, cond), "
                                    "trained for on mean_fraction of the samples; --mode sample starts from pure noise"}
    if paired:
        card["cond_modality"], card["cond_normalisation"] = r["cond_modality"], r["cond_norm"]
        card["translate"] = {"mean_call": "zeros-at-t-max", "mean_fraction": r["mean_frac"], "mean_loss": r.get("mean_loss", "l2"),
                             "note": "mean mode = one call per slice reading x = 0 at t = T-1 (sigma_max, where c_skip ~ 0), "
                                     "D(0; sigma_max, cond): a regression of the CT on the MRI, trained for on mean_fraction "
                                     "of the samples; --mode sample starts from pure noise at t = T-1 with the MRI as cond"}
    with open(os.path.splitext(onnx_path)[0] + ".json", "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    log(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes) and its card; total {time.time() - t_start:.0f} s")
    return card


def _parity(edm: EDM, onnx_path: str, ds: Stack, work: str) -> dict:
    import numpy as np
    x, _, _, cond = ds.batch(ds.centres[:1], edm.context, None, None)
    t = torch.tensor([25.0])
    with torch.no_grad():
        ref = edm(x, t, cond).numpy()
    d = os.path.join(work, "parity")
    os.makedirs(d, exist_ok=True)
    x.numpy().astype("<f4").tofile(os.path.join(d, "x.f32"))
    ref.astype("<f4").tofile(os.path.join(d, "out.f32"))
    if cond is not None:
        cond.numpy().astype("<f4").tofile(os.path.join(d, "cond.f32"))
    with open(os.path.join(d, "sample.json"), "w") as f:
        json.dump({"onnx": os.path.abspath(onnx_path), "shape": list(x.shape), "t": 25.0,
                   "cond_shape": list(cond.shape) if cond is not None else None}, f)
    try:
        import onnxruntime as ort
    except ImportError:
        return {"checked": False, "note": "python onnxruntime missing; sample saved for the onnxruntime-node check"}
    feeds = {"x": x.numpy(), "t": t.numpy(), **({"cond": cond.numpy()} if cond is not None else {})}
    got = ort.InferenceSession(onnx_path).run(["out"], feeds)[0]
    return {"checked": True, "max_abs_diff": float(np.abs(got - ref).max())}
