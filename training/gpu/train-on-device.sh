#!/usr/bin/env bash
# Train (warm-started from the shipped weights) on a lent GPU machine within its per-call limit and
# bring the ONNX + card back. Run from the repository root ON THE GPU MACHINE, e.g. through the
# session's `device` tool:
#
#   # here, once: pack the training data into the repo (ignored by git; the device tool carries at most
#   # 64 MiB, so a subset of IXI: the 10 val subjects + the first train subjects up to the budget)
#   training/gpu/train-on-device.sh --pack ../shared/data .devdata 55
#   # there (carry: [".devdata"]):
#   bash training/gpu/train-on-device.sh brain-t1 7      # MODEL, minutes of training
#
# The GPU machine has PyTorch with CUDA and no Node: everything here is Python. Outputs go to $OUT
# (the device tool brings them back): MODEL.onnx, MODEL.json, train.log, ckpt.pt (to continue later).
set -euo pipefail
if [ "${1:-}" = "--pack" ]; then
  src=$2; dst=$3; budget_mb=${4:-55}
  mkdir -p "$dst/mri/ixi-t1" "$dst/mri/ixi-t1-labels"
  grep -qxF "/$dst/" .git/info/exclude 2>/dev/null || echo "/$dst/" >> .git/info/exclude
  head -1 "$src/mri/ixi-t1/participants.csv" > "$dst/mri/ixi-t1/participants.csv"
  # val rows first (all of them), then train rows while the budget lasts
  { grep ',val$' "$src/mri/ixi-t1/participants.csv"; grep ',train$' "$src/mri/ixi-t1/participants.csv"; } | while IFS=, read -r s age sex split; do
    used=$(du -sm "$dst" | cut -f1)
    [ "$used" -ge "$budget_mb" ] && break
    cp "$src/mri/ixi-t1/${s}_T1.nii.gz" "$dst/mri/ixi-t1/"
    [ -f "$src/mri/ixi-t1-labels/${s}_T1_DLMUSE.nii.gz" ] && cp "$src/mri/ixi-t1-labels/${s}_T1_DLMUSE.nii.gz" "$dst/mri/ixi-t1-labels/"
    echo "$s,$age,$sex,$split" >> "$dst/mri/ixi-t1/participants.csv"
  done
  echo "packed $(($(wc -l < "$dst/mri/ixi-t1/participants.csv") - 1)) subjects, $(du -sh "$dst" | cut -f1) in $dst"
  exit 0
fi
model=${1:?MODEL}; minutes=${2:-7}
out=${OUT:-/tmp/out}; mkdir -p "$out"
data=${DATA:-.devdata}
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
# batch 64 of 64² crops (the CPU recipe uses 16): the GPU is idle otherwise; a time-boxed warm start
# ends with a cool-down (the lr to 0 over the last 30 %), as the CPU runs since brain-t1 0.3.2
PYTHONUNBUFFERED=1 python3 training/train.py "$model" --data "$data" --device cuda --batch 64 --steps 1000000 \
  --minutes "$minutes" --decay 0.3 --init "models/$model.onnx" --work "$out/work" --out "$out" --png "$out/$model.png" 2>&1 | tee "$out/train.log"
cp "$out/work/ckpt.pt" "$out/ckpt.pt" 2>/dev/null || true
ls -la "$out"
