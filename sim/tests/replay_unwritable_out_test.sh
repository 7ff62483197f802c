#!/usr/bin/env bash
# `replay --out` into a folder the user cannot write: one line, exit 1 (the machine's state, not the
# input), before the replay runs (it once aborted with exit 134 after the replay, then failed
# with a filesystem error after it). As root, the command runs as nobody (setpriv), since root writes anywhere.
# Usage: replay_unwritable_out_test.sh MOESIM MATRIX_CSV
set -u
moesim=$1 matrix=$2
dir=$(mktemp -d)
trap 'chmod -R u+w "$dir"; rm -rf "$dir"' EXIT
chmod 755 "$dir"
mkdir "$dir/ro" && chmod 555 "$dir/ro"
as_user=()
if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || { echo "skipped: root without setpriv"; exit 77; }
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  # nobody must reach the executables: the build may sit below a folder only root can search (a
  # fresh clone in a 0700 mktemp folder), and `moesim` execs moesim-core beside it without the
  # capabilities setpriv keeps for its own first exec. Copies in this test's own folder.
  cp "$moesim" "$(dirname "$moesim")/moesim-core" "$dir/" && chmod 755 "$dir/moesim" "$dir/moesim-core"
  cp "$matrix" "$dir/matrix.csv" && chmod 644 "$dir/matrix.csv"
  moesim=$dir/moesim matrix=$dir/matrix.csv
fi
for out in "$dir/ro/results" "$dir/ro"; do
  got=$("${as_user[@]}" "$moesim" replay --matrix "$matrix" --matrix-unit tokens --dispatch-bytes 7168 --platform switch:4 --out "$out" 2>&1)
  rc=$?
  if [ $rc != 1 ] || [ "$(printf '%s\n' "$got" | wc -l)" != 1 ] || ! grep -q "is not writable" <<<"$got"; then
    echo "FAIL --out $out: exit $rc, expected 1 and one line saying the folder is not writable:"; echo "$got"; exit 1
  fi
  echo "ok --out $out: $got"
done
