#!/usr/bin/env bash
# moesim finetune → eval-ppl as a user runs them, on a tiny fixture model and token-id files:
# fine-tune with a balance loss, resume, evaluate the result, and the bad-input exits.
# Usage: train_cli_test.sh MOESIM MODEL_DIR (vocabulary 96)
set -euo pipefail
moesim=$1 model=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# int32 little-endian token ids: 3000 for training, 400 for validation
write_ids() {  # FILE N A: ids (i·A + i/5) mod 96
  local i ids=()
  for ((i = 0; i < $2; ++i)); do ids+=($(( (i * $3 + i / 5) % 96 ))); done
  printf "$(printf '\\x%02x\\x00\\x00\\x00' "${ids[@]}")" >"$1"
}
write_ids "$dir/train.ids" 3000 7
write_ids "$dir/valid.ids" 400 11
data="--train-data ids:$dir/train.ids --valid-data ids:$dir/valid.ids"

out=$("$moesim" finetune --model "$model" $data --out "$dir/ft" --steps 6 --warmup 1 --batch 2 --seq 32 \
      --balance gini=0.1,z=0.001 --stop-after 3 --quiet --json)
grep -q '"last_step": 3' <<<"$out" || { echo "first part: $out"; exit 1; }
out=$("$moesim" finetune --model "$model" $data --out "$dir/ft" --steps 6 --warmup 1 --batch 2 --seq 32 \
      --balance gini=0.1,z=0.001 --resume --quiet --json)
grep -q '"first_step": 3' <<<"$out" && grep -q '"last_step": 6' <<<"$out" || { echo "resume: $out"; exit 1; }
[ "$(grep -c '"eval"' "$dir/ft/history.jsonl")" = 2 ] || { echo "history:"; cat "$dir/ft/history.jsonl"; exit 1; }

out=$("$moesim" eval-ppl --model "$dir/ft/model" --dataset ids:"$dir/valid.ids" --seq 64 --stride 32 --batch 3 --quiet --json)
grep -q '"tokens": 399' <<<"$out" || { echo "eval-ppl: every token but the first scored once: $out"; exit 1; }

set +e
err=$("$moesim" finetune --model "$model" $data --out "$dir/bad" --balance gnii=1 2>&1); code=$?
[ $code = 2 ] && grep -q "unknown loss 'gnii'" <<<"$err" || { echo "bad balance: exit $code: $err"; exit 1; }
# Regression: resuming a finished run (step 6) with --steps 6 printed "valid ppl 0.00" and exited 0.
err=$("$moesim" finetune --model "$model" $data --out "$dir/ft" --steps 6 --warmup 1 --batch 2 --seq 32 \
      --balance gini=0.1,z=0.001 --resume --quiet 2>&1); code=$?
[ $code = 2 ] && grep -q "is at step 6, so --steps 6 leaves nothing to train" <<<"$err" || { echo "resume at the end: exit $code: $err"; exit 1; }
# Regression: an empty ids or text file scored "perplexity 1.000" (exit 0).
: >"$dir/empty.ids"
: >"$dir/empty.txt"
err=$("$moesim" eval-ppl --model "$model" --dataset ids:"$dir/empty.ids" 2>&1); code=$?
[ $code = 2 ] && grep -q "empty.ids: no token to score (0 tokens" <<<"$err" || { echo "empty ids: exit $code: $err"; exit 1; }
err=$("$moesim" eval-ppl --model "$model" --tokenizer "$(dirname "$0")/../default/tokenizer.model" \
      --dataset text:"$dir/empty.txt" 2>&1); code=$?
[ $code = 2 ] && grep -q "empty.txt: no token to score" <<<"$err" || { echo "empty text: exit $code: $err"; exit 1; }
head -c 10 "$dir/train.ids" >"$dir/odd.ids"
err=$("$moesim" eval-ppl --model "$model" --dataset ids:"$dir/odd.ids" 2>&1); code=$?
[ $code = 2 ] && grep -q "odd.ids: 10 bytes is not a whole number of int32 token ids" <<<"$err" || { echo "odd ids: exit $code: $err"; exit 1; }
err=$("$moesim" eval-ppl --model "$model" --dataset ids:"$dir/valid.ids" --seq 8 --stride 9 2>&1); code=$?
[ $code = 2 ] && grep -q "stride must be between 1 and --seq" <<<"$err" || { echo "bad stride: exit $code: $err"; exit 1; }
set -e
echo ok
