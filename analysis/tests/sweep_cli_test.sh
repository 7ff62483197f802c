#!/usr/bin/env bash
# `moesim sweep` as a batch script uses it: exit codes, resume, dry run, the Slurm script, collect.
# Usage: sweep_cli_test.sh MOESIM
set -euo pipefail
moesim=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*" >&2; exit 1; }

# 2 x 2 grid; top-k 9 of 8 experts is bad input, so 2 of 4 scenarios fail.
cat > s.yaml <<'YAML'
name: cli
parameters: {experts: 8}
axes:
  k: [2, 9]
  seed: [1, 2]
steps:
  synth: moesim trace synth --layers 1 --experts {experts} --top-k {k} --tokens 512 --seed {seed} --out {dir}/t.h5 --json --quiet
  stats: moesim trace stats {dir}/t.h5 --json --quiet
YAML

[ "$("$moesim" sweep s.yaml --dry-run --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["scenarios"]))')" = 4 ] \
  || fail "dry run should list 4 scenarios"
[ ! -e out ] || fail "dry run must not write anything"

set +e
"$moesim" sweep s.yaml --out out --jobs 2 --quiet --json > run1.json 2> run1.err
rc=$?
set -e
[ $rc = 1 ] || fail "a sweep with failed scenarios exits 1, got $rc"
grep -q "failed in step 'synth': moesim: error: --top-k must be in 1..8" run1.err || fail "failure not reported: $(cat run1.err)"
/usr/bin/python3 - <<'PY'
import csv, json
r = json.load(open("run1.json"))
assert (r["ok"], r["failed"], r["skipped"]) == (2, 2, 0), r
rows = list(csv.DictReader(open("out/results.csv")))
assert [row["status"] for row in rows] == ["ok", "ok", "failed", "failed"], rows
assert [row["k"] for row in rows] == ["2", "2", "9", "9"] and [row["seed"] for row in rows] == ["1", "2", "1", "2"]
# 512 tokens x top-2 over 8 experts: every layer's loads sum to 1024 picks.
assert all(row["stats.mean_over_layers.all.total"] == "1024" for row in rows[:2]), rows
assert rows[2]["error"].endswith("--top-k must be in 1..8 (the number of experts)"), rows[2]["error"]
PY

# Rerun: the ok scenarios are skipped, the failed ones retried (and fail again).
set +e
"$moesim" sweep s.yaml --out out --quiet --json > run2.json 2>/dev/null
set -e
/usr/bin/python3 -c 'import json; r=json.load(open("run2.json")); assert (r["skipped"], r["failed"]) == (2, 2), r'

# Slurm script + collect (collect exits 1 while scenarios are failed or missing).
"$moesim" sweep s.yaml --slurm --out out --chunk-size 3 --sbatch-option=--partition=short --quiet > /dev/null
grep -q '^#SBATCH --array=0-1$' out/sweep.sbatch || fail "4 scenarios in chunks of 3 make array 0-1"
grep -q '^#SBATCH --partition=short$' out/sweep.sbatch || fail "--sbatch-option not written"
set +e
"$moesim" sweep collect out --json > collect.json
rc=$?
set -e
[ $rc = 1 ] || fail "collect with failed scenarios exits 1, got $rc"
/usr/bin/python3 -c 'import json; r=json.load(open("collect.json")); assert (r["ok"], r["failed"], r["missing"]) == (2, 2, 0), r'

# One array task's chunk by hand: task 1 of chunk 3 is scenario 3 only.
rm -rf out2 && "$moesim" sweep s.yaml --out out2 --task 1 --chunk-size 3 --quiet --json > task.json 2>/dev/null || true
/usr/bin/python3 -c 'import json; r=json.load(open("task.json")); assert r["selected"] == 1 and "table" not in r, r'
# --set fixes an axis; --show prints chosen columns as a table.
"$moesim" sweep s.yaml --set k=2 --out out3 --quiet --show seed,stats.mean_over_layers.all.total > show.txt
[ "$(sed -n 1p show.txt | tr -s ' ')" = "seed stats.mean_over_layers.all.total" ] || fail "--show header: $(cat show.txt)"
[ "$(sed -n 2,3p show.txt | tr -s ' ' | tr '\n' ';')" = "1 1024;2 1024;" ] || fail "--show rows: $(cat show.txt)"
# SIGTERM (scancel, kill) stops the sweep and every command it runs, not just the sweep itself.
cat > slow.yaml <<'YAML'
axes: {seed: [101, 102, 103]}
steps:
  synth: moesim trace synth --layers 16 --experts 8 --top-k 2 --tokens 4194304 --seed {seed} --out {dir}/t.h5 --json --quiet
YAML
"$moesim" sweep slow.yaml --out slow --jobs 2 --quiet > /dev/null 2> slow.err &
sweep_pid=$!
for _ in $(seq 50); do [ "$(ls slow/scenarios 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.1; done
sleep 0.3
kill -TERM $sweep_pid
set +e
wait $sweep_pid
rc=$?
set -e
[ $rc = 143 ] || fail "a sweep stopped by SIGTERM dies of it (143), got $rc"
sleep 0.3
! pgrep -f -- "--seed 10[123] --out $tmp/slow" > /dev/null || fail "commands still running after the sweep was stopped"
grep -q "stopped by signal 15" slow.err || fail "no stop message: $(cat slow.err)"
echo ok
