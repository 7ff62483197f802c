#!/usr/bin/env bash
# Crash safety of trace writing, with a real process: `moesim trace synth` is killed with SIGKILL
# (no handler, no destructor runs) while it is writing. Afterwards the final name must not exist,
# only "<name>.partial-<pid of the killed writer>" may, and reading that leftover must end in a
# clean bad-input error (exit 2), never be taken for a whole trace.
set -uo pipefail
moesim=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Big enough that no machine finishes it before the kill (we kill after the first megabyte).
"$moesim" trace synth -q --layers 8 --experts 64 --top-k 8 --tokens 100000000 --steps 1000 \
  --out "$dir/trace.h5" &
writer=$!
partial="$dir/trace.h5.partial-$writer"
for _ in $(seq 1 1200); do
  [ -f "$partial" ] && [ "$(stat -c %s "$partial")" -gt 1000000 ] && break
  kill -0 "$writer" 2>/dev/null || fail "the writer exited before it could be killed"
  sleep 0.05
done
[ -f "$partial" ] || fail "no $partial after 60 s: the writer does not write through a .partial file"
kill -KILL "$writer"
wait "$writer" 2>/dev/null
echo "killed writer $writer with $(stat -c %s "$partial") bytes in $(basename "$partial")"

[ ! -e "$dir/trace.h5" ] || fail "a killed writer left a file under the final name"
leftovers=$(ls "$dir")
[ "$leftovers" = "$(basename "$partial")" ] || fail "unexpected files after the kill: $leftovers"

out=$("$moesim" trace stats "$partial" 2>&1)
rc=$?
[ "$rc" -eq 2 ] || fail "reading the half-written file exited $rc (want 2, bad input): $out"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "want a one-line error, got: $out"
printf '%s\n' "$out" | grep -q "trace.h5.partial-$writer" || fail "the error does not name the file: $out"
echo "reading the leftover: exit 2, '$out'"
echo "PASS"
