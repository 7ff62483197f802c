#!/usr/bin/env bash
# The kept mask end to end (trace format 1.1): assign-eval's strategies count dropped pairs inside the
# model (torch); the traces they write carry a kept mask that `trace stats` counts on its own. The two
# counts must agree, a topk trace has no mask, expert choice's trace has E slots per token, and the
# replay sends fewer token copies when pairs are dropped.
# Usage: assign_eval_kept_test.sh MOESIM MODEL_DIR IDS_FILE
set -euo pipefail
moesim=$1 model=$2 ids=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$moesim" assign-eval --model "$model" --ids-file "$ids" --seq 8 --batch 4 --strategy topk \
  --strategy capacity:factor=0.5 --strategy expert_choice:capacity=1.0 --platform switch:8 --quiet --json \
  --out "$dir" > "$dir/eval.json"
for i in 0 1 2; do "$moesim" trace stats "$dir/trace_$i.h5" --json --quiet > "$dir/stats_$i.json"; done
"$moesim" replay --trace "$dir/trace_0.h5" --platform switch:8 --json --quiet > "$dir/replay_0.json"
"$moesim" replay --trace "$dir/trace_1.h5" --platform switch:8 --json --quiet > "$dir/replay_1.json"
/usr/bin/python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
ev = json.load(open(f"{d}/eval.json"))["strategies"]
st = [json.load(open(f"{d}/stats_{i}.json")) for i in range(3)]
assert not st[0]["has_kept_mask"] and st[0]["drop_rate"] == 0, st[0]["drop_rate"]
for i in (1, 2):
    assert st[i]["has_kept_mask"], i
    model_pct = ev[i]["dropped_pairs_pct"]
    trace_pct = 100 * st[i]["drop_rate"]
    assert model_pct > 5, (i, model_pct)
    assert abs(model_pct - trace_pct) < 1e-9, (i, model_pct, trace_pct)
    # loads over kept pairs: the per-layer loads the strategy reported, exactly
    for l, layer in enumerate(st[i]["layers"]):
        assert layer["loads"] == ev[i]["layers"][l]["expert_load"], (i, l)
assert st[1]["top_k"] == 2 and st[2]["top_k"] == 8 and st[2]["router_top_k"] == 2, (st[1]["top_k"], st[2]["top_k"])
r0, r1 = (json.load(open(f"{d}/replay_{i}.json"))["traffic"] for i in (0, 1))
kept = sum(l["kept_pairs"] for l in st[1]["layers"])
assert r1["assignments"] == kept < r0["assignments"], (r1["assignments"], kept, r0["assignments"])
assert r1["token_copies_sent"] < r0["token_copies_sent"], (r1, r0)
print("kept mask ok: capacity drops", ev[1]["dropped_pairs_pct"], "% of pairs; expert choice", ev[2]["dropped_pairs_pct"], "%")
PY
echo ok
