#!/usr/bin/env bash
# moesim replay's scale options end to end: --fluid-merge (the approximate mode says so in every
# output) and --ep-size (concurrent EP groups, each against group 0 alone).
set -euo pipefail
moesim=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$moesim" trace synth --layers 2 --experts 8 --top-k 2 --tokens 2048 --steps 1 --hidden 256 --load zipf:s=1.2 \
  --out "$dir/t.h5" -q
"$moesim" replay --trace "$dir/t.h5" --platform switch:4 --engine fluid --fluid-merge 1e-2 -q > "$dir/table.txt"
grep -q "^APPROXIMATE: --fluid-merge 0.01" "$dir/table.txt" || { echo "no APPROXIMATE line"; cat "$dir/table.txt"; exit 1; }
"$moesim" replay --trace "$dir/t.h5" --platform switch:4 --engine fluid --fluid-merge 1e-2 --json > "$dir/approx.json"
"$moesim" replay --trace "$dir/t.h5" --platform switch:4 --engine fluid --json > "$dir/exact.json"
"$moesim" replay --trace "$dir/t.h5" --platform cluster:2:4 --engine fluid --ep-size 4 --ep-layout spread --json \
  > "$dir/groups.json"
"$moesim" replay --trace "$dir/t.h5" --platform cluster:2:4 --ep-size 4 -q > "$dir/groups.txt"
# --out: summary.json (what --json prints) and groups.csv, the rows the P99s come from.
"$moesim" replay --trace "$dir/t.h5" --platform cluster:2:4 --engine fluid --ep-size 4 --ep-layout spread -q \
  --out "$dir/groups_out" > /dev/null
status=0
"$moesim" replay --trace "$dir/t.h5" --platform cluster:2:4 --engine fluid --ep-size 2 -q --out "$dir/groups_out" \
  > /dev/null 2> "$dir/other_config.err" || status=$?
[ "$status" = 2 ] && grep -q "another configuration" "$dir/other_config.err" ||
  { echo "another configuration into the same --out: exit $status"; cat "$dir/other_config.err"; exit 1; }
grep -q "^0 alone" "$dir/groups.txt" || { echo "no alone row"; cat "$dir/groups.txt"; exit 1; }
/usr/bin/python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
a, e, g = (json.load(open(f"{d}/{n}.json")) for n in ("approx", "exact", "groups"))
assert a["settings"]["approximate"] is True and a["settings"]["fluid_merge"] == 0.01, a["settings"]
assert a["config"]["fluid_merge"] == 0.01, a["config"]
assert e["settings"]["approximate"] is False and "fluid_merge" not in e["config"], e["config"]
for p in ("dispatch", "combine", "layer"):
    x, y = a["phases"][p]["time_s"]["p99"], e["phases"][p]["time_s"]["p99"]
    assert abs(x - y) <= 0.02 * y, (p, x, y)
s = g["settings"]
assert (s["gpus"], s["ep_size"], s["groups"], s["layout"]) == (8, 4, 2, "spread"), s
assert [grp["gpus"] for grp in g["groups"]] == [[0, 4, 1, 5], [2, 6, 3, 7]], g["groups"]
assert g["layers"] == 2 and g["alone"]["layer_p99_s"] > 0, g
# One NIC per GPU on a non-blocking switch: the groups do not slow each other.
assert all(abs(grp["slowdown_vs_alone"] - 1) < 1e-6 for grp in g["groups"]), g["groups"]
# The --out folder: the same figures as --json, and per (step, layer) 2 groups together + group 0 alone.
o = json.load(open(f"{d}/groups_out/summary.json"))
assert o["groups"] == g["groups"] and o["alone"] == g["alone"] and o["config"]["ep_size"] == 4, o
import csv
rows = list(csv.DictReader(open(f"{d}/groups_out/groups.csv")))
assert [(r["step"], r["layer"], r["run"], r["group"]) for r in rows] == [
    ("0", l, run, k) for l in ("0", "1") for run, k in (("together", "0"), ("together", "1"), ("alone", "0"))], rows
for grp in g["groups"]:
    layer_s = [float(r["layer_s"]) for r in rows if r["run"] == "together" and int(r["group"]) == grp["group"]]
    assert min(layer_s) * (1 - 1e-9) <= grp["layer_p99_s"] <= max(layer_s) * (1 + 1e-9), (grp, layer_s)
PY
echo ok
