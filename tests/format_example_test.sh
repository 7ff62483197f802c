#!/usr/bin/env bash
# Keeps traces/FORMAT.md true: its h5py example must produce a trace that moesim reads, with the
# loads the example wrote (layer 0: experts 0..3 twice... see below).
set -euo pipefail
moesim=$1
src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
sed -n '/^```python/,/^```$/p' "$src/traces/FORMAT.md" | sed '1d;$d' > example.py
/usr/bin/python3 example.py
"$moesim" trace stats mine.h5 --json > stats.json
# Loads of the example's ids [[0,1],[2,3],[4,5],[6,7],[0,2],[1,3]]: experts 0-3 twice, 4-7 once.
/usr/bin/python3 - <<'PY'
import json
s = json.load(open("stats.json"))
loads = s["layers"][0]["loads"]
assert loads == [2, 2, 2, 2, 1, 1, 1, 1], loads
assert abs(s["layers"][0]["all"]["max_mean_ratio"] - 2 / 1.5) < 1e-12
print("FORMAT.md example OK")
PY
