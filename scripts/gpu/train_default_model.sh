#!/usr/bin/env bash
# On the GPU machine: build moesim-gpu against the machine's LibTorch (CUDA), train the default model,
# then run the balance-loss fine-tuning study. Everything it needs travels in CARRY (scripts/gpu/pack_carry.sh):
#   CARRY/src      this repository's common/ traces/ model/ scripts/gpu/ analysis/
#   CARRY/debs     Debian 12 .debs of header-only dependencies (libfmt-dev, nlohmann-json3-dev, libcli11-dev)
#   CARRY/ids      train.ids, valid.ids (`moesim train --write-ids`, SentencePiece ids of WikiText-2)
#   CARRY/tokenizer.model
# Results go to OUT (model in 15 MiB parts: the device tool returns files of at most 16 MiB; history,
# logs, study table). Environment: CFG (config.json, default the study's model config), STEPS (1200).
#   scripts/gpu/train_default_model.sh CARRY OUT
#   then here: cat OUT/model.safetensors.part-* > model.safetensors
set -uo pipefail
C=$(realpath "$1") OUT=$2
P=/tmp/moesim-prefix B=/tmp/moesim-build-gpu
mkdir -p "$P" "$OUT"
for f in "$C"/debs/*.deb; do dpkg -x "$f" "$P"; done
TORCH_CMAKE=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
G=""; command -v ninja >/dev/null && G="-G Ninja"
t0=$(date +%s)
cmake -S "$C/src" -B "$B" $G -DMOESIM_GPU_ONLY=ON -DCMAKE_PREFIX_PATH="$TORCH_CMAKE;$P/usr" > /tmp/build.log 2>&1 &&
  cmake --build "$B" --target moesim-gpu -j 16 >> /tmp/build.log 2>&1 || { tail -c 6000 /tmp/build.log; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
M=$B/model/gpu/moesim-gpu
DATA="--train-data ids:$C/ids/train.ids --valid-data ids:$C/ids/valid.ids"
CFG=${CFG:-$C/src/analysis/studies/finetune_study_model_config.json}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

STEPS=${STEPS:-1200}
t0=$(date +%s)
CMD="moesim train --config ${CFG#$C/src/} --tokenizer model/default/tokenizer.model --train-data wikitext2:train --valid-data wikitext2:valid --out runs/default --steps $STEPS --warmup 100 --lr 1.5e-3 --min-lr-ratio 0.1 --weight-decay 0.1 --clip 1 --batch 32 --seq 512 --eval-every 200 --checkpoint-every 200 --save-dtype bfloat16 --seed 0 --device cuda"
echo "$CMD" > "$OUT/recipe.txt"
# A crash here (seen 2026-11-26 with LibTorch 2.11: SIGSEGV at the first checkpoint that replaced an
# older one) came from std::filesystem::remove_all resolving to the copy of libstdc++'s filesystem
# code that PyTorch's libtorch_cpu.so exports (pytorch/pytorch#133437); train.cpp now removes
# directories through POSIX nftw. The exported symbols, for the record:
echo "libtorch_cpu.so exports $(nm -D "$(dirname "$TORCH_CMAKE")/../lib/libtorch_cpu.so" 2>/dev/null | grep -c ' T _ZN.*St10filesystem') std::filesystem functions"
# Should a run still die, it is resumed from the last checkpoint, at most 3 times.
RESUME=""
for attempt in 1 2 3 4; do
  $M train --config "$CFG" --tokenizer "$C/tokenizer.model" $DATA --out /tmp/default --steps "$STEPS" --warmup 100 \
    --lr 1.5e-3 --min-lr-ratio 0.1 --weight-decay 0.1 --clip 1 --batch 32 --seq 512 --eval-every 200 \
    --checkpoint-every 200 --save-dtype bfloat16 --seed 0 --device cuda --json $RESUME > /tmp/train.json 2>> "$OUT/train.log" \
    && break
  echo "attempt $attempt failed (rc $?)"; grep -a -A30 "fatal signal" "$OUT/train.log" | tail -32
  RESUME="--resume"
done
echo "train: $(( $(date +%s) - t0 )) s"; cat /tmp/train.json
cp /tmp/default/history.jsonl "$OUT/train_history.jsonl"
if [ ! -f /tmp/default/model/model.safetensors ]; then  # never finished: ship the newest checkpoint, in bf16
  LATEST=/tmp/default/$(cat /tmp/default/latest); echo "using $LATEST"
  mkdir -p /tmp/default/model; cp "$LATEST"/config.json "$LATEST"/tokenizer.model /tmp/default/model/
  python3 -c "import torch, safetensors.torch as st; t = st.load_file('$LATEST/model.safetensors'); st.save_file({k: v.to(torch.bfloat16) for k, v in t.items()}, '/tmp/default/model/model.safetensors', metadata={'format': 'pt'})"
fi
split -b 15M /tmp/default/model/model.safetensors "$OUT/model.safetensors.part-"

t0=$(date +%s)
bash "$C/src/analysis/studies/finetune_study.sh" "$M" /tmp/default/model "$C/ids" /tmp/study cuda 4
echo "study: $(( $(date +%s) - t0 )) s"
python3 "$C/src/analysis/studies/finetune_study.py" /tmp/study > "$OUT/finetune_study.md"
tar czf "$OUT/study_runs.tar.gz" --exclude='checkpoint-*' --exclude='model' --exclude='latest' -C /tmp study
cat "$OUT/finetune_study.md"
