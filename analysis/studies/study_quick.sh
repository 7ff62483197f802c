#!/usr/bin/env bash
# The whole study at its smallest, in about 3 minutes on 2 cores after the build: every part of
# analysis/studies/study.sh once, each shrunk to a few thousand tokens or steps, then one HTML report and a
# SUMMARY.md of the findings. Numbers are for checking the pipeline and the direction of effects, not
# for a paper (run analysis/studies/study.sh without --quick for those).
#   1. capture the default model's routing on WikiText-2, C4 and LAMBADA samples; trace stats + verdicts
#   2. assignment strategies on WikiText-2 (moesim assign-eval): perplexity, balance, replayed P99;
#      the baseline against load_temperature compared (moesim compare) as traces and as replays
#   3. a short fine-tune per balance loss (and the control), training curves; LAMBADA last-word
#      perplexity of the model before and after the strongest term
#   4. the all-to-all cost sweep (study/a2a-cost.sweep.yaml at a smaller size)
#   5. figures, report.html, SUMMARY.md
# Resumable: each finished step leaves OUT/.done/<step>; a rerun skips those (rm -r OUT/.done to redo).
#
# Usage: analysis/studies/study.sh --quick OUT     (or analysis/studies/study_quick.sh OUT)
#   MOESIM=path/to/moesim (default build/cli/moesim)  MODEL=checkpoint (default model/default)
#   MOESIM_DATA_DIR=data sets (default ../shared/data)  JOBS=2
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)  # analysis/studies/ -> the repository
[ $# -eq 1 ] || { echo "usage: analysis/studies/study.sh --quick OUT" >&2; exit 2; }
out=$(realpath -m "$1")
moesim=$(realpath "${MOESIM:-$root/build/cli/moesim}")
model=$(realpath "${MODEL:-$root/model/default}")
data_dir=$(realpath -m "${MOESIM_DATA_DIR:-$root/../shared/data}")
jobs=${JOBS:-2}
py=/usr/bin/python3
[ -x "$moesim" ] || { echo "study: $moesim: no moesim binary (build first, or set MOESIM)" >&2; exit 2; }
[ -f "$model/config.json" ] || { echo "study: $model/config.json: no model (set MODEL)" >&2; exit 2; }
[ -f "$data_dir/wikitext-2/wiki.test.raw" ] || { echo "study: $data_dir/wikitext-2/wiki.test.raw: no data sets (set MOESIM_DATA_DIR)" >&2; exit 2; }

# Sizes: small enough for ~3 minutes on 2 cores, large enough that every figure has something to show.
CAPTURE_TOKENS=4096      # per data set, part 1
ASSIGN_TOKENS=4096       # part 2 (16 sequences of 256: 1 batch, so batch-level strategies see one batch)
FINETUNE_STEPS=8         # part 3, per run, batches of 2 x 128 tokens
FINETUNE_EVAL_TOKENS=2048
LAMBADA_EXAMPLES=200
STRATEGIES=(topk temperature:t=2.0 load_temperature:t=0.3 load_temperature:t=0.5 filtered:drop-least=2 balanced:capacity=1.25)

mkdir -p "$out/.done" "$out/figures" "$out/runs"
started=$(date +%s)
total=9
n=0
# step NAME DESCRIPTION COMMAND...: runs COMMAND unless NAME finished before; prints progress.
step() {
  local name=$1 what=$2
  shift 2
  n=$((n + 1))
  if [ -f "$out/.done/$name" ]; then
    printf '[%d/%d] %-58s done before (%s)\n' "$n" "$total" "$what" "$(cat "$out/.done/$name")"
    return
  fi
  printf '[%d/%d] %-58s ...' "$n" "$total" "$what"
  local t0=$(date +%s)
  "$@"
  local took=$(( $(date +%s) - t0 ))
  echo "${took} s" > "$out/.done/$name"
  printf ' %3d s (%d s in all)\n' "$took" "$(( $(date +%s) - started ))"
}

capture_all() {
  for ds in wikitext2:test c4 lambada; do
    local name=default-${ds%%:*}
    "$moesim" capture --model "$model" --dataset "$ds" --data-dir "$data_dir" --tokens "$CAPTURE_TOKENS" \
      --seq 256 --batch 16 --out "$out/runs/$name.h5" --quiet > /dev/null
    "$moesim" trace stats "$out/runs/$name.h5" --json --quiet > "$out/stats-$name.json"
  done
}

assign() {
  local args=()
  for s in "${STRATEGIES[@]}"; do args+=(--strategy "$s"); done
  "$moesim" assign-eval --model "$model" --dataset wikitext2:test --data-dir "$data_dir" --tokens "$ASSIGN_TOKENS" \
    --seq 256 --batch 16 "${args[@]}" --platform cluster:2:4 --out "$out/runs/assign" --quiet > /dev/null
  cp "$out/runs/assign"/assign_eval.{txt,csv,json} "$out/"
}

# Baseline vs load-aware temperature: the two traces and their replays side by side.
compare_pair() {
  "$moesim" capture --model "$model" --dataset wikitext2:test --data-dir "$data_dir" --tokens "$ASSIGN_TOKENS" \
    --seq 256 --batch 16 --strategy load_temperature:t=0.3 --out "$out/runs/default-wikitext2-load_temperature.h5" --quiet > /dev/null
  for t in default-wikitext2 default-wikitext2-load_temperature; do
    "$moesim" replay --trace "$out/runs/$t.h5" --platform cluster:2:4 --out "$out/runs/replay-$t" --quiet > /dev/null
  done
  "$moesim" compare "$out/runs/default-wikitext2.h5" "$out/runs/default-wikitext2-load_temperature.h5" \
    --figure "$out/figures/compare-trace-load_temperature.png" > "$out/compare-trace.txt"
  "$moesim" compare "$out/runs/replay-default-wikitext2" "$out/runs/replay-default-wikitext2-load_temperature" \
    --figure "$out/figures/compare-replay-load_temperature.png" > "$out/compare-replay.txt"
}

finetune_all() {
  local ids=$out/runs/ids
  [ -f "$ids/valid.ids" ] || "$moesim" finetune --model "$model" --train-data wikitext2:train --valid-data wikitext2:valid \
    --data-dir "$data_dir" --steps 0 --write-ids "$ids" --out "$out/runs/ids-run" --quiet > /dev/null
  RUNS="none=0 gini=1 variance=100 cv=1 entropy=1 switch=1 z=0.01" STEPS=$FINETUNE_STEPS WARMUP=1 BATCH=2 SEQ=128 \
    EVAL_TOKENS=$FINETUNE_EVAL_TOKENS "$here/finetune_study.sh" "$moesim" "$model" "$ids" "$out/runs/finetune" cpu "$jobs" \
    > "$out/runs/finetune.log"
  ! grep -q FAILED "$out/runs/finetune.log" || { cat "$out/runs/finetune.log" >&2; return 1; }
  "$py" "$here/finetune_study.py" "$out/runs/finetune" > "$out/finetune-table.md"
}

lambada() {
  "$moesim" eval-ppl --model "$model" --dataset lambada --data-dir "$data_dir" --max-examples "$LAMBADA_EXAMPLES" \
    --json --quiet > "$out/lambada-base.json"
  "$moesim" eval-ppl --model "$out/runs/finetune/switch_1/model" --dataset lambada --data-dir "$data_dir" \
    --max-examples "$LAMBADA_EXAMPLES" --json --quiet > "$out/lambada-switch_1.json"
  "$moesim" compare "$out/lambada-base.json" "$out/lambada-switch_1.json" --figure "$out/figures/compare-lambada.png" \
    > "$out/compare-lambada.txt"
}

a2a_sweep() {
  "$moesim" sweep "$here/study/a2a-cost.sweep.yaml" --set layers=2 --set tokens=4096 --set steps=1 \
    --out "$out/runs/a2a-cost" --jobs "$jobs" --quiet > /dev/null
  cp "$out/runs/a2a-cost/results.csv" "$out/a2a-cost.csv"
}

figures() {
  local name kind  # a bare loop variable would overwrite step()'s name (bash scoping is dynamic)
  for name in default-wikitext2 default-c4 default-lambada; do
    for kind in heatmap load-bars balance; do
      "$py" "$root/analysis/plot.py" $kind "$out/stats-$name.json" --out "$out/figures/$kind-$name.png" > /dev/null
    done
  done
  "$py" "$root/analysis/plot.py" assign "$out/assign_eval.json" --out "$out/figures/assign-tradeoff.png" > /dev/null
  "$py" "$root/analysis/plot.py" finetune "$out/runs/finetune" --out "$out/figures/finetune-tradeoff.png" > /dev/null
  "$py" "$root/analysis/plot.py" training "$out/runs/finetune/switch_1" --title "switch=1, ${FINETUNE_STEPS} steps" \
    --out "$out/figures/training-switch_1.png" > /dev/null
  "$py" "$root/analysis/plot.py" sweep "$out/a2a-cost.csv" --x s --y replay.phases.all.time_s.p99 --by platform,placement \
    --out "$out/figures/a2a-p99-vs-zipf-s.png" > /dev/null 2>&1 || \
  "$py" "$root/analysis/plot.py" sweep "$out/a2a-cost.csv" --x s --y replay.phases.all.time_s.p99 --by placement \
    --out "$out/figures/a2a-p99-vs-zipf-s.png" > /dev/null
}

report() {
  "$moesim" report "$out/runs/default-wikitext2.h5" "$out/stats-default-c4.json" "$out/stats-default-lambada.json" \
    "$out/runs/default-wikitext2-load_temperature.h5" "$out/assign_eval.json" "$out/runs/finetune/none_0/history.jsonl" \
    "$out/runs/finetune/switch_1/history.jsonl" "$out/lambada-base.json" "$out/lambada-switch_1.json" \
    "$out/runs/replay-default-wikitext2" "$out/runs/replay-default-wikitext2-load_temperature" "$out/runs/a2a-cost" \
    --out "$out/report.html" --title "moesim quick study" > /dev/null
}

summary() {
  "$py" "$here/study_quick_summary.py" "$out" > "$out/SUMMARY.md"
}

echo "moesim quick study -> $out"
step capture "1. capture + stats: WikiText-2, C4, LAMBADA (${CAPTURE_TOKENS} tokens each)" capture_all
step assign "2. assignment strategies (${#STRATEGIES[@]}, ${ASSIGN_TOKENS} tokens)" assign
step compare "2. baseline vs load_temperature: traces and replays" compare_pair
step finetune "3. fine-tune per balance loss (7 runs x ${FINETUNE_STEPS} steps)" finetune_all
step lambada "3. LAMBADA last-word perplexity, before / after switch=1" lambada
step a2a "4. all-to-all cost sweep (16 replays)" a2a_sweep
step figures "5. figures" figures
step report "5. report.html" report
step summary "5. SUMMARY.md" summary
echo "done in $(( $(date +%s) - started )) s: $out/report.html, $out/SUMMARY.md"
