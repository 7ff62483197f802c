#!/usr/bin/env bash
# Sets up and builds moesim (scripts/setup.sh), then runs the demo on embedded defaults:
# a synthetic routing trace → per-layer balance statistics.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=build/demo
mkdir -p "$out"
moesim=build/cli/moesim
$moesim trace synth --layers 8 --experts 64 --top-k 6 --tokens 65536 --steps 8 --load zipf:s=1.1 --seed 1 --out "$out/zipf.h5"
$moesim trace stats "$out/zipf.h5"
