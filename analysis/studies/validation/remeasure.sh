#!/usr/bin/env bash
# The NCCL re-measurement behind `moesim calibrate`, one command on a node with >= 2 GPUs (PyTorch + NCCL; nothing downloaded):
#   analysis/studies/validation/remeasure.sh OUT_DIR [--extra-patterns analysis/studies/validation/default_model_patterns.json]
# 1. aligned launch (GPU spin + all_reduce before each call): uniform, skewed and the calibration sets
#    (single-peer, diagonal-only, uniform, 4 KiB .. 1 GiB per GPU)  -> OUT_DIR/aligned/results.json
# 2. natural launch (host barrier only), every rank's start offset recorded -> OUT_DIR/natural/results.json
# Then, here: moesim calibrate --results OUT_DIR/aligned/results.json --preset <node preset> --out X.yaml
#             /usr/bin/python3 analysis/studies/validation/predict.py --results OUT_DIR/aligned/results.json \
#                 --calibration X.json --moesim build/cli/moesim
# Not run in this repository's sessions yet (no multi-GPU machine was lent): see README.md.
set -euo pipefail
out=${1:?usage: remeasure.sh OUT_DIR [measure_alltoall.py options]}
shift
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1   # NVLink multicast off (KINDS.md)
"$python" "$here/measure_alltoall.py" --out "$out/aligned" --calibration-sets --time-budget-s 420 "$@"
"$python" "$here/measure_alltoall.py" --out "$out/natural" --launch natural --repeats 1 --time-budget-s 150 "$@"
echo "measured: $out/aligned/results.json (aligned) and $out/natural/results.json (natural launch)"
