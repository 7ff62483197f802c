#!/usr/bin/env bash
# Fills the folder that travels to the GPU machine for scripts/gpu/train_default_model.sh:
#   scripts/gpu/pack_carry.sh MOESIM CARRY     e.g. build/cli/moesim /work/main/.devcarry/train
# (CARRY must be inside the checkout the device tool sends and ignored by git; pass it as `carry`.)
# Then, with the device tool: bash CARRY/src/scripts/gpu/train_default_model.sh CARRY $OUT
# (or capture_checks.sh CARRY $OUT: transformers capture check, capture benchmark, 2-GPU split)
set -euo pipefail
moesim=$(realpath "$1") C=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$C/debs" "$C/ids"
rm -rf "$C/src" && mkdir -p "$C/src/traces/src" "$C/src/model" "$C/src/scripts"
cd "$root"
# What the root CMakeLists.txt builds with -DMOESIM_GPU_ONLY=ON (moesim-gpu; model/gpu/CMakeLists.txt).
cp CMakeLists.txt "$C/src/" && cp -r cmake common "$C/src/"
cp -r traces/include traces/CMakeLists.txt "$C/src/traces/" && cp traces/src/balance_metrics.cpp "$C/src/traces/src/"
# model/default without its weights: they travel with the checkout itself (the carry's limit is shared).
cp -r model/include model/src model/gpu model/CMakeLists.txt "$C/src/model/" && cp -r scripts/gpu "$C/src/scripts/" && cp -r analysis "$C/src/"
mkdir -p "$C/src/model/default" && cp model/default/config.json model/default/tokenizer.model "$C/src/model/default/"
mkdir -p "$C/src/tests" && cp -r tests/bench tests/fixtures "$C/src/tests/"  # for scripts/gpu/capture_checks.sh
cp model/default/tokenizer.model "$C/tokenizer.model"
# Header-only dependencies as Debian 12 packages (libfmt9 too: fmt's CMake package checks its .so exists).
(cd "$C/debs" && [ -n "$(ls ./*.deb 2>/dev/null)" ] || apt-get download libfmt-dev libfmt9 nlohmann-json3-dev libcli11-dev)
# WikiText-2 train/valid as token ids of the default tokenizer (moesim-gpu has no tokenizers).
[ -f "$C/ids/train.ids" ] || "$moesim" train --config model/default/config.json --tokenizer model/default/tokenizer.model \
  --out "$(mktemp -d)" --steps 0 --write-ids "$C/ids"
du -sh "$C"
