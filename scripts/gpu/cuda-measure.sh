#!/usr/bin/env bash
# CUDA figures for the shipped models, on a lent GPU machine (PyTorch + CUDA, no Node needed).
# From the repository root:   bash scripts/gpu/cuda-measure.sh [models/brain-t1.json]
# Through the device tool:    run(command="bash scripts/gpu/cuda-measure.sh", timeout_s=600)
# Writes $OUT/cuda-measure.json (or ./cuda-measure.json) and prints it; stops measuring after
# 8 minutes (--budget-s) so the whole call stays inside 9. See scripts/gpu/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
card="${1:-models/brain-t1.json}"
PY="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
PYTHONUNBUFFERED=1 timeout 540 "$PY" scripts/gpu/cuda_measure.py --card "$card" --out "${OUT:-.}" --budget-s 480
