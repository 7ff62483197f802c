#!/usr/bin/env bash
# Usage: known_issues_cli_test.sh MOESIM
# Every file in known_issues/trace_reader/ crashes, exhausts memory or loops for ever inside
# libhdf5 1.10 when opened in-process (the fuzz harness does, on purpose). `moesim trace stats`
# opens traces after a check in a child process (TraceOpenOptions), so each must end as one clean
# error line naming the file, exit 2. The checking child's time limit is cut to 3 s for the loops.
# (Sanitizer builds: the child's report comes first; the error must still be the last line.)
set -u
moesim=$1
dir=$(dirname "$0")/known_issues/trace_reader
status=0 n=0
for f in "$dir"/*; do
  n=$((n + 1))
  out=$(MOESIM_TRACE_CHECK_TIMEOUT_S=3 timeout 120 "$moesim" trace stats "$f" 2>&1)
  rc=$?
  last=$(printf '%s\n' "$out" | tail -n 1)
  if [ $rc -ne 2 ] || [[ "$last" != "moesim: error: $f: "* ]]; then
    echo "FAIL $f: exit $rc, last line: $last"; status=1
  else
    echo "ok   $f: ${last#moesim: error: $f: }"
  fi
done
[ $n -gt 0 ] || { echo "no inputs in $dir"; exit 1; }
exit $status
