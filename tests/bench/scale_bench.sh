#!/usr/bin/env bash
# This benchmark shows what skewed workloads at scale cost: skewed (Zipf) MoE all-to-alls replayed with
# the fluid engine at 256 and 1024 GPUs, the same with the non-incremental solver (every flow
# re-solved at every event, MOESIM_FLUID_FULL_SOLVE=1), `trace synth` memory, and start-up.
# Figures are printed, never asserted: CPU seconds (user + system, the simulation's forked
# processes included), peak RSS, max-min solves (of which from scratch) and rates set.
#
# Run: tests/bench/scale_bench.sh BUILD_DIR [WORK_DIR] [CASE...]
#   BUILD_DIR: a Release build (-DMOESIM_WITH_TORCH=OFF is enough); WORK_DIR keeps the traces
#   (default /tmp/moesim-scale-bench). CASE: zipf256, zipf256-old, zipf256-trace, zipf1024,
#   zipf1024-old, synth, startup, changes (MOESIM_FLUID_CHANGES=1 on the 256- and 512-GPU layers: per
#   event, links whose fair level changes, flows whose bottleneck changes, the fan-out a level change
#   needs and its oracle CPU time; prints the solver's own lines; run it alone), approx (--fluid-merge against exact: prints its own table; run it
#   alone), threads (--threads 1 and 2 on a multi-layer trace: prints its own table; run it alone;
#   MOESIM_BENCH_THREADS sets the counts, default "1 2"; a count of 1 passes no --threads, so an
#   older build runs it too), ep1024, ep16384, ep16384-rails, preset16384 (default: startup synth zipf256 zipf1024
#   zipf256-trace).
#   MOESIM_BENCH_CPU_CAP_S caps each case's CPU time (default 600).
set -euo pipefail

build=${1:?usage: scale_bench.sh BUILD_DIR [WORK_DIR] [CASE...]}
work=${2:-/tmp/moesim-scale-bench}
shift $(( $# >= 2 ? 2 : 1 ))
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(startup synth zipf256 zipf1024 zipf256-trace)
moesim=$build/cli/moesim
here=$(cd "$(dirname "$0")" && pwd)
cap_s=${MOESIM_BENCH_CPU_CAP_S:-600}
mkdir -p "$work"

# The workload: 256 experts, top-8, 8192 tokens per GPU, hidden 7168, Zipf s = 1.2; EPLB
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

# synth_trace_e GPUS EXPERTS: one layer, one step, 8192 tokens per GPU, EXPERTS experts.
synth_trace_e() {
  local gpus=$1 experts=$2
  local file="$work/zipf-${gpus}gpu-${experts}e.h5"
  [ -f "$file" ] || "$moesim" trace synth --experts "$experts" --top-k $kTopK --hidden $kHidden --load $kLoad \
    --tokens $((kTokensPerGpu * gpus)) --steps 1 --layers 1 --seed 21 --quiet --out "$file" >/dev/null
  echo "$file"
}

# replay LABEL TRACE GPUS PLATFORM [extra flags]: measure one `moesim replay` of the trace.
replay() {
  local label=$1 trace=$2 gpus=$3 platform=$4; shift 4
  measure "$label" "$moesim" replay --trace "$trace" --gpus "$gpus" --platform "$platform" --placement eplb \
    --engine fluid --no-balanced --quiet "$@"
}

# approx_rows LABEL TRACE GPUS PLATFORM: the exact fluid engine and --fluid-merge at each tolerance of
# MOESIM_BENCH_MERGE (default 1e-3 1e-2 5e-2); error of P99 dispatch / combine / layer against exact,
# simulation CPU s and peak RSS (the simulation process's, from --json) and solves.
approx_rows() {
  local label=$1 trace=$2 gpus=$3 platform=$4
  for rel in 0 ${MOESIM_BENCH_MERGE:-1e-3 1e-2 5e-2}; do
    ( ulimit -t "$cap_s"; MOESIM_FLUID_STATS=1 "$moesim" replay --trace "$trace" --gpus "$gpus" --platform "$platform" \
        --placement eplb --engine fluid --no-balanced --quiet --json --fluid-merge "$rel" >"$work/approx-$rel.json" \
        2>"$work/approx-$rel.err" ) || echo "| $label | $rel | exit $? |"
  done
  /usr/bin/python3 - "$work" "$label" ${MOESIM_BENCH_MERGE:-1e-3 1e-2 5e-2} <<'PY'
import json, re, sys
work, label, rels = sys.argv[1], sys.argv[2], sys.argv[3:]
def load(rel):
    j = json.load(open(f"{work}/approx-{rel}.json"))
    solves = sum(int(m.group(1)) for m in re.finditer(r"(\d+) solves", open(f"{work}/approx-{rel}.err").read()))
    p = j["phases"]
    sim = j["simulation"]
    return [p[k]["time_s"]["p99"] for k in ("dispatch", "combine", "layer")], sim["cpu_s"], sim["peak_rss_bytes"] / 1e6, solves
exact, cpu0, rss0, solves0 = load(0)
print(f"| {label} | exact | {exact[0]*1e6:.2f} / {exact[1]*1e6:.2f} / {exact[2]*1e6:.2f} us | | {cpu0:.2f} | {rss0:.0f} | {solves0} | |")
for rel in rels:
    t, cpu, rss, solves = load(rel)
    err = " / ".join(f"{(a - b) / b * 100:+.3f} %" for a, b in zip(t, exact))
    print(f"| {label} | {rel} | | {err} | {cpu:.2f} | {rss:.0f} | {solves} | {cpu0 / cpu if cpu > 0 else float('inf'):.1f}x |")
PY
}

# threads_rows LABEL TRACE GPUS PLATFORM: the replay with each thread count of MOESIM_BENCH_THREADS
# (default 1 2): wall s of the whole command, the simulation's wall s, CPU s (all threads) and peak
# RSS (from --json), speed-up against the first count, and whether the results are identical to
# the first count's (the JSON without its simulation cost block and settings.threads).
threads_rows() {
  local label=$1 trace=$2 gpus=$3 platform=$4
  local counts=(${MOESIM_BENCH_THREADS:-1 2})
  for n in "${counts[@]}"; do
    local flag=()
    [ "$n" -eq 1 ] || flag=(--threads "$n")
    local start_s; start_s=$(date +%s.%N)
    ( ulimit -t "$cap_s"; "$moesim" replay --trace "$trace" --gpus "$gpus" --platform "$platform" --placement eplb \
        --engine fluid --no-balanced --quiet --json "${flag[@]}" >"$work/threads-$n.json" ) || echo "| $label | $n | exit $? |"
    awk -v end_s="$(date +%s.%N)" -v start_s="$start_s" 'BEGIN { print end_s - start_s }' >"$work/threads-$n.time"
  done
  /usr/bin/python3 - "$work" "$label" "${counts[@]}" <<'PY'
import json, sys
work, label, counts = sys.argv[1], sys.argv[2], sys.argv[3:]
def load(n):
    j = json.load(open(f"{work}/threads-{n}.json"))
    sim = j.pop("simulation")
    j["settings"].pop("threads", None)
    return j, sim, float(open(f"{work}/threads-{n}.time").read().split()[-1])
base, base_sim, _ = load(counts[0])
for n in counts:
    j, sim, wall = load(n)
    print(f"| {label} | {n} | {wall:.2f} | {sim['wall_s']:.2f} | {sim['cpu_s']:.2f} | {sim['peak_rss_bytes'] / 1e6:.0f} | "
          f"{base_sim['wall_s'] / sim['wall_s']:.2f}x | {'yes' if j == base else 'NO'} |")
PY
}

if [[ " ${cases[*]} " == *" threads "* ]]; then
  echo "| workload | threads | command wall s | simulation wall s | simulation CPU s | peak RSS MB | speed-up | results identical to the first row |"
  echo "|---|---|---|---|---|---|---|---|"
elif [[ " ${cases[*]} " == *" changes "* ]]; then
  :  # prints the solver's own lines
elif [[ " ${cases[*]} " == *" approx"* ]]; then
  echo "| workload | --fluid-merge | exact P99 dispatch / combine / layer | error dispatch / combine / layer | sim CPU s | sim peak RSS MB | solves | speed-up |"
  echo "|---|---|---|---|---|---|---|---|"
else
  echo "| case | CPU s | peak RSS MB | flows | solves | of which full | rates set | note |"
  echo "|---|---|---|---|---|---|---|---|"
fi
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
    changes)  # what a solver storing rates per bottleneck link would have to do (sim/README.md)
      for spec in "256 fat-tree-256 0" "512 fat-tree-1024-3tier 256"; do
        read -r gpus platform redundant <<<"$spec"
        echo "## Zipf $gpus GPUs $platform, 1 layer"
        ( ulimit -t "$cap_s"; MOESIM_FLUID_CHANGES=1 "$moesim" replay --trace "$(synth_trace "$gpus" 1 1)" --gpus "$gpus" \
            --platform "$platform" --placement eplb --redundant-experts "$redundant" --engine fluid --no-balanced --quiet \
            2>&1 >/dev/null | awk '/changes per event/ {skip = /so far/} !skip' ) || echo "exit $? (CPU cap ${cap_s} s?)"
      done
      ;;
    approx)  # --fluid-merge against the exact engine (this case prints its own table)
      approx_rows "Zipf 64 GPUs, 64 experts, switch:64" "$(synth_trace_e 64 64)" 64 switch:64
      approx_rows "Zipf 64 GPUs, 256 experts, switch:64" "$(synth_trace_e 64 256)" 64 switch:64
      approx_rows "Zipf 64 GPUs, 256 experts, fat-tree-256 (first 64)" "$(synth_trace_e 64 256)" 64 fat-tree-256
      approx_rows "Zipf 256 GPUs, 256 experts, switch:256" "$(synth_trace_e 256 256)" 256 switch:256
      approx_rows "Zipf 256 GPUs, 256 experts, fat-tree-256" "$(synth_trace_e 256 256)" 256 fat-tree-256
      ;;
    threads)  # --threads: (step, layer) blocks on worker threads (this case prints its own table)
      threads_rows "Zipf 64 GPUs fat-tree-256 (first 64), 8 layers x 1 step" "$(synth_trace 64 8 1)" 64 fat-tree-256
      threads_rows "Zipf 256 GPUs fat-tree-256, 4 layers x 1 step" "$(synth_trace 256 4 1)" 256 fat-tree-256
      ;;
    ep1024)  # 1024 GPUs as 16 EP groups of 64 on the 2:1 tree, exact, both layouts
      for layout in packed spread; do
        measure "1024 GPUs as 16 x EP 64 ($layout), fat-tree-1024-3tier-2to1, exact, 1 layer + group 0 alone" \
          "$moesim" replay --trace "$(synth_trace_e 64 256)" --platform fat-tree-1024-3tier-2to1 --ep-size 64 \
          --ep-layout "$layout" --placement eplb --engine fluid --quiet
        grep -E "^(0 alone|0 |[0-9]+ .*\(slowest\))" "$work/out.txt" | sed 's/^/    /'
      done
      ;;
    ep16384)  # 16384 GPUs as 256 EP groups of 64, approximate mode (the exact engine is out of reach)
      measure "16384 GPUs as 256 x EP 64 (packed), fat-tree-16384-3tier, --fluid-merge 1e-2, 1 layer + group 0 alone" \
        "$moesim" replay --trace "$(synth_trace_e 64 256)" --platform "$here/../../platforms/fat-tree-16384-3tier.yaml" \
        --ep-size 64 --placement eplb --engine fluid --fluid-merge 1e-2 --quiet
      grep -E "^(0 alone|0 |[0-9]+ .*\(slowest\))" "$work/out.txt" | sed 's/^/    /'
      ;;
    ep16384-rails)  # the same on the rail-optimized 16384-GPU preset, both layouts
      for layout in packed spread; do
        measure "16384 GPUs as 256 x EP 64 ($layout), rail-optimized-16384-3tier, --fluid-merge 1e-2, 1 layer + group 0 alone" \
          "$moesim" replay --trace "$(synth_trace_e 64 256)" \
          --platform "$here/../../platforms/rail-optimized-16384-3tier.yaml" --ep-size 64 --ep-layout "$layout" \
          --placement eplb --engine fluid --fluid-merge 1e-2 --quiet
        grep -E "^(0 alone|0 |[0-9]+ .*\(slowest\))" "$work/out.txt" | sed 's/^/    /'
      done
      ;;
    preset16384)  # building the 16384-GPU preset in SimGrid (2 GPUs used: the build is the cost)
      printf '0,1000000\n1000000,0\n' >"$work/m2.csv"
      measure "fat-tree-16384-3tier: SimGrid platform build (+ one 2-GPU flow pair)" "$moesim" replay \
        --matrix "$work/m2.csv" --gpus 2 --platform "$here/../../platforms/fat-tree-16384-3tier.yaml" --engine fluid --quiet
      ;;
    *) echo "unknown case '$c'" >&2; exit 2 ;;
  esac
done
