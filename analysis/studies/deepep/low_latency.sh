#!/usr/bin/env bash
# DeepEP's low-latency kernels (deepseek-ai/DeepEP README, "Low-latency kernels with pure RDMA", the
# table after #173 "low-latency kernels now leverage NVLink as much as possible"): 128 tokens per GPU,
# hidden 7168, top-8 of 256 experts, FP8 dispatch / BF16 combine, H800 + CX7 400 Gb/s, EP 8 ... 256.
#
# What the low-latency kernels do, as moesim can say it: every (token, expert) pair is its own message
# (no per-GPU or per-node dedup: `--no-dedup`), sent directly to the GPU holding the expert — over
# NVLink inside a node, over the GPU's own NIC to the destination's NIC across nodes (IBGDA, no
# forwarding): `--algorithm direct` on the h800-cx7 presets. Bytes per message as DeepEP's
# tests/test_low_latency.py counts them: FP8 hidden + one float scale per 128 + 16 B of metadata =
# 7408 B (dispatch), BF16 hidden = 14336 B (combine). Latency = GPU 0's phase time (its kernel time
# on rank 0, bench_kineto), plus one fixed per-kernel cost (--launch-us) fitted on one row (EP32
# dispatch) and applied to the eleven others.
#
# usage: analysis/studies/deepep/low_latency.sh BUILD_DIR [WORK_DIR [TABLE]]   (~10 min on one idle core: EP256 is
#   65,280 flows of distinct sizes on the exact fluid engine)
# Writes analysis/studies/deepep/low_latency.md; exits 1 when a predicted row misses by more than 15 %.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
default_table=low_latency.md
source "$here/study_args.sh"
readonly kTokensPerGpu=128 kDispatchBytes=7408 kCombineBytes=14336

# EP, published dispatch µs, published combine µs (README, after #173)
rows="8 77 114
16 118 195
32 155 273
64 173 314
128 192 369
256 194 360"

platform_of() {  # EP -> preset or a file extending the 8-node one (16 and 32 nodes: same leaves, more ports)
  local nodes=$(( $1 / 8 ))
  if (( nodes == 1 )); then echo h800-cx7-node; return; fi
  if (( nodes <= 8 )); then echo "h800-cx7-${nodes}node"; return; fi
  printf 'extends: h800-cx7-8node\nname: h800-cx7-%snode\nnodes: %s\n' "$nodes" "$nodes" > "$work/h800-cx7-${nodes}node.yaml"
  echo "$work/h800-cx7-${nodes}node.yaml"
}

# replay_row EP LAUNCH_US -> "dispatch_us combine_us" (GPU 0's phase times)
replay_row() {
  local ep=$1 launch_us=$2 trace="$work/ll-ep$1.h5" out="$work/ll-ep$1-$2"
  [[ -f $trace ]] || "$moesim" trace synth --layers 1 --experts 256 --top-k 8 --tokens $(( kTokensPerGpu * ep )) \
      --steps 1 --hidden 7168 --load uniform --seed 1 --out "$trace" --quiet > /dev/null
  "$moesim" replay --trace "$trace" --platform "$(platform_of "$ep")" --algorithm direct --no-dedup --engine fluid \
      --no-balanced --dispatch-bytes $kDispatchBytes --combine-bytes $kCombineBytes --launch-us "$launch_us" \
      --out "$out" --quiet > /dev/null
  $py - "$out/replay.h5" <<'PY'
import sys
import h5py
g = h5py.File(sys.argv[1], "r")["gpu"]
phase, gpu = g["phase"][...], g["gpu"][...]
time_s = g["finish_s"][...] - g["start_s"][...]
print(" ".join(f"{float(time_s[(phase == p) & (gpu == 0)][0]) * 1e6:.3f}" for p in (0, 1)))
PY
}

# 1. No fixed cost: the network alone. 2. The fixed cost fitted on EP32 dispatch, every row again.
declare -A bare fitted
while read -r ep _ _; do bare[$ep]=$(replay_row "$ep" 0); done <<< "$rows"
launch_us=$($py -c "print(round(155 - float('${bare[32]}'.split()[0]), 1))")
while read -r ep _ _; do fitted[$ep]=$(replay_row "$ep" "$launch_us"); done <<< "$rows"

{
  echo "| #EP | phase | published µs | moesim, network only µs | moesim + ${launch_us} µs per kernel (fitted on EP32 dispatch) | error |"
  echo "|---|---|---|---|---|---|"
  while read -r ep pub_d pub_c; do
    read -r bd bc <<< "${bare[$ep]}"
    read -r fd fc <<< "${fitted[$ep]}"
    $py - "$ep" "$pub_d" "$bd" "$fd" dispatch <<'PY'
import sys
ep, pub, bare, fit, phase = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
note = " (fitted)" if (ep, phase) == ("32", "dispatch") else ""
print(f"| {ep} | {phase} | {pub:.0f} | {bare:.1f} | {fit:.1f} | {100 * (fit - pub) / pub:+.0f} %{note} |")
PY
    $py - "$ep" "$pub_c" "$bc" "$fc" combine <<'PY'
import sys
ep, pub, bare, fit, phase = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
print(f"| {ep} | {phase} | {pub:.0f} | {bare:.1f} | {fit:.1f} | {100 * (fit - pub) / pub:+.0f} % |")
PY
  done <<< "$rows"
} | tee "$table"
awk -F'|' 'NR > 2 { gsub(/[ %+]|\(fitted\)/, "", $7); e = $7 + 0; if (e < 0) e = -e; if (e > 15) bad = 1 }
           END { if (bad) { print "a predicted row misses by more than 15 %"; exit 1 } print "predicted rows: all within 15 %" }' "$table"
