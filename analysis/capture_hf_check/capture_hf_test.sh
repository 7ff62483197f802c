#!/usr/bin/env bash
# ctest model.capture_matches_transformers_capture: `moesim capture` on each tiny parity fixture gives
# the same expert sets (and gates within 1e-5) as analysis/capture_hf.py gave with transformers 5.17
# on CPU in float32 on the GPU machine (the committed *_hf_cpu.h5, same ids, batch 2 × seq 64: the
# last sequence of 44 tokens is left-padded).
#   analysis/capture_hf_check/capture_hf_test.sh MOESIM
set -euo pipefail
moesim=$1
here=$(cd "$(dirname "$0")" && pwd) root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for arch in mixtral qwen3_moe olmoe qwen2_moe deepseek_v3 deepseek_v3_plain; do
  "$moesim" capture --model "$root/tests/fixtures/$arch" --ids-file "$here/fixture_300.ids" --batch 2 --seq 64 \
    --out "$tmp/$arch.h5" --quiet > /dev/null
  echo "== $arch"
  /usr/bin/python3 "$here/compare.py" "$tmp/$arch.h5" "$here/${arch}_hf_cpu.h5" --max-mismatch-rate 0 --max-gate-diff 1e-5
done
