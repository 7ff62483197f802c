#!/usr/bin/env bash
# Usage: expect_exit.sh [--fixed] [--one-line | --error-line] CODE PATTERN command args...
# Runs the command; passes only if it exits with CODE and its stderr+stdout matches PATTERN
# (an extended regex; with --fixed, a plain string). --one-line: the output must be exactly one
# line, and match. --error-line: exactly one line starts with "moesim: error: " or "moesim: failed: ",
# and it must match (other lines are allowed: a report the command prints to stdout, or a
# sanitizer's report from a checking child process).
# Used by CLI tests: batch scripts rely on exit codes (0 ok, 1 failure, 2 bad input) and users on
# the one-line messages, so both are checked. The bad-input tables (tests/bad_inputs/*.tsv) use it.
set -u
grep_mode=-E lines=all
while :; do
  case $1 in
    --fixed) grep_mode=-F; shift ;;
    --one-line) lines=one; shift ;;
    --error-line) lines=error; shift ;;
    *) break ;;
  esac
done
want=$1 pattern=$2
shift 2
out=$("$@" 2>&1)
got=$?
if [ "$got" != "$want" ]; then
  echo "expected exit $want, got $got; output:"; echo "$out"; exit 1
fi
checked=$out
if [ "$lines" = one ] && [ "$(printf '%s\n' "$out" | wc -l)" != 1 ]; then
  echo "expected one line of output, got $(printf '%s\n' "$out" | wc -l):"; echo "$out"; exit 1
fi
if [ "$lines" = error ]; then
  checked=$(printf '%s\n' "$out" | grep -E '^moesim: (error|failed): ')
  if [ "$(printf '%s' "$checked" | grep -c '')" != 1 ]; then
    echo "expected exactly one 'moesim: error:' line, got $(printf '%s' "$checked" | grep -c ''):"; echo "$out"; exit 1
  fi
fi
if ! grep $grep_mode -q -- "$pattern" <<<"$checked"; then
  what=output; [ "$lines" = error ] && what="the error line"
  echo "$what does not match /$pattern/ ($grep_mode):"; echo "$out"; exit 1
fi
echo "ok: exit $got, output matches /$pattern/"
