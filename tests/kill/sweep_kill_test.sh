#!/usr/bin/env bash
# Crash safety of sweeps, with real processes: `moesim sweep` and its workers are killed together
# with SIGKILL (as a dead node or an OOM killer would) after some scenarios finished. The rerun must
# run exactly the scenarios that had not finished (the finished ones are skipped, their result files
# untouched) and end with every scenario ok, with no half-written result ever counted.
set -uo pipefail
moesim=$(realpath "$1")
dir=$(mktemp -d)
trap 'kill -KILL -- -"$sweep" 2>/dev/null; rm -rf "$dir"' EXIT
cd "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }
n=8

# 8 scenarios of a few hundred ms each, one at a time: the kill lands between and inside scenarios.
cat > s.yaml <<'YAML'
name: kill
axes:
  seed: [1, 2, 3, 4, 5, 6, 7, 8]
steps:
  synth: moesim trace synth --layers 4 --experts 64 --top-k 8 --tokens 100000 --seed {seed} --out {dir}/t.h5 --json --quiet
  stats: moesim trace stats {dir}/t.h5 --json --quiet
YAML

# Own process group (setsid), so that one kill reaches the sweep and every worker it started.
setsid "$moesim" sweep s.yaml --out out --jobs 1 --quiet --json > run1.json 2> run1.err &
sweep=$!
done_count() { ls out/scenarios/*/result.json 2>/dev/null | wc -l; }
for _ in $(seq 1 1200); do
  [ "$(done_count)" -ge 3 ] && break
  kill -0 "$sweep" 2>/dev/null || fail "the sweep ended before it could be killed: $(cat run1.err)"
  sleep 0.05
done
kill -KILL -- -"$sweep"
wait "$sweep" 2>/dev/null
finished=$(done_count)
[ "$finished" -ge 3 ] && [ "$finished" -lt $n ] || fail "killed with $finished of $n scenarios finished: make the scenarios longer"
# Fingerprints of the finished results: the rerun must not touch them.
before=$(md5sum out/scenarios/*/result.json)
echo "killed the sweep (process group $sweep) with $finished of $n scenarios finished"

"$moesim" sweep s.yaml --out out --jobs 1 --quiet --json > run2.json 2> run2.err || fail "rerun failed: $(cat run2.err)"
/usr/bin/python3 - "$finished" "$n" <<'PY' || fail "rerun summary: $(cat run2.json)"
import csv, json, sys
finished, n = int(sys.argv[1]), int(sys.argv[2])
r = json.load(open("run2.json"))
assert (r["skipped"], r["ok"], r["failed"]) == (finished, n - finished, 0), r
rows = list(csv.DictReader(open("out/results.csv")))
assert len(rows) == n and all(row["status"] == "ok" for row in rows), rows
# 100000 tokens x top-8 picks over 64 experts: a mean load of 12500 per expert in every layer
assert all(float(row["stats.mean_over_layers.all.mean"]) == 12500 for row in rows), rows
PY
[ "$(md5sum out/scenarios/*/result.json | grep -F -f <(printf '%s\n' "$before") | wc -l)" -eq "$finished" ] \
  || fail "the rerun rewrote results that had finished before the kill"
echo "rerun: skipped $finished, ran $((n - finished)), all $n ok"
echo PASS
