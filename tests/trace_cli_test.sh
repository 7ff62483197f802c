#!/usr/bin/env bash
# synth → stats --json through the CLI: a one-hot load (every token picks expert 2 first, since it
# holds all but a sliver of the probability) must give top-1 Gini (E-1)/E = 0.75 for E = 4.
set -euo pipefail
moesim=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$moesim" trace synth -q --layers 2 --experts 4 --top-k 1 --tokens 1000 --steps 4 \
  --load hot:2=1.0 --layer-variation 0 --out "$dir/t.h5" --json > "$dir/synth.json"
"$moesim" trace stats "$dir/t.h5" --json > "$dir/stats.json"
/usr/bin/python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
assert json.load(open(d + "/synth.json"))["tokens"] == 1000
s = json.load(open(d + "/stats.json"))
assert s["num_steps"] == 4 and s["num_tokens"] == 1000
for layer in s["layers"]:
    assert layer["loads"] == [0, 0, 1000, 0], layer["loads"]
    assert abs(layer["top1"]["gini"] - 0.75) < 1e-12
    assert layer["all"]["max_min_ratio"] is None  # infinite → null in JSON
print("trace CLI OK")
PY
