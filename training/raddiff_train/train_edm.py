"""EDM + 2.5D training (edm.py says why): data stacks of whole volumes, the loop, warm start, validation.

Data: every subject's volume is normalised once (the card's normalisation, as the engine does), cut into
all its slices along the recipe's plane and padded to the model multiple. A batch item is a centre slice
with k neighbours on each side (reflected at the volume's ends, like the engine), cropped to `size`.
Only centre slices with enough foreground are drawn; their neighbours may be any slice.
"""
import copy
import os
import time

import numpy as np
import torch

from .data import (_fit, augment, head_mask, load_canonical, normalisation_range, normalise, slices)
from .edm import EDM, SigmaMap, loss_weight, psnr, sample_sigma, vpred_loss_weight, widen_input
from .run_dir import checkpoint_path, resume_step, save_checkpoint


class Stack:
    """All slices of all subjects [N, H, W] (float32, normalised), centre indices to draw from,
    per-slice subject start/end (for reflecting neighbours), foreground and loss-weight planes."""

    def __init__(self, specs, norm, plane, size, multiple, min_fg=0.05, max_centres=None,
                 tumour_free_max=1.0, log=print, variants=None, cond_norm=None):
        """variants(real) -> [(target, cond or None, crop[, plane])]: normalised canonical volumes per
        subject (default: the volume normalised by its own range, no cond). Each variant becomes
        its own run of slices, cut along its own plane when it names one (else `plane`); `crop`
        (slices of the canonical grid) applies to the masks.
        A spec with a `cond` volume (a paired modality on the image's grid, e.g. the MRI of an
        MRI -> CT pair) gives one variant: the image and that volume normalised by `cond_norm`."""
        xs, cs, fgs, ws, starts, ends, centres, subj = [], [], [], [], [], [], [], []
        self._variant = []  # per slice: index of the variant it came from
        n = 0
        t0 = time.time()
        variants = variants or (lambda real: [(normalise(real, normalisation_range(real, norm)), None, None)])
        for si, spec in enumerate(specs):
            real, _, order = load_canonical(spec["image"])
            fg_path = spec.get("brain") or spec.get("mask")
            fg_full = (load_canonical(fg_path, order)[0] > 0) if fg_path else head_mask(real)
            if spec.get("cond"):
                creal = load_canonical(spec["cond"], order)[0]
                paired = [(normalise(real, normalisation_range(real, norm)),
                           normalise(creal, normalisation_range(creal, cond_norm or norm)), None)]
            for vi, (target, cond, crop, *vplane) in enumerate(paired if spec.get("cond") else variants(real)):
                n0 = n
                n = self._add(spec, si, order, target, cond, fg_full if crop is None else fg_full[crop], crop,
                              vplane[0] if vplane else plane, size,
                              multiple, min_fg, max_centres, tumour_free_max, n, xs, cs, fgs, ws, starts, ends, centres, subj)
                self._variant += [vi] * (n - n0)
        self._finish(xs, cs, fgs, ws, starts, ends, centres, subj)
        log(f"  {len(specs)} subjects, {len(self.x)} slices ({len(self.centres)} centres) "
            f"{tuple(self.x.shape[-2:])} in {time.time() - t0:.0f} s")

    def _add(self, spec, si, order, target, cond, fg_vol, crop, plane, size, multiple, min_fg, max_centres,
             tumour_free_max, n, xs, cs, fgs, ws, starts, ends, centres, subj):
        x = slices(target, plane)
        fg = slices(fg_vol, plane)
        frac = fg.reshape(len(fg), -1).mean(1)
        idx = np.nonzero(frac >= min_fg * frac.max())[0]
        w = None  # loss weight planes only where a lesion is masked out (all ones otherwise: not stored)
        if spec.get("lesion"):
            from scipy import ndimage
            lv = load_canonical(spec["lesion"], order)[0] > 0
            les = slices(lv if crop is None else lv[crop], plane)
            lfrac = les.reshape(len(les), -1).sum(1) / np.maximum(fg.reshape(len(fg), -1).sum(1), 1)
            idx = idx[lfrac[idx] <= tumour_free_max]
            w = 1.0 - np.stack([ndimage.binary_dilation(l, iterations=3) for l in les]).astype(np.float32)
        if max_centres and len(idx) > max_centres:
            idx = idx[np.linspace(0, len(idx) - 1, max_centres).round().astype(int)]
        xs.append(_fit(x, size, multiple, "reflect"))
        cs.append(_fit(slices(cond, plane), size, multiple, "reflect") if cond is not None else None)
        fgs.append(_fit(fg.astype(np.float32), size, multiple, "constant") > 0)
        ws.append(_fit(w, size, multiple, "edge") if w is not None else None)
        starts += [n] * len(x)
        ends += [n + len(x) - 1] * len(x)
        centres += (idx + n).tolist()
        subj += [spec.get("id", str(si))] * len(x)
        return n + len(x)

    def _finish(self, xs, cs, fgs, ws, starts, ends, centres, subj):
        shapes = {a.shape[-2:] for a in xs}
        if len(shapes) > 1:
            from .data import pad_to
            H, W = max(h for h, _ in shapes), max(w for _, w in shapes)
            xs = [pad_to(a, H, W, "constant") for a in xs]
            cs = [pad_to(a, H, W, "constant") if a is not None else None for a in cs]
            fgs = [pad_to(a.astype(np.float32), H, W, "constant") > 0 for a in fgs]
            ws = [pad_to(a, H, W, "edge") if a is not None else None for a in ws]
        self.x = torch.from_numpy(np.concatenate(xs))
        self.cond = torch.from_numpy(np.concatenate(cs)) if cs and cs[0] is not None else None
        self.fg = torch.from_numpy(np.concatenate(fgs))
        if all(a is None for a in ws):
            self.w = None
        else:
            self.w = torch.from_numpy(np.concatenate([a if a is not None else np.ones(xa.shape, np.float32) for a, xa in zip(ws, xs)]))
        self.start, self.end = torch.tensor(starts), torch.tensor(ends)
        self.centres = torch.tensor(centres)
        self.subject = subj
        self.variant = torch.tensor(self._variant)

    def __len__(self):
        return len(self.centres)

    def neighbours(self, c: torch.Tensor, k: int) -> torch.Tensor:
        """[B, 2k+1] slice indices around centres c, reflected (no edge repeat) at each volume's ends."""
        off = torch.arange(-k, k + 1)
        i = c[:, None] + off[None]
        s, e = self.start[c][:, None], self.end[c][:, None]
        i = torch.where(i < s, 2 * s - i, i)
        i = torch.where(i > e, 2 * e - i, i)
        return i.clamp(s, e)

    def batch(self, centres: torch.Tensor, k: int, size: int | None, g: torch.Generator | None):
        """(x [B, 2k+1, H, W], fg, w [B, 1, H, W], cond [B, 2k+1, H, W] or None), one random crop
        per item when `size` and `g` are given. cond's neighbours are x's (the engine reads both the
        same way)."""
        idx = self.neighbours(centres, k)
        x, fg = self.x[idx], self.fg[centres][:, None]
        w = self.w[centres][:, None] if self.w is not None else torch.ones(fg.shape)
        cond = self.cond[idx] if self.cond is not None else None
        H, W = x.shape[-2:]
        if size and (H > size or W > size) and g is not None:
            out = []
            for b in range(len(x)):
                y0 = int(torch.randint(0, H - size + 1, (1,), generator=g))
                x0 = int(torch.randint(0, W - size + 1, (1,), generator=g))
                win = lambda a: a[b, :, y0:y0 + size, x0:x0 + size]
                out.append((win(x), win(fg), win(w)) + ((win(cond),) if cond is not None else ()))
            parts = [torch.stack(v) for v in zip(*out)]
            x, fg, w = parts[:3]
            cond = parts[3] if cond is not None else None
        return x, fg, w, cond


def load_onnx_init(model: torch.nn.Module, onnx_path: str, log=print) -> int:
    """Copies a shipped ONNX model's weights into `model` (same UNet layout; the input conv may be
    narrower). Named initializers map by name; GroupNorm scales/shifts are exported unnamed
    (Mul/Add after InstanceNormalization), so they map by the order GroupNorms run in."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(onnx_path)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    state = {}
    # ε-models were exported as _Wrap(m=UNet), EDM models as EDM(net=UNet): either prefix
    for name, arr in init.items():
        for prefix in ("m.", "net."):
            if name.startswith(prefix):
                state[name[len(prefix):]] = torch.from_numpy(arr.copy())
    anon = []
    for n in m.graph.node:
        for i in n.input:
            # GroupNorm's scale / shift, [C, 1, 1] after its reshape (EDM's own constants are scalars)
            if i.startswith("onnx::") and i in init and n.op_type in ("Mul", "Add") and init[i].ndim == 3 and init[i].shape[1:] == (1, 1):
                anon.append(init[i])
    order = []
    hooks = [mod.register_forward_hook(lambda mod, a, o, name=name: order.append(name))
             for name, mod in model.named_modules() if isinstance(mod, torch.nn.GroupNorm)]
    cin = model.config["in_ch"] + model.config["cond_ch"]
    with torch.no_grad():
        model(torch.zeros(1, cin, 32, 32), torch.zeros(1))
    for h in hooks:
        h.remove()
    if len(anon) != 2 * len(order):
        raise SystemExit(f"{onnx_path}: {len(anon)} unnamed GroupNorm tensors for {len(order)} GroupNorms")
    for j, name in enumerate(order):
        state[name + ".weight"] = torch.from_numpy(anon[2 * j].reshape(-1).copy())
        state[name + ".bias"] = torch.from_numpy(anon[2 * j + 1].reshape(-1).copy())
    state = widen_input(model, state, cin, model.config.get("centre", cin // 2))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(f"warm start from {onnx_path}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    log(f"warm start: {len(state)} tensors from {onnx_path}")
    return len(state)


def val_sigma_kw(r: dict) -> dict:
    """The recipe's validation noise levels (CT's are far below MR's in the window's units)."""
    return {"sigmas": tuple(r["val_sigmas"])} if r.get("val_sigmas") else {}


@torch.no_grad()
def val_denoise(edm: EDM, ds: Stack, smap: SigmaMap, sigmas=(0.06, 0.1, 0.2), max_slices=48, seed=1234, batch=8):
    """One call D(x0 + σ n; σ) on fixed val slices and noise: PSNR inside the foreground and over the
    whole slice, with the noisy input's PSNR for scale."""
    g = torch.Generator().manual_seed(seed)
    n = min(len(ds), max_slices)
    pick = ds.centres[torch.linspace(0, len(ds) - 1, n).round().long()]
    out = {}
    edm.eval()
    for s in sigmas:
        num, den, noisy_num = 0.0, 0.0, 0.0
        for b in range(0, n, batch):
            c = pick[b:b + batch]
            x, fg, _, _ = ds.batch(c, edm.context, None, None)
            noisy = x + s * torch.randn(x.shape, generator=g)
            sig = torch.full((len(c),), s)
            d = edm.denoise(noisy, sig, smap.t_of_sigma(sig)).clamp(-1, 1)
            centre = x[:, edm.context:edm.context + 1]
            m = fg.float()
            num += float(((d - centre) ** 2 * m).sum())
            noisy_num += float(((noisy[:, edm.context:edm.context + 1].clamp(-1, 1) - centre) ** 2 * m).sum())
            den += float(m.sum())
        to_db = lambda mse: round(10 * np.log10(4.0 / max(mse, 1e-12)), 3)
        out[f"sigma_{s}"] = {"psnr_fg": to_db(num / den), "input_psnr_fg": to_db(noisy_num / den)}
    edm.train()
    return out


@torch.no_grad()
def val_superres(edm: EDM, stacks: dict, smap: SigmaMap, mean_sigma: dict, max_slices=48, batch=8):
    """Per degradation (stacks and mean_sigma keyed alike): the posterior-mean call D(cond; σ_sr, cond) on fixed val slices, PSNR inside
    the foreground, with the cond's (consistent cubic) PSNR for scale."""
    out = {}
    edm.eval()
    for name, ds in stacks.items():
        n = min(len(ds), max_slices)
        pick = ds.centres[torch.linspace(0, len(ds) - 1, n).round().long()]
        num, den, cnum = 0.0, 0.0, 0.0
        for b in range(0, n, batch):
            c = pick[b:b + batch]
            x, fg, _, cond = ds.batch(c, edm.context, None, None)
            d = mean_call(edm, cond, smap, mean_sigma[name]).clamp(-1, 1)
            centre = x[:, edm.context:edm.context + 1]
            m = fg.float()
            num += float(((d - centre) ** 2 * m).sum())
            cnum += float(((cond[:, edm.context:edm.context + 1] - centre) ** 2 * m).sum())
            den += float(m.sum())
        to_db = lambda mse: round(10 * np.log10(4.0 / max(mse, 1e-12)), 3)
        out[name] = {"psnr_fg": to_db(num / den), "cubic_psnr_fg": to_db(cnum / den)}
    edm.train()
    return out


@torch.no_grad()
def val_translate(edm: EDM, ds: Stack, smap: SigmaMap, norm: dict, max_slices=48, batch=8) -> dict:
    """The posterior-mean call D(0; σ_max, cond) on fixed val slices: MAE in HU inside the foreground
    (the pair's head mask), with bulk density's (foreground 0 HU, elsewhere −1024 HU) for scale."""
    lo, hi = norm["params"]["low"], norm["params"]["high"]
    hu = lambda v: (v.clamp(-1, 1) + 1) / 2 * (hi - lo) + lo
    n = min(len(ds), max_slices)
    pick = ds.centres[torch.linspace(0, len(ds) - 1, n).round().long()]
    edm.eval()
    err, bulk_err, den = 0.0, 0.0, 0.0
    for b in range(0, n, batch):
        c = pick[b:b + batch]
        x, fg, _, cond = ds.batch(c, edm.context, None, None)
        d = translate_call(edm, cond, smap)
        ref = hu(x[:, edm.context:edm.context + 1])
        m = fg.float()
        err += float(((hu(d) - ref).abs() * m).sum())
        bulk_err += float(((torch.where(fg, torch.zeros_like(ref), torch.full_like(ref, -1024.0)) - ref).abs() * m).sum())
        den += float(m.sum())
    edm.train()
    return {"mae_hu_fg": round(err / den, 1), "bulk_density_mae_hu_fg": round(bulk_err / den, 1), "slices": n}


def translate_call(edm: EDM, cond: torch.Tensor, smap: SigmaMap) -> torch.Tensor:
    s = torch.full((len(cond),), smap.sigma_max)
    x = torch.zeros(len(cond), 2 * edm.context + 1, *cond.shape[-2:])
    return edm.denoise(x, s, torch.full((len(cond),), float(smap.T - 1)), cond)


def mean_call(edm: EDM, cond: torch.Tensor, smap: SigmaMap, mean_sigma: float) -> torch.Tensor:
    s = torch.full((len(cond),), mean_sigma)
    return edm.denoise(cond, s, smap.t_of_sigma(s), cond)


@torch.no_grad()
def grid_png_edm(edm: EDM, ds: Stack, smap: SigmaMap, path: str, rows: int = 4, sigmas=(0.1, 0.2, 0.5), seed: int = 3) -> None:
    """Rows: val centre slices. Columns: clean, then noisy / one-call D per σ (row axis flipped for display)."""
    from .evaluate import _png
    edm.eval()
    c = ds.centres[torch.linspace(0, len(ds) - 1, rows + 2)[1:-1].round().long()]
    x, _, _, _ = ds.batch(c, edm.context, None, None)
    k = edm.context
    cols = [x[:, k:k + 1]]
    g = torch.Generator().manual_seed(seed)
    for s in sigmas:
        noisy = x + s * torch.randn(x.shape, generator=g)
        sig = torch.full((len(c),), s)
        cols += [noisy[:, k:k + 1].clamp(-1, 1), edm.denoise(noisy, sig, smap.t_of_sigma(sig)).clamp(-1, 1)]
    tiles = torch.cat([torch.cat([col[r, 0].flip(0) for col in cols], dim=1) for r in range(len(c))], dim=0)
    _png(path, ((tiles.numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8))


def cooldown(done_frac: float, decay: float) -> float:
    """The lr factor of a run `done_frac` of the way through (of its time budget when it has one,
    else of its steps) whose last `decay` fraction lowers the lr linearly to 0: the weights settle
    instead of hovering at the constant lr's noise floor (1 throughout when decay is 0)."""
    if decay <= 0:
        return 1.0
    return min(1.0, max(0.0, 1.0 - done_frac) / decay)


def centre_draw_weights(train: "Stack", mix) -> torch.Tensor:
    """Per-centre draw probabilities giving variant v the share mix[v] of the samples (uniform within it),
    e.g. more of the degradation whose target is furthest."""
    v = train.variant[train.centres]
    count = torch.bincount(v, minlength=len(mix)).double()
    share = torch.tensor(mix, dtype=torch.float64)
    if (count[share > 0] == 0).any():
        raise ValueError("a degradation given a share has no training slices")
    return (share[v] / count[v]).float()


def fit_edm(edm: EDM, train: Stack, val: Stack, r: dict, *, steps: int, work: str, device, seed=0,
            resume=None, log=print, val_every=500, ckpt_every=250, log_every=25, ema_decay=0.999,
            size=None, batch=None, bf16=False, max_seconds=None, stop_step=None):
    """stop_step: end there with the schedule (warm-up) of a `steps`-long run, so runs that stop at the
    same step are comparable whatever their nominal length."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    smap = SigmaMap(r["schedule"])
    edm.to(device).train()
    ema = copy.deepcopy(edm).eval().requires_grad_(False)
    opt = torch.optim.AdamW(edm.net.parameters(), lr=r["lr"], weight_decay=0.0)
    start = 0
    if resume:
        st = torch.load(resume, map_location="cpu")
        edm.load_state_dict(st["model"]), ema.load_state_dict(st["ema"])
        if st.get("opt") and not r.get("reset_opt"):
            opt.load_state_dict(st["opt"])
        start = resume_step(st, steps, resume)
        if "gen" in st:
            g.set_state(st["gen"])
        log(f"resumed from {resume} at step {start}")
    ckpt = checkpoint_path(work)
    size = size or r["size"]
    batch = batch or r["batch"]
    k = edm.context

    def save(step):
        save_checkpoint(ckpt, {"model": edm.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                               "gen": g.get_state(), "step": step, "recipe": r["name"], "config": edm.config})

    if r.get("mean_frac") and r.get("mean_start") != "zeros":  # the mean call's level per training variant, and its timestep
        s_sr_of_variant = torch.tensor(r["mean_sigma_of_variant"], dtype=torch.float32)
        t_sr_of_variant = smap.t_of_sigma(s_sr_of_variant)
    draw_p = centre_draw_weights(train, r["mix"]) if r.get("mix") else None
    warm = min(200, max(1, steps // 20))
    t0, run_loss, run_n = time.time(), 0.0, 0
    t_begin = time.time()
    decay = r.get("decay") or 0.0
    for step in range(start, steps):
        elapsed = time.time() - t_begin
        over_time = max_seconds is not None and elapsed > max_seconds
        if over_time or (stop_step is not None and step >= stop_step):
            log(f"{'time' if over_time else 'step'} budget reached at step {step}: stopping")
            save(step)
            ema.trained_steps = step
            return ema
        done_frac = elapsed / max_seconds if max_seconds is not None else (step - start) / max(1, (stop_step or steps) - start)
        cool = cooldown(done_frac, decay)
        for pg in opt.param_groups:
            pg["lr"] = r["lr"] * min(1.0, (step + 1 - start) / warm) * cool
        if draw_p is None:
            c = train.centres[torch.randint(len(train), (batch,), generator=g)]
        else:
            c = train.centres[torch.multinomial(draw_p, batch, replacement=True, generator=g)]
        x0, _, w, cond = train.batch(c, k, size, g)
        if torch.rand(1, generator=g) < 0.5:  # mirror through the slice axis: neighbours swap sides
            x0 = x0.flip(1)
            cond = cond.flip(1) if cond is not None else None
        # flips / small rotation and scale / gamma on all 2k+1 slices at once (weight and cond warp alike;
        # a super-resolution pair takes flips only: a warp or gamma would break its pooling relation)
        if cond is None:
            x0, _, w = augment(x0, None, w, g, flip_axes=r.get("flip_axes", (3,)), gamma=r.get("gamma", 0.1))
        else:
            # (a paired translation recipe may warp: its x and cond move together; gamma never, it would touch x only)
            x0, cond, w = augment(x0, cond, w, g, flip_axes=r.get("flip_axes", (3,)), rot_deg=r.get("rot_deg", 0.0),
                                  scale=r.get("scale", 0.0), gamma=0.0)
        sigma = sample_sigma(len(x0), smap, g, r["p_mean"], r["p_std"], r["uniform_frac"],
                             r.get("focus") or 0.0, r.get("task_sigmas"))
        t = smap.t_of_sigma(sigma)
        noisy = x0 + sigma[:, None, None, None] * torch.randn(x0.shape, generator=g)
        if r.get("mean_frac") and r.get("mean_start") == "zeros":
            # translation's posterior-mean call (card translate.mean_call): x = 0 at σ_max (t = T−1), where
            # c_skip ≈ 0 and D = c_out F(0, cond) is a regression of the target on the condition alone
            m = torch.rand(len(x0), generator=g) < r["mean_frac"]
            sigma = torch.where(m, torch.full_like(sigma, smap.sigma_max), sigma)
            t = torch.where(m, torch.full_like(t, float(smap.T - 1)), t)
            noisy = torch.where(m[:, None, None, None], torch.zeros_like(noisy), noisy)
        elif r.get("mean_frac"):
            # the posterior-mean call (card superres.mean_sigma): the cond itself read as a noisy image at
            # σ_sr, D(cond; σ_sr, cond) ≈ E[x0 | cond]. c_skip ≈ 0.86 at σ_sr = 0.2 keeps it a residual
            # (a first try with x = 0 at σ_max had to rebuild the whole image and stayed below cubic)
            m = torch.rand(len(x0), generator=g) < r["mean_frac"]
            v = train.variant[c]
            sigma, t = torch.where(m, s_sr_of_variant[v], sigma), torch.where(m, t_sr_of_variant[v], t)
            noisy = torch.where(m[:, None, None, None], cond, noisy)
        x0, noisy, sigma, t, w = (v.to(device) for v in (x0, noisy, sigma, t, w))
        cond = cond.to(device) if cond is not None else None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            d = edm.denoise(noisy, sigma, t, cond)
        target = x0[:, k:k + 1]
        wsum = w.flatten(1).sum(1).clamp_min(1.0)
        err = d.float() - target
        lw = vpred_loss_weight(sigma, r.get("min_snr_gamma", 5.0)) if r.get("objective") == "vpred" else loss_weight(sigma)
        loss = lw * (err ** 2 * w).flatten(1).sum(1) / wsum
        if r.get("mean_loss") == "l1" and r.get("mean_frac"):
            # the mean call trained for the conditional median (L1, in units of σ_data): the estimate with
            # the least absolute error, which is what translation is judged by (MAE in HU)
            loss = torch.where(m.to(device), (err.abs() * w).flatten(1).sum(1) / wsum / edm.sigma_data, loss)
        loss = loss.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(edm.net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            dcy = min(ema_decay, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), edm.parameters()):
                pe.lerp_(pm, 1 - dcy)
        run_loss, run_n = run_loss + loss.item(), run_n + 1
        done = step + 1
        if done % log_every == 0 or done == steps:
            dt = time.time() - t0
            log(f"step {done}/{steps} loss {run_loss / run_n:.5f} {run_n * batch / dt:.2f} samples/s ({size}²)"
                + (f" lr {opt.param_groups[0]['lr']:.2e}" if decay > 0 else ""))
            t0, run_loss, run_n = time.time(), 0.0, 0
        if done % ckpt_every == 0 or done == steps:
            save(done)
        if val is not None and (done % val_every == 0 or done == steps):
            if r.get("mean_start") == "zeros":
                log(f"step {done} val translate (ema): {val_translate(ema, val, smap, r['norm'])}")
            elif isinstance(val, dict):
                log(f"step {done} val superres (ema): {val_superres(ema, val, smap, r['mean_sigma_of_val'])}")
            else:
                log(f"step {done} val denoise (ema): {val_denoise(ema, val, smap, **val_sigma_kw(r))}")
            t0 = time.time()
    ema.trained_steps = steps
    return ema


@torch.no_grad()
def grid_png_superres(edm: EDM, stacks: dict, smap: SigmaMap, path: str, mean_sigma: dict, rows: int = 2) -> None:
    """Rows: val centre slices per degradation. Columns: clean, consistent cubic (cond), posterior mean."""
    from .evaluate import _png
    edm.eval()
    tiles = []
    for name, ds in stacks.items():
        c = ds.centres[torch.linspace(0, len(ds) - 1, rows + 2)[1:-1].round().long()]
        x, _, _, cond = ds.batch(c, edm.context, None, None)
        k = edm.context
        cols = [x[:, k:k + 1], cond[:, k:k + 1], mean_call(edm, cond, smap, mean_sigma[name]).clamp(-1, 1)]
        tiles += [torch.cat([col[r, 0].flip(0) for col in cols], dim=1) for r in range(len(c))]
    # degradations cut in different planes give different slice sizes: pad rows with background
    W = max(t.shape[1] for t in tiles)
    tiles = [torch.nn.functional.pad(t, (0, W - t.shape[1]), value=-1.0) for t in tiles]
    _png(path, ((torch.cat(tiles, dim=0).numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8))


@torch.no_grad()
def grid_png_translate(edm: EDM, ds: Stack, smap: SigmaMap, path: str, rows: int = 3) -> None:
    """Rows: val centre slices. Columns: the MRI (cond), the reference CT, the posterior-mean call."""
    from .evaluate import _png
    edm.eval()
    k = edm.context
    c = ds.centres[torch.linspace(0, len(ds) - 1, rows + 2).round().long()[1:-1]]
    x, _, _, cond = ds.batch(c, k, None, None)
    cols = [cond[:, k:k + 1], x[:, k:k + 1], translate_call(edm, cond, smap).clamp(-1, 1)]
    grid = torch.cat([torch.cat([v[i, 0].flip(0) for v in cols], dim=1) for i in range(len(c))], dim=0)
    _png(path, ((grid.numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8))
    edm.train()
