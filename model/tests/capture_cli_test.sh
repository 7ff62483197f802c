#!/usr/bin/env bash
# moesim capture as a user runs it: ids file → trace → trace stats, plus its bad-input exits.
# Usage: capture_cli_test.sh MOESIM MODEL_DIR
set -euo pipefail
moesim=$1 model=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# 300 token ids (vocabulary 96), 30 per line, comma- and space-separated like users' files
for i in $(seq 0 299); do
  printf '%d, ' $(( (i * 37 + 11) % 96 ))
  if [ $(( (i + 1) % 30 )) = 0 ]; then echo; fi
done >"$dir/ids.txt"

out=$("$moesim" capture --model "$model" --ids-file "$dir/ids.txt" --tokens 250 --batch 3 --seq 40 --out "$dir/t.h5" --json)
grep -q '"tokens": 250' <<<"$out" || { echo "capture json: $out"; exit 1; }
grep -q '"steps": 3' <<<"$out" || { echo "expected 3 steps (120 + 120 + 10 tokens): $out"; exit 1; }
stats=$("$moesim" trace stats "$dir/t.h5" --json)
grep -q '"architecture": "olmoe"' <<<"$stats" || { echo "trace stats: $stats"; exit 1; }
grep -q '"num_tokens": 250' <<<"$stats" || { echo "trace stats: $stats"; exit 1; }

echo "1, 2, x3" >"$dir/bad.txt"
set +e
err=$("$moesim" capture --model "$model" --ids-file "$dir/bad.txt" --out "$dir/b.h5" 2>&1); code=$?
set -e
[ $code = 2 ] && grep -q "bad.txt:1:7: token: 'x3' is not a token id" <<<"$err" || { echo "bad ids: exit $code: $err"; exit 1; }
echo ok
