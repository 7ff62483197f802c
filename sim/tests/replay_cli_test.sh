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
# 2 steps × 2 layers × (dispatch, combine, layer) rows plus the header.
rows=$(wc -l < "$dir/res/a2a.csv")
[ "$rows" = 13 ] || { echo "a2a.csv has $rows lines, expected 13"; exit 1; }
if ls -a "$dir" "$dir/res" | grep -q partial; then echo "partial file left behind"; exit 1; fi
# summary.json records what the replay resolved: hidden 256 -> 256 B per token dispatched (FP8),
# 512 B combined (BF16), 4 GPUs; and the layer phase beside the all-to-alls.
/usr/bin/python3 - "$dir/res/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
st = s["settings"]
assert (st["dispatch_bytes_per_token"], st["combine_bytes_per_token"], st["hidden_size"], st["gpus"]) == (256, 512, 256, 4), st
assert st["placement"].startswith("eplb"), st
assert s["phases"]["layer"]["count"] == 4 and "population" in s["phases"]["layer"], s["phases"]["layer"]
# A layer is at least its slowest dispatch plus its slowest combine... never less than either.
assert s["phases"]["layer"]["time_s"]["max"] >= s["phases"]["dispatch"]["time_s"]["max"]
PY
# The same configuration again replaces the folder; another one is refused (its results would be lost).
"$moesim" replay --trace "$dir/t.h5" --platform switch:4 --placement eplb --redundant-experts 4 --out "$dir/res" -q >/dev/null
set +e
"$moesim" replay --trace "$dir/t.h5" --platform switch:4 --out "$dir/res" -q > /dev/null 2> "$dir/err.txt"
code=$?
set -e
[ "$code" = 2 ] || { echo "rerun with another configuration exited $code, expected 2"; exit 1; }
grep -q "another configuration" "$dir/err.txt" || { echo "unexpected message: $(cat "$dir/err.txt")"; exit 1; }
"$moesim" replay --trace "$dir/t.h5" --platform switch:4 --json > "$dir/out.json"
grep -q '"all_to_alls": 8' "$dir/out.json"
echo ok
