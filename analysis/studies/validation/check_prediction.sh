#!/usr/bin/env bash
# ctest: re-run the hardware validation from the committed measurements (4 x H100, NCCL) and fail
# if moesim predicts the skewed all-to-alls less faithfully than the committed error table says.
#   check_prediction.sh MOESIM_BIN [MARGIN]
# 1. moesim calibrate: fit the preset on the uniform matrices + copy bandwidth, refined against this
#    moesim's own `replay` (so an engine change that shifts uniform times is absorbed by the fit);
# 2. predict.py --check: replay every skewed matrix, compare the median |error| at >= 4 MiB/GPU
#    with h100x4/errors.json, allowing MARGIN (default 0.02 = 2 points).
# Exit 77 (ctest: skipped) when this moesim has no `replay --matrix` yet or Python lacks numpy/h5py.
set -euo pipefail
moesim=$1 margin=${2:-0.02}
here=$(cd "$(dirname "$0")" && pwd)
python=${MOESIM_PYTHON:-/usr/bin/python3}
if ! "$python" -c "import numpy, h5py" 2>/dev/null; then echo "skipped: $python lacks numpy or h5py"; exit 77; fi
# The help is read whole first: `grep -q` on a pipe exits at the first match, and under pipefail
# moesim's SIGPIPE would then read as "no --matrix" and skip the test.
help=$("$moesim" replay --help 2>/dev/null || true)
if ! grep -q -- '--matrix' <<< "$help"; then
  echo "skipped: $moesim has no 'replay --matrix' command"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$here"
"$moesim" calibrate --results h100x4/results.json --preset h100-nvswitch-4gpu --out "$work/calibrated.yaml" > /dev/null
"$python" predict.py --moesim "$moesim" --calibration "$work/calibrated.json" \
  --check h100x4/errors.json --margin "$margin"
