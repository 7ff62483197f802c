#!/usr/bin/env bash
# Usage: expect_exit.sh CODE REGEX command args...
# Runs the command; passes only if it exits with CODE and its stderr+stdout matches REGEX.
# Used by CLI tests: batch scripts rely on exit codes (0 ok, 1 failure, 2 bad input) and users on
# the one-line messages, so both are checked.
set -u
want=$1 pattern=$2
shift 2
out=$("$@" 2>&1)
got=$?
if [ "$got" != "$want" ]; then
  echo "expected exit $want, got $got; output:"; echo "$out"; exit 1
fi
if ! grep -Eq -- "$pattern" <<<"$out"; then
  echo "output does not match /$pattern/:"; echo "$out"; exit 1
fi
echo "ok: exit $got, output matches /$pattern/"
