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

# Each command path's --help is asked once of the back end that runs the command and kept: the full
# back end for the top level and the model commands, moesim-core for the others (the full back end
# loads LibTorch, about a second a start: asking it for all ~40 paths was most of this test's 40 s;
# that it prints the same as moesim-core for those is checked on one below). help_of KEY EXE WORDS...
# leaves $tmp/KEY.{out,err,rc}; matches KEY EXE ARGS... then compares EXE's answer with it. (-h and
# --help are one CLI11 flag: checked once below.)
help_of() {
  key=$1 exe=$2; shift 2
  "$exe" "$@" --help >"$tmp/$key.out" 2>"$tmp/$key.err"; echo $? >"$tmp/$key.rc"
}
matches() {
  key=$1 f=$2; shift 2
  "$f" "$@" >"$tmp/f.out" 2>"$tmp/f.err"; fs=$?
  [ "$fs" = "$(cat "$tmp/$key.rc")" ] || fail "moesim $*: exit $fs, back end $(cat "$tmp/$key.rc")"
  cmp -s "$tmp/f.out" "$tmp/$key.out" || fail "moesim $*: stdout differs from the back end's"
  cmp -s "$tmp/f.err" "$tmp/$key.err" || fail "moesim $*: stderr differs from the back end's"
}

# The command paths, read from the back end's own --help ("Subcommands:" sections), two levels.
subcommands() { awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1} /^$/ {on = 0}' "$tmp/$1.out"; }
help_of top "$full"
help_of core_top "$core"
core_commands=" $(subcommands core_top | tr '\n' ' ') "
paths=""
for c in $(subcommands top); do
  paths="$paths $c"
  case $core_commands in *" $c "*) exe=$core ;; *) exe=$full ;; esac
  help_of "$c" "$exe" "$c"
  for s in $(subcommands "$c"); do
    paths="$paths $c/$s"
    help_of "$c.$s" "$exe" "$c" "$s"
  done
done
matches replay "$full" replay --help  # moesim-core's answer is the full back end's
count=$(echo $paths | wc -w)
[ "$count" -ge 10 ] || fail "only $count command paths found in the back end's --help"
"$full" -h >"$tmp/h.out" 2>"$tmp/h.err"  # the back end's -h is its --help
[ $? = "$(cat "$tmp/top.rc")" ] && cmp -s "$tmp/h.out" "$tmp/top.out" || fail "the back end's -h differs from its --help"

cp "$front" "$tmp/moesim"  # a lone copy: no back end beside it
for p in top $paths; do
  key=$(echo "$p" | tr '/' '.')
  words=$(echo "$p" | tr '/' ' ')
  [ "$p" = top ] && words=""
  # shellcheck disable=SC2086
  matches "$key" "$front" $words --help
  # shellcheck disable=SC2086
  matches "$key" "$tmp/moesim" $words -h
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
# The back end starts with malloc's huge pages asked for (common/include/moesim/common/malloc_huge_pages.hpp),
# added to a user's other tunables; a user's own hugetlb setting stands. A script beside a copy of the
# front stands in for the back end and prints what it was given.
printf '#!/bin/sh\nprintf "%%s\\n" "${GLIBC_TUNABLES-unset}"\n' >"$tmp/moesim-core"
chmod +x "$tmp/moesim-core"
tunables() { "$tmp/moesim" trace stats x.h5 2>&1; }
got=$(unset GLIBC_TUNABLES; tunables)
[ "$got" = "glibc.malloc.hugetlb=1" ] || fail "back end's GLIBC_TUNABLES without one of the user's: '$got'"
got=$(GLIBC_TUNABLES=glibc.malloc.arena_max=2 tunables)
[ "$got" = "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1" ] || fail "with the user's arena_max: '$got'"
got=$(GLIBC_TUNABLES=glibc.malloc.hugetlb=0 tunables)
[ "$got" = "glibc.malloc.hugetlb=0" ] || fail "the user's hugetlb=0 was not kept: '$got'"
echo "ok: $count command paths, help and version answered by the front alone; huge pages asked for the back end"
