#!/bin/sh
# expect_exit.sh CODE REGEX COMMAND...: runs COMMAND, passes when it exits with CODE and its
# stdout+stderr match the extended regular expression REGEX.
code=$1; regex=$2; shift 2
out=$("$@" 2>&1); rc=$?
printf '%s\n' "$out"
[ "$rc" -eq "$code" ] || { echo "expected exit $code, got $rc"; exit 1; }
printf '%s\n' "$out" | grep -Eq -- "$regex" || { echo "output does not match: $regex"; exit 1; }
