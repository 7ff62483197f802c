#!/usr/bin/env bash
# The moesim study, end to end, as a plain batch script: every step is a `moesim` command with flags,
# so each part can also be run (or scaled out with `moesim sweep --slurm`) on its own.
#   (1) how imbalanced is routing, per layer and load / data set      -> study/imbalance.sweep.yaml
#   (2) what expert-assignment strategies cost in perplexity           -> needs `moesim assign-eval` + a model
#   (3) what imbalance-loss fine-tuning does to balance and perplexity -> needs `moesim finetune` + a model
#   (4) what imbalance costs in all-to-all time (P99 vs balanced), NVLink and fat-tree -> study/a2a-cost.sweep.yaml
# Parts whose commands or inputs are missing are skipped with a line saying why (also in SUMMARY.md).
#
# Usage: analysis/study.sh [OUT]       (default OUT: analysis/study/output; needs build/cli/moesim)
#   MOESIM=path/to/moesim   JOBS=2   MOESIM_TRACES=folder of captured traces (*.h5) for part (1)
#   MODEL=checkpoint folder for parts (2) and (3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
moesim=${MOESIM:-$root/build/cli/moesim}
out=${1:-$here/study/output}
jobs=${JOBS:-2}
py=/usr/bin/python3
mkdir -p "$out/figures"
summary="$out/SUMMARY.md"
echo "# moesim study: outputs of analysis/study.sh" > "$summary"
echo "" >> "$summary"
# Is this command built in? (`moesim --help` lists the commands; model ones need a LibTorch build.)
has() { "$moesim" --help | grep -qE "^  $1( |$)"; }
note() { echo "study: $*"; echo "- $*" >> "$summary"; }
reports=()

# (1) routing imbalance: synthetic loads swept from balanced to skewed; real traces when given.
"$moesim" sweep "$here/study/imbalance.sweep.yaml" --out "$out/runs/imbalance" --jobs "$jobs" --quiet \
  --show s,seed,stats.mean_over_layers.all.gini,stats.mean_over_layers.all.max_vio,stats.mean_over_layers.top1.gini
cp "$out/runs/imbalance/results.csv" "$out/imbalance.csv"
reports+=("$out/runs/imbalance")
# Per-layer pictures of the most skewed synthetic load (s = 1.2, seed 1).
skewed=$("$py" -c "
import csv, sys
rows = [r for r in csv.DictReader(open('$out/imbalance.csv')) if r['s'] == '1.2' and r['seed'] == '1']
print(rows[0]['id'])")
"$moesim" trace stats "$out/runs/imbalance/scenarios/$skewed/trace.h5" --json --quiet > "$out/stats-zipf-1.2.json"
"$py" "$here/plot.py" heatmap "$out/stats-zipf-1.2.json" --out "$out/figures/expert-load-zipf-1.2.png" > /dev/null
"$py" "$here/plot.py" balance "$out/stats-zipf-1.2.json" --out "$out/figures/balance-per-layer-zipf-1.2.png" > /dev/null
"$py" "$here/plot.py" sweep "$out/imbalance.csv" --x s --y stats.mean_over_layers.all.max_vio \
  --out "$out/figures/maxvio-vs-zipf-s.png" > /dev/null
note "(1) imbalance: 12 synthetic scenarios (zipf s = 0 … 1.5, 2 seeds) -> imbalance.csv, figures/expert-load-zipf-1.2.png, figures/balance-per-layer-zipf-1.2.png, figures/maxvio-vs-zipf-s.png"
if [ -n "${MOESIM_TRACES:-}" ] && ls "$MOESIM_TRACES"/*.h5 > /dev/null 2>&1; then
  for t in "$MOESIM_TRACES"/*.h5; do
    name=$(basename "$t" .h5)
    "$moesim" trace stats "$t" --json --quiet > "$out/stats-$name.json"
    "$py" "$here/plot.py" heatmap "$out/stats-$name.json" --out "$out/figures/expert-load-$name.png" > /dev/null
    "$py" "$here/plot.py" balance "$out/stats-$name.json" --out "$out/figures/balance-per-layer-$name.png" > /dev/null
    reports+=("$out/stats-$name.json")
  done
  note "(1) real traces: $(ls "$MOESIM_TRACES"/*.h5 | wc -l) from $MOESIM_TRACES"
else
  note "(1) real traces: skipped (set MOESIM_TRACES to a folder of traces from \`moesim capture\`)"
fi

# (2) and (3) need a model checkpoint and the model commands (LibTorch build).
if has assign-eval && [ -n "${MODEL:-}" ]; then
  note "(2) assignment strategies: MODEL=$MODEL (run \`moesim assign-eval --help\` for the study's flags)"
else
  note "(2) assignment strategies vs perplexity: skipped (needs \`moesim assign-eval\` and MODEL=checkpoint folder)"
fi
if has finetune && [ -n "${MODEL:-}" ]; then
  note "(3) imbalance-loss fine-tuning: MODEL=$MODEL (run \`moesim finetune --help\` for the study's flags)"
else
  note "(3) imbalance-loss fine-tuning: skipped (needs \`moesim finetune\` and MODEL=checkpoint folder)"
fi

# (4) all-to-all cost of imbalance on NVLink and fat-tree platforms.
if has replay; then
  "$moesim" sweep "$here/study/a2a-cost.sweep.yaml" --out "$out/runs/a2a-cost" --jobs "$jobs" --quiet \
    --show platform,placement,s,replay.phases.all.time_s.p99,replay.phases.all.balanced_s.p99,replay.phases.all.mean_slowdown
  cp "$out/runs/a2a-cost/results.csv" "$out/a2a-cost.csv"
  reports+=("$out/runs/a2a-cost")
  for platform in $("$py" -c "
import csv; print(' '.join(sorted({r['platform'] for r in csv.DictReader(open('$out/a2a-cost.csv'))})))"); do
    "$py" "$here/plot.py" sweep "$out/a2a-cost.csv" --where "platform=$platform" --x s \
      --y replay.phases.all.time_s.p99 --by placement --out "$out/figures/a2a-p99-vs-zipf-s-${platform%.yaml}.png" > /dev/null
  done
  # The most skewed load on the fat-tree in full detail: per-GPU bars and the latency CDF.
  "$moesim" trace synth --layers 8 --experts 64 --top-k 6 --tokens 8192 --steps 2 --load zipf:s=1.4 \
    --layer-variation 1 --seed 1 --out "$out/runs/zipf-1.4.h5" --quiet > /dev/null
  "$moesim" replay --trace "$out/runs/zipf-1.4.h5" --platform "$here/study/fat-tree-16gpu.yaml" \
    --out "$out/runs/replay-fat-tree-zipf-1.4" --quiet > /dev/null
  "$py" "$here/plot.py" gpu-bars "$out/runs/replay-fat-tree-zipf-1.4" --out "$out/figures/gpu-bars-fat-tree-zipf-1.4.png" > /dev/null
  "$py" "$here/plot.py" cdf "$out/runs/replay-fat-tree-zipf-1.4" --out "$out/figures/latency-cdf-fat-tree-zipf-1.4.png" > /dev/null
  reports+=("$out/runs/replay-fat-tree-zipf-1.4")
  note "(4) all-to-all cost: $(($(wc -l < "$out/a2a-cost.csv") - 1)) replays (NVLink node and 16-GPU fat-tree x contiguous/EPLB x zipf s) -> a2a-cost.csv, figures/a2a-p99-vs-zipf-s-*.png, figures/gpu-bars-fat-tree-zipf-1.4.png, figures/latency-cdf-fat-tree-zipf-1.4.png"
else
  note "(4) all-to-all cost: skipped (needs \`moesim replay\`)"
fi

"$moesim" report "${reports[@]}" --out "$out/study.html" --title "moesim study"
note "report: study.html (self-contained; not committed: regenerate with analysis/study.sh)"

# Key numbers as Markdown tables in SUMMARY.md (mean over seeds).
"$py" - "$out" >> "$summary" <<'PY'
import csv, os, sys
from collections import defaultdict
out = sys.argv[1]
def table(path, keys, cols, heads, scale):
    if not os.path.exists(path):
        return
    groups = defaultdict(list)
    for r in csv.DictReader(open(path)):
        if r["status"] == "ok":
            groups[tuple(r[k] for k in keys)].append(r)
    print("\n| " + " | ".join(keys + heads) + " |\n|" + "---|" * (len(keys) + len(heads)))
    for key, rows in groups.items():
        vals = [sum(float(r[c]) for r in rows) / len(rows) * f for c, f in zip(cols, scale)]
        print("| " + " | ".join(list(key) + [f"{v:.3g}" for v in vals]) + " |")
print("\n## (1) routing imbalance vs Zipf exponent s (64 experts, top-8, 16 layers; mean of 2 seeds)")
table(f"{out}/imbalance.csv", ["s"], ["stats.mean_over_layers.all.gini", "stats.mean_over_layers.all.max_vio",
      "stats.mean_over_layers.top1.gini"], ["Gini", "MaxVio", "top-1 Gini"], [1, 1, 1])
print("\nMaxVio cannot exceed E/k - 1 = 64/8 - 1 = 7: a token picks k distinct experts, so no expert gets more than every token.")
if os.path.exists(f"{out}/a2a-cost.csv"):
    print("\n## (4) all-to-all time: P99 against the balanced reference")
    table(f"{out}/a2a-cost.csv", ["platform", "placement", "s"], ["replay.phases.all.time_s.p99",
          "replay.phases.all.balanced_s.p99", "replay.phases.all.mean_slowdown"],
          ["P99 us", "balanced P99 us", "mean slowdown"], [1e6, 1e6, 1])
PY

echo "study: done; $summary"
