#!/usr/bin/env bash
# On the GPU machine (2 GPUs for part 3): the capture checks that need CUDA and transformers.
#   1. analysis/capture_hf.py on the default model and the tiny parity fixtures, on CPU float32 and
#      CUDA bfloat16 → OUT/hf_captures.tar.gz (compared here with `moesim capture`:
#      analysis/capture_hf_check/compare.sh)
#   2. capture throughput on one GPU, random Mixtral-shaped model (hidden 2048, 8 layers, 8 experts,
#      top-2, bf16): moesim-gpu bench-capture vs transformers (tests/bench/capture_vs_transformers.py)
#   3. the same model split over cuda:0,cuda:1 vs on cuda:0 alone: logits and expert ids
# Run from the checkout's root (model/default is read from there). CARRY as for
# train_default_model.sh (scripts/gpu/pack_carry.sh).
#   scripts/gpu/capture_checks.sh CARRY OUT
set -uo pipefail
C=$(realpath "$1") OUT=$2
S=$C/src P=/tmp/moesim-prefix B=/tmp/moesim-build-gpu
mkdir -p "$P" "$OUT"
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
for f in "$C"/debs/*.deb; do dpkg -x "$f" "$P"; done
TORCH_CMAKE=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
G=""; command -v ninja >/dev/null && G="-G Ninja"
t0=$(date +%s)
cmake -S "$S" -B "$B" $G -DMOESIM_GPU_ONLY=ON -DCMAKE_PREFIX_PATH="$TORCH_CMAKE;$P/usr" > /tmp/build.log 2>&1 &&
  cmake --build "$B" --target moesim-gpu -j 16 >> /tmp/build.log 2>&1 || { tail -c 6000 /tmp/build.log; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
M=$B/model/gpu/moesim-gpu
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

echo "== 1. capture_hf.py: default model + fixtures, cpu float32 and cuda bfloat16"
mkdir -p /tmp/hfcap
t0=$(date +%s)
python3 - "$S" /tmp/hfcap <<'EOF'
import sys, os
S, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(S, "analysis"))
import capture_hf as h
models = {"default": (os.path.abspath("model/default"), "default_valid_4096.ids", 4, 256)}  # the checkout's
for arch in ["mixtral", "qwen3_moe", "olmoe", "qwen2_moe", "deepseek_v3", "deepseek_v3_plain"]:
    models[arch] = (os.path.join(S, "tests/fixtures", arch), "fixture_300.ids", 2, 64)
for name, (path, ids_name, batch, seq) in models.items():
    ids = h.read_ids(os.path.join(S, "analysis/capture_hf_check", ids_name))
    for device, dtype in (("cpu", "float32"), ("cuda", "bfloat16")):
        try:
            model = h.load_model(path, device, dtype)
            attrs = dict(model=name, dataset="ids:" + ids_name, tokenizer="none (pre-tokenized ids)",
                         routing_strategy="topk", created_by="analysis/capture_hf.py", created_at="-")
            t, s = h.capture(model, ids, batch, seq, f"{out}/{name}_{device}.h5", attrs, device)
            print(f"{name} {device} {dtype}: {t} tokens, {s} steps")
        except Exception as e:
            import traceback; traceback.print_exc()
            print(f"{name} {device}: FAILED {e}")
EOF
tar czf "$OUT/hf_captures.tar.gz" -C /tmp hfcap
echo "capture_hf: $(( $(date +%s) - t0 )) s"

echo "== 2. capture throughput, one GPU"
t0=$(date +%s)
python3 "$S/tests/bench/capture_vs_transformers.py" make /tmp/mix2048 || exit 1
echo "make: $(( $(date +%s) - t0 )) s"
for shape in "8 2048" "32 512"; do
  set -- $shape
  "$M" bench-capture --model /tmp/mix2048 --device cuda:0 --dtype bfloat16 --batch "$1" --seq "$2" --tokens 65536 \
    --json > "/tmp/bench_moesim_$1x$2.json" && cat "/tmp/bench_moesim_$1x$2.json"
  for attn in sdpa eager; do
    python3 "$S/tests/bench/capture_vs_transformers.py" bench /tmp/mix2048 --batch "$1" --seq "$2" --tokens 65536 \
      --attn $attn --json "/tmp/bench_hf_${attn}_$1x$2.json"
  done
done
echo "== 3. two GPUs: layers split over cuda:0,cuda:1 vs cuda:0"
nvidia-smi -L
"$M" bench-capture --model /tmp/mix2048 --device cuda:0,cuda:1 --dtype bfloat16 --batch 8 --seq 2048 --tokens 65536 \
  --json > /tmp/bench_moesim_split_8x2048.json && cat /tmp/bench_moesim_split_8x2048.json
IDS1=$(python3 -c 'import random; r=random.Random(1); print(",".join(str(r.randrange(32000)) for _ in range(96)))')
IDS2=$(python3 -c 'import random; r=random.Random(2); print(",".join(str(r.randrange(32000)) for _ in range(61)))')
for dtype in float32 bfloat16; do
  for dev in cuda:0 cuda:0,cuda:1; do
    "$M" forward --model /tmp/mix2048 --ids "$IDS1" --ids "$IDS2" --device "$dev" --dtype $dtype \
      --out "/tmp/fwd_${dtype}_${dev//[:,]/_}.safetensors" --json | tr -d '\n'; echo
  done
done
python3 - <<'EOF' | tee /tmp/split_compare.txt
import json
from safetensors.torch import load_file
res = {}
for dtype in ("float32", "bfloat16"):
    a, b = load_file(f"/tmp/fwd_{dtype}_cuda_0.safetensors"), load_file(f"/tmp/fwd_{dtype}_cuda_0_cuda_1.safetensors")
    layers = sorted(k for k in a if k.startswith("expert_ids."))
    same = sum(int((a[k] == b[k]).all(dim=1).sum()) for k in layers)
    rows = sum(a[k].shape[0] for k in layers)
    d = (a["logits"] - b["logits"]).abs().max().item()
    res[dtype] = {"max_abs_logit_diff": d, "expert_rows_equal": same, "expert_rows": rows, "moe_layers": len(layers),
                  "max_abs_gate_diff": max((a[k.replace("expert_ids", "gates")] - b[k.replace("expert_ids", "gates")]).abs().max().item() for k in layers)}
    print(f"{dtype}: 2 GPUs vs 1: max |logits diff| {d:.3g}, expert rows equal {same}/{rows}")
json.dump(res, open("/tmp/split_compare.json", "w"), indent=1)
EOF
python3 - <<'EOF'
import glob, json
out = {}
for f in sorted(glob.glob("/tmp/bench_*.json")) + ["/tmp/split_compare.json"]:
    out[f.split("/")[-1][:-5]] = json.load(open(f))
json.dump(out, open("/tmp/gpu_results.json", "w"), indent=1)
for shape in ("8x2048", "32x512"):
    m = out.get(f"bench_moesim_{shape}", {}).get("median_tokens_per_s")
    for attn in ("sdpa", "eager"):
        h = out.get(f"bench_hf_{attn}_{shape}", {}).get("median_tokens_per_s")
        if m and h:
            print(f"{shape}: moesim {m:.0f} tokens/s, transformers ({attn}) {h:.0f} tokens/s, ratio {m / h:.2f}x")
EOF
cp /tmp/gpu_results.json "$OUT/"
echo "total done"
