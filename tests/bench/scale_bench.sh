#!/usr/bin/env bash
# This benchmark shows what issue 21's workloads cost: skewed (Zipf) MoE all-to-alls replayed with
# the fluid engine at 256 and 1024 GPUs, the same with the solver of before issue 21 (every flow
# re-solved at every event, MOESIM_FLUID_FULL_SOLVE=1), `trace synth` memory, and start-up.
# Figures are printed, never asserted: CPU seconds (user + system, the simulation's forked
# processes included), peak RSS, max-min solves (of which from scratch) and rates set.
#
# Run: tests/bench/scale_bench.sh BUILD_DIR [WORK_DIR] [CASE...]
#   BUILD_DIR: a Release build (-DMOESIM_WITH_TORCH=OFF is enough); WORK_DIR keeps the traces
#   (default /tmp/moesim-scale-bench). CASE: zipf256, zipf256-old, zipf256-trace, zipf1024,
#   zipf1024-old, synth, startup (default: all but the -old ones, which take minutes to hours).
#   MOESIM_BENCH_CPU_CAP_S caps each case's CPU time (default 600).
set -euo pipefail

build=${1:?usage: scale_bench.sh BUILD_DIR [WORK_DIR] [CASE...]}
work=${2:-/tmp/moesim-scale-bench}
shift $(( $# >= 2 ? 2 : 1 ))
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(startup synth zipf256 zipf1024 zipf256-trace)
moesim=$build/cli/moesim
cap_s=${MOESIM_BENCH_CPU_CAP_S:-600}
mkdir -p "$work"

# Issue 21's workload: 256 experts, top-8, 8192 tokens per GPU, hidden 7168, Zipf s = 1.2; EPLB
# placement (at 1024 GPUs with 768 redundant replicas: one expert replica per GPU).
readonly kExperts=256 kTopK=8 kTokensPerGpu=8192 kHidden=7168 kLoad=zipf:s=1.2

# measure LABEL CMD...: one table row (CPU s, peak RSS MB, solver work from MOESIM_FLUID_STATS).
measure() {
  local label=$1; shift
  local rc=0
  ( ulimit -t "$cap_s"; MOESIM_FLUID_STATS=1 /usr/bin/time -f "%U %S %M" -o "$work/time.txt" "$@" \
      >"$work/out.txt" 2>"$work/err.txt" ) || rc=$?
  local user sys rss_kb
  read -r user sys rss_kb < <(tail -1 "$work/time.txt")
  local flows solves full fixed
  read -r flows solves full fixed < <(awk '/^fluid run:/ {f += $3; s += $5; u += substr($7, 2); x += $9}
      END {printf "%d %d %d %d\n", f, s, u, x}' "$work/err.txt")
  local note=""
  [ "$rc" -eq 0 ] || note="exit $rc (CPU cap ${cap_s} s?)"
  printf '| %s | %.2f | %.0f | %s | %s | %s | %s | %s |\n' "$label" "$(echo "$user + $sys" | bc)" \
    "$(echo "$rss_kb / 1024" | bc)" "$flows" "$solves" "$full" "$fixed" "$note"
}

# synth_trace GPUS LAYERS STEPS: the trace file (written once, kept in WORK_DIR).
synth_trace() {
  local gpus=$1 layers=$2 steps=$3
  local file="$work/zipf-${gpus}gpu-${layers}l-${steps}s.h5"
  [ -f "$file" ] || "$moesim" trace synth --experts $kExperts --top-k $kTopK --hidden $kHidden --load $kLoad \
    --tokens $((kTokensPerGpu * gpus * steps)) --steps "$steps" --layers "$layers" --seed 21 --quiet --out "$file" >/dev/null
  echo "$file"
}

# replay LABEL TRACE GPUS PLATFORM [extra flags]: measure one `moesim replay` of the trace.
replay() {
  local label=$1 trace=$2 gpus=$3 platform=$4; shift 4
  measure "$label" "$moesim" replay --trace "$trace" --gpus "$gpus" --platform "$platform" --placement eplb \
    --engine fluid --no-balanced --quiet "$@"
}

echo "| case | CPU s | peak RSS MB | flows | solves | of which full | rates set | note |"
echo "|---|---|---|---|---|---|---|---|"
for c in "${cases[@]}"; do
  case $c in
    startup)
      measure "moesim --help" "$moesim" --help
      measure "moesim trace stats --help" "$moesim" trace stats --help
      ;;
    synth)
      measure "trace synth 256 GPUs, 4 layers x 2 steps (4.2 M tokens)" "$moesim" trace synth --experts $kExperts \
        --top-k $kTopK --hidden $kHidden --load $kLoad --tokens $((kTokensPerGpu * 256 * 2)) --steps 2 --layers 4 \
        --quiet --out "$work/synth-rss.h5"
      rm -f "$work/synth-rss.h5"
      ;;
    zipf256) replay "Zipf 256 GPUs fat-tree-256, 1 layer (dispatch + combine)" "$(synth_trace 256 1 1)" 256 fat-tree-256 ;;
    zipf256-old)
      MOESIM_FLUID_FULL_SOLVE=1 replay "same, full re-solve at every event" "$(synth_trace 256 1 1)" 256 fat-tree-256 ;;
    zipf256-trace)
      replay "Zipf 256 GPUs fat-tree-256, 32 layers x 2 steps" "$(synth_trace 256 32 2)" 256 fat-tree-256 ;;
    zipf1024)
      replay "Zipf 1024 GPUs fat-tree-1024-3tier, 1 layer" "$(synth_trace 1024 1 1)" 1024 fat-tree-1024-3tier --redundant-experts 768 ;;
    zipf1024-old)
      MOESIM_FLUID_FULL_SOLVE=1 replay "same, full re-solve at every event" "$(synth_trace 1024 1 1)" 1024 fat-tree-1024-3tier --redundant-experts 768 ;;
    *) echo "unknown case '$c'" >&2; exit 2 ;;
  esac
done
