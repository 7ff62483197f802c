#!/usr/bin/env bash
# The assignment study: what forcing an even expert assignment at inference costs in perplexity and buys
# in all-to-all latency. Runs `moesim assign-eval` over the strategies in assign_study.strategies on
#   1. the default model (model/default, or MODEL=dir) over WikiText-2 test, + LAMBADA;
#   2. real-architecture checkpoints: the Qwen3-MoE and DeepSeek-V3 parity fixtures
#      (tests/fixtures/{qwen3_moe,deepseek_v3}: the real architectures, tiny and randomly initialised,
#      vocabulary 96) over WikiText-2 test as characters (printable ASCII c → c − 32, anything else →
#      95; assign_study_ids.py).
# Writes analysis/studies/assign_study/<model>/assign_eval.{txt,csv,json} (or $OUT/<model>/...); traces go to $WORK.
# Usage: analysis/studies/assign_study.sh [BUILD_DIR]   (MODEL=dir to use another default model,
#        OUT=dir to write the tables elsewhere than the committed analysis/studies/assign_study/)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
moesim=$build/cli/moesim
model=${MODEL:-$root/model/default}
work=${WORK:-$(mktemp -d)}
out=${OUT:-$here/assign_study}
mkdir -p "$out/default"

"$moesim" assign-eval --model "$model" --dataset wikitext2:test --tokens 32768 --seq 256 --batch 16 \
  --lambada 500 --strategies "$here/assign_study.strategies" --platform cluster:2:4 --quiet --out "$work/default"
cp "$work/default"/assign_eval.{txt,csv,json} "$out/default/"

python3 "$here/assign_study_ids.py" "${MOESIM_DATA_DIR:-$root/../shared/data}" 32768 > "$work/char_ids.txt"
for fixture in qwen3_moe deepseek_v3; do
  mkdir -p "$out/$fixture"
  "$moesim" assign-eval --model "$root/tests/fixtures/$fixture" --ids-file "$work/char_ids.txt" --tokens 32768 \
    --seq 64 --batch 64 --strategies "$here/assign_study.strategies" --platform cluster:2:4 --quiet --out "$work/$fixture"
  cp "$work/$fixture"/assign_eval.{txt,csv,json} "$out/$fixture/"
done
for d in default qwen3_moe deepseek_v3; do echo "== $d"; cat "$out/$d/assign_eval.txt"; done
