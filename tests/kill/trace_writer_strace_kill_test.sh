#!/usr/bin/env bash
# Reproduction: a `trace synth` over an existing good trace is killed (SIGKILL injected
# by strace) at one of its first writes. The earlier trace must stay readable and unchanged: the
# writer may only rename after its last write and fsync. Every injection point is tried, from the 1st
# pwrite64 to one past the last of an uninterrupted run (counted first: 19 on 2026-12-05; the test
# used to try 40, half of them after the writer had finished), so a write after the rename is caught
# wherever it falls.
# Skips (77) without strace or where ptrace is not allowed.
set -uo pipefail
moesim=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v strace >/dev/null || { echo "SKIP: no strace"; exit 77; }
strace -o /dev/null true 2>/dev/null || { echo "SKIP: ptrace not permitted"; exit 77; }

synth() { "$moesim" trace synth -q --layers 2 --experts 8 --top-k 2 --tokens 5000 --steps 2 "$@"; }
synth --seed 1 --out "$dir/t.h5" >/dev/null || fail "could not write the good trace"
stats() { "$moesim" trace stats --json --quiet "$1" | grep -v '"file"'; }  # the same numbers, whatever the name
good=$(stats "$dir/t.h5") || fail "the good trace does not read"
cp "$dir/t.h5" "$dir/good.h5"
synth --seed 2 --out "$dir/ref.h5" >/dev/null || fail "could not write the reference trace"
ref=$(stats "$dir/ref.h5")

strace -f -o "$dir/writes.txt" -e trace=pwrite64 "$moesim" trace synth -q --layers 2 --experts 8 --top-k 2 \
  --tokens 5000 --steps 2 --seed 2 --out "$dir/count.h5" >/dev/null 2>&1 || fail "the counting run failed"
writes=$(grep -c 'pwrite64(' "$dir/writes.txt")
rm -f "$dir/count.h5" "$dir/writes.txt"
[ "$writes" -ge 3 ] || fail "only $writes pwrite64 calls in a whole trace: is the writer traced at all?"
max_writes=$((writes + 1))
for when in $(seq 1 $max_writes); do
  ( strace -f -o /dev/null -e trace=pwrite64,write -e inject=pwrite64:signal=SIGKILL:when=$when \
    "$moesim" trace synth -q --layers 2 --experts 8 --top-k 2 --tokens 5000 --steps 2 --seed 2 \
    --out "$dir/t.h5" >/dev/null 2>&1; true ) 2>/dev/null  # strace dies of the injected signal too: not our failure
  if cmp -s "$dir/t.h5" "$dir/good.h5"; then
    continue
  fi
  # The trace changed: only a complete new trace (the kill came after the last write) is allowed.
  now=$(stats "$dir/t.h5" 2>&1) || fail "kill at pwrite64 #$when left an unreadable t.h5 (the earlier trace was lost): $now"
  [ "$now" = "$ref" ] || fail "kill at pwrite64 #$when left a trace that differs from an uninterrupted run"
  echo "kill at pwrite64 #$when: the writer had finished; the new trace is complete"
  cp "$dir/good.h5" "$dir/t.h5"
done
rm -f "$dir"/t.h5.partial-*
[ "$(stats "$dir/t.h5")" = "$good" ] || fail "the good trace no longer reads the same"
echo "PASS: $max_writes kill points, the earlier trace always intact"
