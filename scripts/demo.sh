#!/usr/bin/env bash
# The moesim demo on embedded defaults, end to end (about a minute after the build):
#   routing trace -> per-layer balance statistics -> replay on three platform presets x two expert
#   placements (a `moesim sweep`) -> summary table -> one self-contained HTML report.
# The trace is synthetic (seeded Zipf load, OLMoE-like shape) until a captured model trace ships.
# Outputs: build/demo/ or the folder given as the first argument (trace.h5, stats.json,
# default_model_wikitext2.h5, sweep/results.csv|h5, replay/, report.html). MOESIM=path picks the binary.
# Usage: scripts/demo.sh [OUT]
set -euo pipefail
out=$(realpath -m "${1:-build/demo}")
[ -z "${MOESIM:-}" ] || MOESIM=$(realpath "$MOESIM")
cd "$(dirname "$0")/.."
[ "${MOESIM_SKIP_SETUP:-}" = 1 ] || scripts/setup.sh   # MOESIM_SKIP_SETUP=1: build/ is already built
mkdir -p "$out"
moesim=${MOESIM:-build/cli/moesim}

echo "== 1. routing trace (synthetic: 8 MoE layers, 64 experts, top-6, 16384 tokens in 4 steps, Zipf s=1.0)"
$moesim trace synth --layers 8 --experts 64 --top-k 6 --tokens 16384 --steps 4 --load zipf:s=1.0 \
  --layer-variation 1 --seed 1 --out "$out/trace.h5" --quiet

echo "== 2. balance statistics per layer"
$moesim trace stats "$out/trace.h5" --quiet
$moesim trace stats "$out/trace.h5" --quiet --json > "$out/stats.json"

# The shipped default model (model/default) routes real text the same way: capture its routing on
# WikiText-2 test when the data set is beside the checkout (../shared/data), and show its balance.
data_dir=${MOESIM_DATA_DIR:-../shared/data}
rm -f "$out/default_model_wikitext2.h5"  # never report a capture left by an earlier run
if ! grep -q '^  capture ' <<< "$($moesim --help 2>&1 || true)"; then  # whole help first: no SIGPIPE under pipefail
  # A build without LibTorch (-DMOESIM_WITH_TORCH=OFF, the sanitizer build) has no model commands.
  echo "== 2b. skipped: this moesim is built without LibTorch (no 'capture') for the default model's routing"
elif [ -f "$data_dir/wikitext-2/wiki.test.raw" ]; then
  echo "== 2b. the shipped default model's own routing on WikiText-2 test (16384 tokens)"
  $moesim capture --model model/default --dataset wikitext2:test --data-dir "$data_dir" --tokens 16384 \
    --batch 16 --seq 256 --out "$out/default_model_wikitext2.h5" --quiet
  $moesim trace stats "$out/default_model_wikitext2.h5" --quiet
else
  echo "== 2b. skipped: no WikiText-2 at $data_dir (set MOESIM_DATA_DIR) for the default model's routing"
fi

echo "== 3. replay: 3 platform presets x 2 placements (moesim sweep, resumable; rerun skips what is done)"
$moesim sweep analysis/examples/demo.sweep.yaml --set "trace=$out/trace.h5" --out "$out/sweep" --jobs 2 \
  --show platform,placement,replay.gpus,replay.phases.dispatch.time_s.p99,replay.phases.combine.time_s.p99,replay.phases.layer.time_s.p99,replay.phases.all.balanced_s.p99,replay.phases.all.mean_slowdown,replay.straggler.gpu
echo "   (times in seconds, P99 over all-to-alls (layer: over layers); an all-to-all takes its slowest GPU's finish - own start;
   slowdown = simulated time / the same bytes spread evenly; sim/README.md, Definitions)"

echo "== 4. one replay in full detail (every GPU of every all-to-all) on dgx-h100-8gpu"
$moesim replay --trace "$out/trace.h5" --platform dgx-h100-8gpu --out "$out/replay" --quiet

echo "== 5. report"
captured=()
[ -f "$out/default_model_wikitext2.h5" ] && captured=("$out/default_model_wikitext2.h5")
$moesim report "$out/stats.json" "${captured[@]}" "$out/replay" "$out/sweep" --out "$out/report.html" --title "moesim demo"
echo "open $out/report.html"
