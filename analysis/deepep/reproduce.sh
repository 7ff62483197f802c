#!/usr/bin/env bash
# Reproduces DeepEP's published normal-kernel table (deepseek-ai/DeepEP docs/legacy.md, "Normal
# kernels with NVLink and RDMA forwarding") with `moesim replay --algorithm deepep`, and writes
# analysis/deepep/table.md. Routing as DeepEP's tests draw it: 4096 tokens per GPU, 256 experts,
# top-8; internode with one expert group per node and top-min(nodes, 4) groups (scores |N(0,1)|+1 are
# i.i.d., so the chosen groups and experts are uniform: `trace synth --load uniform --groups`).
#
# usage: analysis/deepep/reproduce.sh BUILD_DIR [WORK_DIR]   (~1 min; both engines agree, fluid used)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
moesim=$(cd "$1" && pwd)/cli/moesim
work=${2:-$(mktemp -d)}
mkdir -p "$work"
py=/usr/bin/python3

# EP, published dispatch GB/s, published combine GB/s (docs/legacy.md)
rows="8 153 158
16 43 43
32 58 57
64 51 50"

# A variant with NVLink at the ~160 GB/s DeepEP states as H800's maximum (8 links x 20 GB/s).
nvl160() { printf 'extends: %s\nnode:\n  nvswitch: {link_bandwidth: 20GBps}\n' "$1" > "$2"; }

run_row() {  # ep platform tag
  local ep=$1 platform=$2 tag=$3 nodes=$(( $1 / 8 ))
  local groups=0 topk_groups=0
  if (( nodes > 1 )); then groups=$nodes; topk_groups=$(( nodes < 4 ? nodes : 4 )); fi
  local trace="$work/ep$ep.h5"
  [[ -f $trace ]] || "$moesim" trace synth --layers 1 --experts 256 --top-k 8 --tokens $(( 4096 * ep )) \
      --steps 1 --hidden 7168 --load uniform --groups $groups --topk-groups $topk_groups --seed 1 \
      --out "$trace" --quiet > /dev/null
  "$moesim" replay --trace "$trace" --platform "$platform" --algorithm deepep --engine fluid --no-balanced \
      --dispatch-bytes 7392 --combine-bytes 14336 --out "$work/ep$ep-$tag" --quiet > /dev/null
  $py "$here/bandwidth.py" "$trace" "$work/ep$ep-$tag" "$ep" 8
}

{
  echo "| #EP | phase | published GB/s | moesim GB/s (nominal) | error | moesim GB/s (NVLink 160 GB/s) | error | GPU 0 time (nominal) µs |"
  echo "|---|---|---|---|---|---|---|---|"
  while read -r ep pub_d pub_c; do
    if (( ep == 8 )); then preset=h800-cx7-node; else preset=h800-cx7-$(( ep / 8 ))node; fi
    nvl160 "$preset" "$work/$preset-nvl160.yaml"
    nominal=$(run_row "$ep" "$preset" nominal)
    derated=$(run_row "$ep" "$work/$preset-nvl160.yaml" nvl160)
    $py - "$ep" "$pub_d" "$pub_c" "$nominal" "$derated" <<'PY'
import json, sys
ep, pub = sys.argv[1], {"dispatch": float(sys.argv[2]), "combine": float(sys.argv[3])}
nom, der = json.loads(sys.argv[4]), json.loads(sys.argv[5])
for phase in ("dispatch", "combine"):
    a, b = nom[phase]["GBps"], der[phase]["GBps"]
    p = pub[phase]
    print(f"| {ep} | {phase} | {p:.0f} | {a:.1f} | {100 * (a - p) / p:+.0f} % | {b:.1f} | {100 * (b - p) / p:+.0f} % "
          f"| {nom[phase]['gpu0_time_us']:.0f} |")
PY
  done <<< "$rows"
} | tee "$here/table.md"
