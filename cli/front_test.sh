#!/bin/sh
# ctest cli.front_answers_help_alone: the front (moesim) prints for every command path's --help
# exactly what the back end that has every command prints, with the same exit code; it does so as a
# lone copy with no back end beside it (so no library was loaded); other command lines reach the
# back end unchanged, and without one the front fails with exit 1 and one line.
# Usage: front_test.sh FRONT FULL_BACK_END CORE_BACK_END
set -u
front=$1 full=$2 core=$3
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# same_output FRONT_EXE BACK_EXE ARGS...: stdout, stderr and exit code all equal.
same_output() {
  f=$1 b=$2; shift 2
  "$f" "$@" >"$tmp/f.out" 2>"$tmp/f.err"; fs=$?
  "$b" "$@" >"$tmp/b.out" 2>"$tmp/b.err"; bs=$?
  [ "$fs" = "$bs" ] || fail "moesim $*: exit $fs, back end $bs"
  cmp -s "$tmp/f.out" "$tmp/b.out" || fail "moesim $*: stdout differs from the back end's"
  cmp -s "$tmp/f.err" "$tmp/b.err" || fail "moesim $*: stderr differs from the back end's"
}

# The command paths, read from the back end's own --help ("Subcommands:" sections), two levels.
subcommands() { "$full" "$@" --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1} /^$/ {on = 0}'; }
paths=""
for c in $(subcommands); do
  paths="$paths $c"
  for s in $(subcommands "$c"); do paths="$paths $c/$s"; done
done
count=$(echo $paths | wc -w)
[ "$count" -ge 10 ] || fail "only $count command paths found in the back end's --help"

cp "$front" "$tmp/moesim"  # a lone copy: no back end beside it
for p in "" $paths; do
  words=$(echo "$p" | tr '/' ' ')
  # shellcheck disable=SC2086
  same_output "$front" "$full" $words --help
  # shellcheck disable=SC2086
  same_output "$tmp/moesim" "$full" $words -h
done
same_output "$tmp/moesim" "$full" --version

# Anything else goes to the back end as typed (a bad input: exit 2 and the back end's line).
same_output "$front" "$core" trace stats
same_output "$front" "$core" replay --trace /nonexistent.h5 --help
same_output "$front" "$core" no-such-command
"$tmp/moesim" trace stats x.h5 >/dev/null 2>"$tmp/lone.err"
[ $? = 1 ] || fail "a lone front running a command: expected exit 1"
[ "$(wc -l <"$tmp/lone.err")" = 1 ] && grep -q "cannot start moesim-core" "$tmp/lone.err" ||
  fail "a lone front: expected one line naming moesim-core, got: $(cat "$tmp/lone.err")"
echo "ok: $count command paths, help and version answered by the front alone"
