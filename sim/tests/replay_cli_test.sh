#!/usr/bin/env bash
# moesim replay end to end as a user runs it: synthesize a trace, replay it with --out, check the
# three result files and the JSON summary.
set -euo pipefail
moesim=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$moesim" trace synth --layers 2 --experts 8 --top-k 2 --tokens 2048 --steps 2 --hidden 256 --load zipf:s=1.2 \
  --out "$dir/t.h5" -q
"$moesim" replay --trace "$dir/t.h5" --platform switch:4 --placement eplb --redundant-experts 4 --out "$dir/res" -q \
  > "$dir/table.txt"
grep -q "^dispatch" "$dir/table.txt"
grep -q "straggler: GPU" "$dir/table.txt"
for f in replay.h5 a2a.csv summary.json; do test -s "$dir/res/$f" || { echo "missing $f"; exit 1; }; done
# 2 steps × 2 layers × (dispatch, combine) rows plus the header.
rows=$(wc -l < "$dir/res/a2a.csv")
[ "$rows" = 9 ] || { echo "a2a.csv has $rows lines, expected 9"; exit 1; }
ls "$dir/res" | grep -q partial && { echo "partial file left behind"; exit 1; }
"$moesim" replay --trace "$dir/t.h5" --platform switch:4 --json | grep -q '"all_to_alls": 8'
echo ok
