#!/usr/bin/env bash
# Regression: `kill -9` of only the sweep's parent process (its workers run in process groups of
# their own) left the workers running on. Each worker now has PR_SET_PDEATHSIG = SIGKILL: once the
# parent is dead, no worker of it may remain. Also: a second sweep on the same folder while the
# first runs refuses with one line (exit 1), and the first one's table has no failed row.
set -uo pipefail
moesim=$(realpath "$1")
dir=$(mktemp -d)
cleanup() { [ -n "${workers:-}" ] && kill -KILL $workers 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }

# Two scenarios that each take far longer than the test (100 M tokens), two at once.
cat > s.yaml <<'YAML'
name: parent-kill
axes:
  seed: [1, 2]
steps:
  synth: moesim trace synth --layers 8 --experts 64 --top-k 8 --tokens 100000000 --seed {seed} --out {dir}/t.h5 --json --quiet
YAML
"$moesim" sweep s.yaml --out out --jobs 2 --quiet --json > run1.json 2> run1.err &
sweep=$!
workers=""
for _ in $(seq 1 600); do
  workers=$(pgrep -P "$sweep" | tr '\n' ' ')
  [ "$(wc -w <<<"$workers")" -ge 2 ] && break
  kill -0 "$sweep" 2>/dev/null || fail "the sweep ended early: $(cat run1.err)"
  sleep 0.05
done
[ "$(wc -w <<<"$workers")" -ge 2 ] || fail "the sweep did not start 2 workers"

# The folder is in use: a second sweep must refuse at once, touching nothing.
out=$("$moesim" sweep s.yaml --out out --jobs 1 --quiet --json 2>&1 >/dev/null)
rc=$?
[ "$rc" -eq 1 ] || fail "a second sweep on the same folder exited $rc (want 1): $out"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "want one line, got: $out"
grep -q "another moesim sweep is running in this folder" <<<"$out" || fail "unclear message: $out"
echo "second sweep: exit 1, '$out'"

kill -KILL "$sweep"
wait "$sweep" 2>/dev/null
# The kernel sends the death signal as the parent exits; give the scheduler a moment to reap.
for _ in $(seq 1 200); do
  alive=""
  for w in $workers; do kill -0 "$w" 2>/dev/null && [ "$(ps -o stat= -p "$w" | cut -c1)" != Z ] && alive="$alive $w"; done
  [ -z "$alive" ] && break
  sleep 0.05
done
[ -z "$alive" ] || fail "workers still running after the sweep was killed:$alive"
workers=""
echo "PASS: killing the sweep (pid $sweep) with SIGKILL ended its workers"
