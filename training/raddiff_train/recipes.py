"""The shipped models' recipes. `plane` is anatomical (data.py slices the canonical LPS grid, as the
engine does). Data folders are relative to --data; a user's own folder works too
(see `sources()`): a folder of NIfTI volumes for a prior, one folder per case (mr/ct/mask.nii.gz,
the SynthRAD layout) for mri2ct.

Architecture: the engine's default_unet shape (thin 16-channel full-resolution level, capacity in
the small deep levels; ~4.3M parameters, ~3.9 GFLOP per 128² slice) pinned here so a recipe stays
reproducible if the default changes.

tile_size 256 although training crops are 128²: the UNet is fully convolutional, and whole 240²
BraTS slices gave the same one-step PSNR as 128² tiles with overlap (29.29 vs 29.22 dB at t=50)
in half the time, so slices up to 256² run in one piece.
"""
import os

from .data import ixi_subjects, nifti_files, split_by_subject, synthrad_cases

ARCH = dict(ch=16, mults=(1, 2, 4, 8, 8), num_res=1, attn_levels=(4,), groups=8)
SMOKE_ARCH = dict(ch=8, mults=(1, 2, 4, 4), num_res=1, attn_levels=(), groups=4)
LINEAR = {"type": "linear", "T": 1000, "beta_start": 1e-4, "beta_end": 0.02}
MRI_NORM = {"kind": "percentile", "params": {"low": 0.5, "high": 99.5}}
CT_NORM = {"kind": "ct-window", "params": {"low": -1024.0, "high": 2048.0}}

# EDM objective for priors whose main jobs are low-noise restoration (edm.py): ln σ ~ N(−1.8, 1.4²)
# puts most samples at σ ≈ 0.02–0.6 (denoising 3–10 % ≈ σ 0.06–0.2, super-resolution's shallow
# start), and 15 % of samples at t uniform over the schedule keep sampling from noise working.
EDM_RESTORE = dict(objective="edm", context=1, p_mean=-1.8, p_std=1.4, uniform_frac=0.15, version="0.2.0")

RECIPES = {
    "brain-t1": dict(
        tasks=["denoise", "super-resolution", "anomaly"], modality="MR", contrast="T1",
        folder="mri/ixi-t1", norm=MRI_NORM, plane="sagittal", size=64, tile_size=256,
        steps=20000, batch=16, lr=2e-4, flip_axes=(2, 3),
        # 0.3.0: two neighbours each side (0.2.1 widened with --context 2, session 12); 0.3.1: its 64² phase continued (session 13); 0.3.2: focused on the task's levels, with a cool-down (session 14); 0.3.3: that continued (session 15)
        **dict(EDM_RESTORE, context=2, version="0.3.3"),
        # where `raddiff denoise` calls it (sigma_scale x the estimated sigma at 3-10 % Rician): 70 % of the
        # samples there since 0.3.2 (--focus; session 14's A/B: +0.037 dB at sigma 0.1 after 3250 steps)
        task_sigmas=(0.03, 0.25), focus=0.7,
        data_note="IXI T1 (Hammersmith 3T, healthy adults), 2 mm NiChart copies: fixed split 130 train / 10 val "
                  "subjects (participants.csv). Anatomically sagittal 120x120 slices (rows S, columns P on the "
                  "canonical LPS grid; IXI is stored P-S-R, so these are its voxel k-slices), reflect-padded to 128; "
                  "2.5D: each centre slice with its two neighbours on each side (reflected at the volume's ends; +-1 up to 0.2.1). "
                  "Trained on random 64x64 crops, then fine-tuned on whole 128x128 slices.",
        licence="CC-BY-SA-3.0 (weights derived from IXI data)"),
    "brain-t1-sr": dict(
        tasks=["super-resolution"], modality="MR", contrast="T1",
        folder="mri/ixi-t1", norm=MRI_NORM, plane="sagittal", size=64, tile_size=256,
        steps=20000, batch=16, lr=2e-4, flip_axes=(2, 3),
        objective="edm", context=1, p_mean=-1.2, p_std=1.2, uniform_frac=0.2, mean_frac=0.7, mean_sigma={"inplane": 0.2, "through": 0.1}, version="0.1.0",
        superres=dict(train=[(2, "inplane"), (2, "through"), (4, "inplane")], val=[(2, "inplane"), (2, "through")],
                      through_plane="coronal"),
        data_note="IXI T1 (Hammersmith 3T, healthy adults), 2 mm NiChart copies, the fixed split 130 train / 10 val "
                  "subjects (participants.csv). Pairs made as the engine makes its input: each training volume "
                  "mean-pooled x2 in-plane (sagittal S and P), x2 through-plane (L-R, thick slices; these pairs cut into "
                  "coronal slices, which hold the thick axis in-plane) and x4 in-plane; "
                  "the low-resolution volume normalised by its own 0.5/99.5 percentiles; cond = its cell-centred "
                  "Keys cubic upsampling made consistent with the measurement (A x = y), target = the original "
                  "volume in the same normalisation. Sagittal 120x120 slices (coronal 120x90 for through-plane), 2.5D (one neighbour each side for "
                  "both x and cond), random 64x64 crops, flips only (a warp would break the pooling relation). "
                  "70% of the samples train the posterior-mean call (the cond read as x at sigma 0.2, 0.1 through-plane), 30% the EDM denoiser "
                  "(ln sigma ~ N(-1.2, 1.2^2), 20% t uniform) so that --mode sample works.",
        licence="CC-BY-SA-3.0 (weights derived from IXI data)"),
    "brain-flair": dict(
        tasks=["anomaly"], modality="MR", contrast="FLAIR",
        folder="lesion", norm=MRI_NORM, plane="axial", size=64, tile_size=256,
        steps=20000, batch=16, lr=2e-4, flip_axes=(3,), tumour_free_max=0.05,
        **dict(EDM_RESTORE, uniform_frac=0.35),
        data_note="No healthy FLAIR set exists here: FLAIR of glioma patients with the expert tumour labels "
                  "dilated 3 voxels masked out of the loss and centre slices with >5% tumour (of the brain) "
                  "dropped. Train: BraTS 2018 train cases (splits.txt) except its two re-released 2013 patients (they may be the 2013 validation patients), BraTS 2013 training patients "
                  "0005/0006, TCGA-FG-6692 (automatic fused segmentation); held out: BraTS 2018 val (4) and "
                  "BraTS 2013 0003/0004. 240x240 axial 1 mm slices, 2.5D (one neighbour on each side), random "
                  "64x64 crops. EDM x0 objective with 35% of samples at t uniform over the schedule (healing "
                  "starts deep).",
        licence="CC-BY-NC-SA-3.0 (weights derived from BraTS 2013 data; BraTS 2018 data terms: research use)"),
    "head-ct": dict(
        tasks=["denoise"], modality="CT", contrast=None,
        folder="ct", norm=CT_NORM, plane="axial", size=64, tile_size=256,
        steps=20000, batch=16, lr=2e-4, flip_axes=(3,), gamma=0.0, slice_strides=(1, 2),
        # CT noise of 25 / 50 HU is σ 0.016 / 0.033 in the [-1024, 2048] window: ln σ centred there
        objective="edm", context=1, p_mean=-3.4, p_std=1.2, uniform_frac=0.1, val_sigmas=(0.016, 0.033, 0.065),
        version="0.2.0",
        data_note="Real CT in HU: head_cranium (InVesalius, 1.5 mm) and thorax_abdomen_1p5mm (TotalSegmentator) for "
                  "training; abdomen_pelvis_3mm held out for evaluation (the only head CT is needed for "
                  "training). HU window [-1024, 2048] -> [-1, 1]. Each volume also as a thick-slice copy (every "
                  "second slice: 3 mm). Axial slices, 2.5D (one neighbour on each side, "
                  "reflected at the volume's ends), random 64x64 crops; flips, small rotation and scale, no gamma "
                  "(HU are physical). The 'clean' targets carry the scanners' own noise.",
        licence="GPL-2.0 (weights derived from InVesalius head CT)"),
    "mri2ct": dict(
        tasks=["mri2ct"], modality="CT", contrast=None, cond_modality="MR",
        folder="pairs", norm=CT_NORM, cond_norm=MRI_NORM, plane="axial", size=64, tile_size=256,
        steps=20000, batch=16, lr=2e-4, flip_axes=(3,), rot_deg=8.0, scale=0.08,
        # half the samples train the translation's mean call (x = 0 at σ_max: a regression on the MRI, L1 so
        # that it is the conditional median, the least-MAE estimate), the rest the EDM denoiser with the MRI as cond (ln σ wide, 30 % t uniform) so --mode sample works
        objective="edm", context=1, p_mean=-1.0, p_std=1.6, uniform_frac=0.3, mean_frac=0.5, mean_start="zeros", mean_loss="l1",
        version="0.2.0",
        data_note="WEAK PAIRS, not same-person scans: no subject here has both an MRI and a CT. The one real "
                  "head CT (InVesalius head_cranium, HU) was registered onto each IXI T1 with elastix 5.0 "
                  "(affine + B-spline, Mattes mutual information; training/raddiff_train/make_pairs.py) and "
                  "resampled onto the T1 grid; IXI's fixed split of the original 34 subjects: 30 train / 4 val. "
                  "The model learns that one person's skull and CT texture deformed to other heads. Axial 120x90 "
                  "slices (2 mm), 2.5D (one neighbour each side for the CT and the MRI), random 64x64 crops, flips, "
                  "small rotation and scale applied to both. With real pairs (SynthRAD layout: CASE/mr.nii.gz, "
                  "ct.nii.gz, optional mask.nii.gz, optional splits.txt) the same command trains a real model.",
        licence="CC-BY-SA-3.0 (IXI T1) and GPL-2.0 (InVesalius head CT)"),
}


def recipe(name: str) -> dict:
    if name not in RECIPES:
        raise SystemExit(f"unknown model {name!r}; choose from {', '.join(RECIPES)}")
    return dict(RECIPES[name], name=name)


def _ixi(root: str, labels: str | None):
    train, val = ixi_subjects(root)
    spec = lambda s: {"id": s, "image": os.path.join(root, f"{s}_T1.nii.gz"),
                      "mask": None}  # head mask (threshold + largest component) for slice selection
    fg = lambda s: os.path.join(labels, f"{s}_T1_DLMUSE.nii.gz") if labels else None
    mk = lambda s: dict(spec(s), brain=fg(s) if fg(s) and os.path.exists(fg(s)) else None)
    return [mk(s) for s in train], [mk(s) for s in val]


def sources(r: dict, data: str):
    """(train specs, val specs). `data` is the shared data root, or a user's folder of volumes /
    cases (then split deterministically by subject)."""
    name, folder = r["name"], os.path.join(data, r["folder"])
    if name in ("brain-t1", "brain-t1-sr"):
        if os.path.exists(os.path.join(folder, "participants.csv")):
            return _ixi(folder, os.path.join(data, "mri", "ixi-t1-labels"))
        return _generic(data)
    if name == "brain-flair":
        if not os.path.isdir(os.path.join(folder, "brats2013")):
            return _generic(data)
        b = os.path.join(folder, "brats2013")
        split = dict(line.split() for line in open(os.path.join(b, "splits.txt")) if line.strip())
        case = lambda p: {"id": p, "image": os.path.join(b, p, "Flair_subtrMeanDivStd.nii.gz"),
                          "mask": os.path.join(b, p, "brainmask.nii.gz"), "lesion": os.path.join(b, p, "OTMultiClass.nii.gz")}
        train = [case(p) for p, s in sorted(split.items()) if s == "train"]
        val = [case(p) for p, s in sorted(split.items()) if s != "train"]
        b18 = os.path.join(folder, "brats2018")
        if os.path.isdir(b18):  # raw int16 FLAIR, skull-stripped: the head mask is the brain
            split18 = dict(line.split() for line in open(os.path.join(b18, "splits.txt")) if line.strip())
            case18 = lambda p: {"id": p, "image": os.path.join(b18, p, f"{p}_flair.nii.gz"),
                                "lesion": os.path.join(b18, p, f"{p}_seg.nii.gz")}
            # Brats18_2013_* re-release BraTS 2013 patients, possibly the 2013 validation ones: left out
            train += [case18(p) for p, s in sorted(split18.items()) if s == "train" and "_2013_" not in p]
            val += [case18(p) for p, s in sorted(split18.items()) if s != "train"]
        fg = os.path.join(folder, "tcga-fg-6692")
        if os.path.isdir(fg):
            train.append({"id": "tcga-fg-6692", "image": os.path.join(fg, "OtherEXampleFromTCIA_fla_bet.nii.gz"),
                          "lesion": os.path.join(fg, "seg_fusion_mav.nii.gz")})
        return train, val
    if name == "head-ct":
        if os.path.exists(os.path.join(folder, "head_cranium.nii.gz")):
            spec = lambda f: {"id": f.split(".")[0], "image": os.path.join(folder, f)}
            return [spec("head_cranium.nii.gz"), spec("thorax_abdomen_1p5mm.nii.gz")], [spec("abdomen_pelvis_3mm.nii.gz")]
        return _generic(data)
    if name == "mri2ct":
        cases = synthrad_cases(folder if os.path.isdir(folder) else data)
        if not cases:
            raise SystemExit(f"mri2ct needs case folders with mr.nii.gz + ct.nii.gz under {folder} or {data}")
        root = folder if os.path.isdir(folder) else data
        split_file = os.path.join(root, "splits.txt")
        if os.path.exists(split_file):  # make_pairs writes IXI's fixed split; a user may give their own
            split = dict(line.split()[:2] for line in open(split_file) if line.strip())
            tr = {c["id"] for c in cases if split.get(c["id"], "train") == "train"}
            va = {c["id"] for c in cases if split.get(c["id"]) in ("val", "test")}
        else:
            tr, va = split_by_subject([c["id"] for c in cases])
        spec = lambda c: {"id": c["id"], "image": c["ct"], "cond": c["mr"], "mask": c["mask"]}
        return [spec(c) for c in cases if c["id"] in tr], [spec(c) for c in cases if c["id"] in va]
    raise SystemExit(f"no data sources for {name}")


def run_sources(r: dict, data: str, smoke: bool = False):
    """sources(), cut to 2 train / 1 val subjects for a --smoke run (it must finish in about a minute)."""
    train, val = sources(r, data)
    return (train[:2], val[:1]) if smoke else (train, val)


def _generic(folder: str):
    files = nifti_files(folder)
    if len(files) < 2:
        raise SystemExit(f"{folder}: need at least 2 NIfTI volumes (one is held out for validation)")
    tr, va = split_by_subject(files)
    spec = lambda f: {"id": os.path.basename(f).split(".")[0], "image": f}
    return [spec(f) for f in tr], [spec(f) for f in va]
