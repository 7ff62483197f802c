#!/usr/bin/env bash
# Reproduces DeepEP's published normal-kernel table (deepseek-ai/DeepEP docs/legacy.md, "Normal
# kernels with NVLink and RDMA forwarding") with `moesim replay --algorithm deepep`, and writes
# analysis/studies/deepep/table.md. Routing as DeepEP's tests draw it: 4096 tokens per GPU, 256 experts,
# top-8; internode with one expert group per node and top-min(nodes, 4) groups (scores |N(0,1)|+1 are
# i.i.d., so the chosen groups and experts are uniform: `trace synth --load uniform --groups`).
#
# usage: analysis/studies/deepep/reproduce.sh BUILD_DIR [WORK_DIR [TABLE]]   (~10 s; fluid engine, which agrees
# with SimGrid per GPU: sim/src/engines_agree_test.cpp). TABLE defaults to analysis/studies/deepep/table.md.
# Exits 1 when a row predicted with the fitted link rates misses the published figure by more than 10 %.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
default_table=table.md
source "$here/study_args.sh"
rm -f "$work"/ep*.h5  # traces are drawn once per run, shared by its three link variants

# EP, published dispatch GB/s, published combine GB/s (docs/legacy.md)
rows="8 153 158
16 43 43
32 58 57
64 51 50"

# Variants: `extends` the preset with other link rates (GB/s per direction): NVLink per GPU (8 links),
# NIC per GPU.
variant() {  # preset nvlink_GBps nic_GBps out.yaml
  printf 'extends: %s\nnode:\n  nvswitch: {link_bandwidth: %sGBps}\n  nic: {bandwidth: %sGBps}\n' \
    "$1" "$(echo "$2 / 8" | bc -l)" "$3" > "$4"
}

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

preset_of() { if (( $1 == 8 )); then echo h800-cx7-node; else echo h800-cx7-$(( $1 / 8 ))node; fi; }
gbps() { $py -c "import json,sys; print(json.loads(sys.argv[1])['$2']['GBps'])" "$1"; }

# 1. Nominal links (NVLink 200 GB/s, NIC 50 GB/s) for every row.
declare -A nominal derated fitted
while read -r ep _ _; do nominal[$ep]=$(run_row "$ep" "$(preset_of "$ep")" nominal); done <<< "$rows"
# 2. NVLink at the ~160 GB/s DeepEP states as H800's maximum.
while read -r ep _ _; do
  variant "$(preset_of "$ep")" 160 50 "$work/nvl160-$ep.yaml"
  derated[$ep]=$(run_row "$ep" "$work/nvl160-$ep.yaml" nvl160)
done <<< "$rows"
# 3. Achieved link rates fitted on two rows, the others predicted: EP8 dispatch is NVLink-bound alone
#    (NVLink := 200 x published / moesim), EP32 dispatch RDMA-bound (NIC := 50 x published / moesim).
nvl_fit=$($py -c "print(round(200 * 153 / $(gbps "${nominal[8]}" dispatch), 1))")
nic_fit=$($py -c "print(round(50 * 58 / $(gbps "${nominal[32]}" dispatch), 1))")
while read -r ep _ _; do
  variant "$(preset_of "$ep")" "$nvl_fit" "$nic_fit" "$work/fit-$ep.yaml"
  fitted[$ep]=$(run_row "$ep" "$work/fit-$ep.yaml" fitted)
done <<< "$rows"

{
  echo "| #EP | phase | published GB/s | nominal (NVLink 200, NIC 50 GB/s) | error | NVLink 160 GB/s | error | fitted (NVLink $nvl_fit, NIC $nic_fit GB/s) | error | GPU 0 time, nominal µs |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  while read -r ep pub_d pub_c; do
    $py - "$ep" "$pub_d" "$pub_c" "${nominal[$ep]}" "${derated[$ep]}" "${fitted[$ep]}" <<'PY'
import json, sys
ep, pub = sys.argv[1], {"dispatch": float(sys.argv[2]), "combine": float(sys.argv[3])}
runs = [json.loads(a) for a in sys.argv[4:7]]
fit_rows = {("8", "dispatch"), ("32", "dispatch")}
for phase in ("dispatch", "combine"):
    p = pub[phase]
    cells = []
    for i, r in enumerate(runs):
        v = r[phase]["GBps"]
        err = f"{100 * (v - p) / p:+.0f} %" + (" (fitted)" if i == 2 and (ep, phase) in fit_rows else "")
        cells += [f"{v:.1f}", err]
    print(f"| {ep} | {phase} | {p:.0f} | " + " | ".join(cells) + f" | {runs[0][phase]['gpu0_time_us']:.0f} |")
PY
  done <<< "$rows"
} | tee "$table"
# The fitted column's errors (the 9th cell), fitted rows included: all within 10 %?
awk -F'|' 'NR > 2 { gsub(/[ %+]|\(fitted\)/, "", $10); e = $10 + 0; if (e < 0) e = -e; if (e > 10) bad = 1 }
           END { if (bad) { print "a fitted row misses by more than 10 %"; exit 1 } print "fitted rows: all within 10 %" }' "$table"
