#!/usr/bin/env bash
# Fine-tunes the default model with each balance loss over a small λ sweep (plus λ = 0, the control:
# the same fine-tuning without any balance term), then tabulates Gini and max/mean per layer and
# WikiText-2 validation perplexity before and after (analysis/studies/finetune_study.py).
#
#   analysis/studies/finetune_study.sh MOESIM MODEL_DIR IDS_DIR OUT_DIR [DEVICE] [PARALLEL]
#   e.g. analysis/studies/finetune_study.sh build/cli/moesim model/default runs/ids runs/study cuda 4
#
# IDS_DIR holds train.ids and valid.ids (`moesim train ... --write-ids IDS_DIR`, the default model's
# SentencePiece ids of wikitext2:train and wikitext2:valid). Each run: 150 AdamW steps of 16 × 512
# tokens at lr 1e-4 (warmup 15, cosine to 1e-5), seed 0; evaluation on the whole validation split in
# windows of 512 (stride 512). The committed numbers (finetune_study.md) are that recipe on the GPU.
#
# Environment, for a smaller run of the same study (analysis/studies/study.sh uses them on CPU): RUNS (the
# loss=λ list, space-separated), STEPS, WARMUP, BATCH, SEQ, EVAL_TOKENS (validation tokens per
# evaluation, 0 = all). Defaults are the recipe above.
set -euo pipefail
MOESIM=$1 MODEL=$2 IDS=$3 OUT=$4 DEVICE=${5:-cuda} PARALLEL=${6:-4}
STEPS=${STEPS:-150} WARMUP=${WARMUP:-15} BATCH=${BATCH:-16} SEQ=${SEQ:-512} EVAL_TOKENS=${EVAL_TOKENS:-0}
mkdir -p "$OUT"
default_runs="none=0
      gini=0.01 gini=0.1 gini=1
      variance=1 variance=10 variance=100
      cv=0.01 cv=0.1 cv=1
      entropy=0.01 entropy=0.1 entropy=1
      switch=0.01 switch=0.1 switch=1
      z=0.0001 z=0.001 z=0.01"
read -r -a runs <<< "$(echo ${RUNS:-$default_runs})"
printf '%s\n' "${runs[@]}" | xargs -P "$PARALLEL" -I{} sh -c '
  spec={}; name=$(echo "$spec" | tr "=" "_")
  balance=$spec; [ "${spec%%=*}" = none ] && balance=none
  "$0" finetune --model "$1" --train-data ids:"$2"/train.ids --valid-data ids:"$2"/valid.ids \
    --out "$3/$name" --balance "$balance" --steps "$5" --warmup "$6" --lr 1e-4 --batch "$7" --seq "$8" \
    --eval-tokens "$9" --log-every 10 --device "$4" --seed 0 --quiet --json > "$3/$name.json" 2> "$3/$name.log" \
    && echo "done $spec" || echo "FAILED $spec"
' "$MOESIM" "$MODEL" "$IDS" "$OUT" "$DEVICE" "$STEPS" "$WARMUP" "$BATCH" "$SEQ" "$EVAL_TOKENS"
