#!/usr/bin/env bash
# The moesim study, end to end, as a plain batch script: every step is a `moesim` command with flags
# (or one of the study scripts beside this one), so each part can also be run, or scaled out with
# `moesim sweep --slurm`, on its own.
#   (1) how imbalanced is routing, per layer and data set: synthetic loads (study/imbalance.sweep.yaml)
#       and the default model's real routing on WikiText-2, C4 and LAMBADA (`moesim capture`)
#   (2) what expert-assignment strategies cost in perplexity and buy in all-to-all time
#       (assign_study.sh: `moesim assign-eval` on the default model and two real architectures)
#   (3) what imbalance-loss fine-tuning does to balance and perplexity (finetune_study.sh)
#   (4) what imbalance costs in all-to-all time (P99 vs balanced) on NVLink and fat-tree platforms
#       (study/a2a-cost.sweep.yaml), and how leaf oversubscription changes it, a platform key swept
#       as an axis (study/a2a-oversubscription.sweep.yaml)
# Parts whose commands or inputs are missing are skipped with a line saying why (also in SUMMARY.md).
#
# Usage: analysis/studies/study.sh [OUT]       (default OUT: analysis/studies/study/output; needs build/cli/moesim)
#        analysis/studies/study.sh --quick OUT  every part at its smallest, ~3 minutes (analysis/studies/study_quick.sh)
#   MOESIM=path/to/moesim   JOBS=2   MODEL=checkpoint folder (default model/default)
#   MOESIM_DATA_DIR=data sets (default ../shared/data)   CAPTURE_TOKENS=32768 per data set in (1)
#   MOESIM_TRACES=folder of more captured traces (*.h5) for (1)
#   ASSIGN=run|committed   (2): rerun the assignment study (default, ~minutes on CPU) or tabulate the
#                          committed analysis/studies/assign_study/ tables
#   FINETUNE=cpu|gpu|committed   (3): the committed GPU study (analysis/studies/finetune_study_runs/, made on an
#                          H100 with the full recipe) is always tabulated and plotted, never recomputed;
#                          cpu (default) adds a small fine-tuning of MODEL on this machine (4 runs x 30
#                          steps of 4 x 128 tokens: minutes; its numbers are not the GPU study's); gpu
#                          reruns the full recipe (DEVICE=cuda, PARALLEL=4) into OUT/runs/finetune-gpu
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = --quick ]; then
  shift
  exec "$here/study_quick.sh" "$@"
fi
root=$(cd "$here/../.." && pwd)  # analysis/studies/ -> the repository
moesim=${MOESIM:-$root/build/cli/moesim}
out=${1:-$here/study/output}
jobs=${JOBS:-2}
model=${MODEL:-$root/model/default}
data_dir=${MOESIM_DATA_DIR:-$root/../shared/data}
py=/usr/bin/python3
mkdir -p "$out/figures"
summary="$out/SUMMARY.md"
tables="$out/.tables.md"
echo "# moesim study: outputs of analysis/studies/study.sh" > "$summary"
echo "" >> "$summary"
: > "$tables"
# Is this command built in? (`moesim --help` lists the commands; model ones need a LibTorch build.)
has() { grep -qE "^  $1( |$)" <<< "$("$moesim" --help)"; }  # whole help first: grep -q on a pipe + pipefail = SIGPIPE
note() { echo "study: $*"; echo "- $*" >> "$summary"; }
reports=()

# (1) routing imbalance: synthetic loads swept from balanced to skewed; real traces per data set.
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
"$py" "$root/analysis/plot.py" heatmap "$out/stats-zipf-1.2.json" --out "$out/figures/expert-load-zipf-1.2.png" > /dev/null
"$py" "$root/analysis/plot.py" balance "$out/stats-zipf-1.2.json" --out "$out/figures/balance-per-layer-zipf-1.2.png" > /dev/null
"$py" "$root/analysis/plot.py" sweep "$out/imbalance.csv" --x s --y stats.mean_over_layers.all.max_vio \
  --out "$out/figures/maxvio-vs-zipf-s.png" > /dev/null
note "(1) imbalance: 12 synthetic scenarios (zipf s = 0 … 1.5, 2 seeds) -> imbalance.csv, figures/expert-load-zipf-1.2.png, figures/balance-per-layer-zipf-1.2.png, figures/maxvio-vs-zipf-s.png"
traces=()
if has capture && [ -f "$model/config.json" ] && [ -d "$data_dir" ]; then
  mkdir -p "$out/runs/traces"
  for ds in wikitext2:test c4 lambada; do
    t="$out/runs/traces/default-${ds%%:*}.h5"
    "$moesim" capture --model "$model" --dataset "$ds" --data-dir "$data_dir" --tokens "${CAPTURE_TOKENS:-32768}" \
      --seq 256 --batch 16 --out "$t" --quiet > /dev/null
    traces+=("$t")
  done
else
  note "(1) real routing per data set: skipped (needs \`moesim capture\`, MODEL=$model and data sets in $data_dir)"
fi
if [ -n "${MOESIM_TRACES:-}" ] && ls "$MOESIM_TRACES"/*.h5 > /dev/null 2>&1; then traces+=("$MOESIM_TRACES"/*.h5); fi
for t in "${traces[@]}"; do
  name=$(basename "$t" .h5)
  "$moesim" trace stats "$t" --json --quiet > "$out/stats-$name.json"
  "$py" "$root/analysis/plot.py" heatmap "$out/stats-$name.json" --out "$out/figures/expert-load-$name.png" > /dev/null
  "$py" "$root/analysis/plot.py" balance "$out/stats-$name.json" --out "$out/figures/balance-per-layer-$name.png" > /dev/null
  reports+=("$out/stats-$name.json")
done
[ ${#traces[@]} -gt 0 ] && note "(1) real routing: ${#traces[@]} traces ($(for t in "${traces[@]}"; do basename "$t" .h5; done | tr '\n' ' ')) -> stats-*.json, figures/expert-load-*.png, figures/balance-per-layer-*.png"

# (2) assignment strategies: perplexity cost against all-to-all P99.
assign_dir=$root/analysis/studies/assign_study
if [ "${ASSIGN:-run}" = run ] && has assign-eval && [ -f "$model/config.json" ]; then
  OUT="$out/assign" MODEL="$model" MOESIM_DATA_DIR="$data_dir" WORK="$out/runs/assign" \
    "$here/assign_study.sh" "$(dirname "$(dirname "$moesim")")" > "$out/runs/assign.log"
  assign_dir=$out/assign
  note "(2) assignment strategies: analysis/studies/assign_study.sh rerun -> assign/<model>/assign_eval.{txt,csv,json}, figures/assign-tradeoff-*.png"
else
  rm -rf "$out/assign"  # tables of an earlier run would not be these
  note "(2) assignment strategies: the committed tables of analysis/studies/assign_study/ (ASSIGN=committed, or no \`moesim assign-eval\` / model) -> figures/assign-tradeoff-*.png"
fi
for m in default qwen3_moe deepseek_v3; do
  [ -f "$assign_dir/$m/assign_eval.json" ] || continue
  "$py" "$root/analysis/plot.py" assign "$assign_dir/$m/assign_eval.json" --out "$out/figures/assign-tradeoff-$m.png" > /dev/null
  { echo ""; echo "## (2) assignment strategies, $m ($(realpath --relative-to="$out" "$assign_dir/$m/assign_eval.txt"))"; echo '```';
    cat "$assign_dir/$m/assign_eval.txt"; echo '```'; } >> "$tables"
done

# (3) balance-loss fine-tuning: the committed GPU study, plus a small run here (or the full one on a GPU).
"$py" "$here/finetune_study.py" "$here/finetune_study_runs" > "$out/finetune-gpu-table.md"
"$py" "$root/analysis/plot.py" finetune "$here/finetune_study_runs" \
  --title "balance-loss fine-tuning (committed GPU study, 9.1 M-param model, 150 steps)" \
  --out "$out/figures/finetune-tradeoff-gpu.png" > /dev/null
{ echo ""; echo "## (3) balance-loss fine-tuning, committed GPU study (analysis/studies/finetune_study_runs, H100; finetune_study.md)";
  echo ""; cat "$out/finetune-gpu-table.md"; } >> "$tables"
note "(3) fine-tuning: committed GPU study tabulated -> finetune-gpu-table.md, figures/finetune-tradeoff-gpu.png"
finetune=${FINETUNE:-cpu}
if [ "$finetune" != committed ] && has finetune && [ -f "$model/config.json" ]; then
  ids="$out/runs/finetune-ids"
  [ -f "$ids/valid.ids" ] || "$moesim" finetune --model "$model" --train-data wikitext2:train --valid-data wikitext2:valid \
    --data-dir "$data_dir" --steps 0 --write-ids "$ids" --out "$out/runs/finetune-ids-run" --quiet > /dev/null
  if [ "$finetune" = gpu ]; then
    ft="$out/runs/finetune-gpu"
    "$here/finetune_study.sh" "$moesim" "$model" "$ids" "$ft" "${DEVICE:-cuda}" "${PARALLEL:-4}" > "$out/runs/finetune.log"
  else
    ft="$out/runs/finetune-cpu"
    RUNS="none=0 cv=0.1 cv=1 switch=1" STEPS=30 WARMUP=3 BATCH=4 SEQ=128 EVAL_TOKENS=16384 \
      "$here/finetune_study.sh" "$moesim" "$model" "$ids" "$ft" cpu 2 > "$out/runs/finetune.log"
  fi
  "$py" "$here/finetune_study.py" "$ft" > "$out/finetune-$finetune-table.md"
  "$py" "$root/analysis/plot.py" finetune "$ft" --title "balance-loss fine-tuning ($finetune run of analysis/studies/study.sh, $(basename "$model"))" \
    --out "$out/figures/finetune-tradeoff-$finetune.png" > /dev/null
  { echo ""; echo "## (3) balance-loss fine-tuning, $finetune run here (MODEL=$(realpath --relative-to="$root" "$model"); not the GPU study's recipe)";
    echo ""; cat "$out/finetune-$finetune-table.md"; } >> "$tables"
  note "(3) fine-tuning: $finetune run of finetune_study.sh on $(basename "$model") -> finetune-$finetune-table.md, figures/finetune-tradeoff-$finetune.png"
else
  note "(3) fine-tuning run here: skipped (FINETUNE=committed, or no \`moesim finetune\` / model)"
fi

# (4) all-to-all cost of imbalance on NVLink and fat-tree platforms, and of leaf oversubscription.
if has replay; then
  "$moesim" sweep "$here/study/a2a-cost.sweep.yaml" --out "$out/runs/a2a-cost" --jobs "$jobs" --quiet \
    --show platform,placement,s,replay.phases.all.time_s.p99,replay.phases.all.balanced_s.p99,replay.phases.all.mean_slowdown
  cp "$out/runs/a2a-cost/results.csv" "$out/a2a-cost.csv"
  reports+=("$out/runs/a2a-cost")
  for platform in $("$py" -c "
import csv; print(' '.join(sorted({r['platform'] for r in csv.DictReader(open('$out/a2a-cost.csv'))})))"); do
    "$py" "$root/analysis/plot.py" sweep "$out/a2a-cost.csv" --where "platform=$platform" --x s \
      --y replay.phases.all.time_s.p99 --by placement --out "$out/figures/a2a-p99-vs-zipf-s-${platform%.yaml}.png" > /dev/null
  done
  oversub=platform.scale_out.tiers.0.oversubscription
  "$moesim" sweep "$here/study/a2a-oversubscription.sweep.yaml" --out "$out/runs/a2a-oversubscription" --jobs "$jobs" \
    --quiet --show $oversub,placement,s,replay.phases.all.time_s.p99,replay.phases.all.balanced_s.p99
  cp "$out/runs/a2a-oversubscription/results.csv" "$out/a2a-oversubscription.csv"
  reports+=("$out/runs/a2a-oversubscription")
  for placement in contiguous eplb; do
    "$py" "$root/analysis/plot.py" sweep "$out/a2a-oversubscription.csv" --where "placement=$placement" --x s \
      --y replay.phases.all.time_s.p99 --by $oversub \
      --title "fat-tree-16gpu, $placement: P99 vs zipf s per leaf oversubscription" \
      --out "$out/figures/a2a-p99-vs-zipf-s-oversubscription-$placement.png" > /dev/null
  done
  # The most skewed load on the fat-tree in full detail: per-GPU bars and the latency CDF.
  "$moesim" trace synth --layers 8 --experts 64 --top-k 6 --tokens 8192 --steps 2 --load zipf:s=1.4 \
    --layer-variation 1 --seed 1 --out "$out/runs/zipf-1.4.h5" --quiet > /dev/null
  "$moesim" replay --trace "$out/runs/zipf-1.4.h5" --platform "$here/study/fat-tree-16gpu.yaml" \
    --out "$out/runs/replay-fat-tree-zipf-1.4" --quiet > /dev/null
  "$py" "$root/analysis/plot.py" gpu-bars "$out/runs/replay-fat-tree-zipf-1.4" --out "$out/figures/gpu-bars-fat-tree-zipf-1.4.png" > /dev/null
  "$py" "$root/analysis/plot.py" cdf "$out/runs/replay-fat-tree-zipf-1.4" --out "$out/figures/latency-cdf-fat-tree-zipf-1.4.png" > /dev/null
  reports+=("$out/runs/replay-fat-tree-zipf-1.4")
  note "(4) all-to-all cost: $(($(wc -l < "$out/a2a-cost.csv") - 1)) replays (NVLink node and 16-GPU fat-tree x contiguous/EPLB x zipf s) -> a2a-cost.csv, figures/a2a-p99-vs-zipf-s-*.png, figures/gpu-bars-fat-tree-zipf-1.4.png, figures/latency-cdf-fat-tree-zipf-1.4.png"
  note "(4) oversubscription: $(($(wc -l < "$out/a2a-oversubscription.csv") - 1)) replays (fat-tree leaves 1:1, 2:1, 4:1 x contiguous/EPLB x zipf s) -> a2a-oversubscription.csv, figures/a2a-p99-vs-zipf-s-oversubscription-*.png"
else
  note "(4) all-to-all cost: skipped (needs \`moesim replay\`)"
fi

"$moesim" report "${reports[@]}" --out "$out/study.html" --title "moesim study"
note "report: study.html (self-contained; not committed: regenerate with analysis/studies/study.sh)"

# Key numbers as Markdown tables in SUMMARY.md (mean over seeds).
"$py" - "$out" >> "$summary" <<'PY'
import csv, glob, json, os, sys
from collections import defaultdict
out = sys.argv[1]
def table(path, keys, cols, heads, scale, names=None):
    if not os.path.exists(path):
        return
    groups = defaultdict(list)
    for r in csv.DictReader(open(path)):
        if r["status"] == "ok":
            groups[tuple(r[k] for k in keys)].append(r)
    print("\n| " + " | ".join((names or keys) + heads) + " |\n|" + "---|" * (len(keys) + len(heads)))
    for key, rows in groups.items():
        vals = [sum(float(r[c]) for r in rows) / len(rows) * f for c, f in zip(cols, scale)]
        print("| " + " | ".join(list(key) + [f"{v:.3g}" for v in vals]) + " |")
print("\n## (1) routing imbalance vs Zipf exponent s (64 experts, top-8, 16 layers; mean of 2 seeds)")
table(f"{out}/imbalance.csv", ["s"], ["stats.mean_over_layers.all.gini", "stats.mean_over_layers.all.max_vio",
      "stats.mean_over_layers.top1.gini"], ["Gini", "MaxVio", "top-1 Gini"], [1, 1, 1])
print("\nMaxVio cannot exceed E/k - 1 = 64/8 - 1 = 7: a token picks k distinct experts, so no expert gets more than every token.")
real = sorted(p for p in glob.glob(f"{out}/stats-*.json") if "zipf" not in p)
if real:
    print("\n## (1) real routing per layer and data set (top-k loads over every captured token)")
    print("\n| trace | model | data set | tokens | layer | Gini | max/mean | MaxVio | top-1 Gini |\n|---|---|---|---|---|---|---|---|---|")
    for p in real:
        s = json.load(open(p))
        for l in s["layers"]:
            print(f"| {os.path.basename(p)[6:-5]} | {os.path.basename(s['model'].rstrip('/'))} | {s['dataset']} | {s['num_tokens']} "
                  f"| {l['model_layer']} | {l['all']['gini']:.3f} | {l['all']['max_mean_ratio']:.2f} | {l['all']['max_vio']:.2f} "
                  f"| {l['top1']['gini']:.3f} |")
print(open(f"{out}/.tables.md").read(), end="")
if os.path.exists(f"{out}/a2a-cost.csv"):
    print("\n## (4) all-to-all time: P99 against the balanced reference")
    table(f"{out}/a2a-cost.csv", ["platform", "placement", "s"], ["replay.phases.all.time_s.p99",
          "replay.phases.all.balanced_s.p99", "replay.phases.all.mean_slowdown"],
          ["P99 us", "balanced P99 us", "mean slowdown"], [1e6, 1e6, 1])
if os.path.exists(f"{out}/a2a-oversubscription.csv"):
    print("\n## (4) leaf oversubscription (fat-tree-16gpu, platform key `scale_out.tiers.0.oversubscription` swept)")
    table(f"{out}/a2a-oversubscription.csv", ["platform.scale_out.tiers.0.oversubscription", "placement", "s"],
          ["replay.phases.all.time_s.p99", "replay.phases.all.balanced_s.p99", "replay.phases.all.mean_slowdown"],
          ["P99 us", "balanced P99 us", "mean slowdown"], [1e6, 1e6, 1], names=["oversubscription", "placement", "s"])
PY
rm -f "$tables"

echo "study: done; $summary"
