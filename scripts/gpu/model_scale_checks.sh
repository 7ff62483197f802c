#!/usr/bin/env bash
# On the GPU machine (one H100 or H200; run from the checkout's root): the model loader at real sizes and the
# capture loop's speed, each against its reference, written to OUT/model_scale_WHAT.json (and OUT/kernels_*.json) and the log.
#   scripts/gpu/model_scale_checks.sh DEBS OUT bench|sizes|whole [LAYERS_GPT_OSS] [LAYERS_DEEPSEEK]
#   BASELINE=SRC scripts/gpu/model_scale_checks.sh DEBS OUT bench   # also an older checkout, built and timed alike
#   scripts/gpu/model_scale_checks.sh DEBS OUT parity   # the parity fixtures on the GPU in float32 (parity_on_gpu.py)
# (three parts, each within one 10-minute device call; the build in build-gpu/ is reused while the
# machine stays warm)
# DEBS: libfmt-dev libfmt9 nlohmann-json3-dev libcli11-dev as Debian 12 .debs (apt-get download ...).
# 1. moesim-gpu built against the machine's LibTorch (CUDA).
# 2. capture throughput: the random Mixtral-shaped model of tests/bench/capture_vs_transformers.py,
#    moesim-gpu bench-capture against transformers (sdpa attention, its default experts), 8 x 2048 and 32 x 512.
# 3. real sizes: random checkpoints of gpt-oss-120b (MXFP4 experts) and DeepSeek-V3 (FP8) shapes cut to
#    a number of layers that fits the disk and one GPU (tests/bench/make_large_checkpoint.py): load time,
#    peak host RSS (getrusage of the child), capture tokens/s, GPU memory after load.
# 4. whole: the FULL gpt-oss-120b shape (36 layers, ~65 GB), its experts kept MXFP4 on one GPU
#    (--mxfp4 keep); the checkpoint is larger than the 64 GiB disk, so its later shards go to /dev/shm
#    (symlinked into the checkpoint folder).
set -uo pipefail
DEBS=$(realpath "$1") OUT=$2 WHAT=$3 L_OSS=${4:-12} L_DS=${5:-8}
P=/tmp/moesim-prefix B=$PWD/build-gpu
mkdir -p "$P" "$OUT"
rm -f /tmp/runs.jsonl /tmp/hf_sdpa_*.json  # a warm machine keeps /tmp: this call's runs only
export PYTHONUNBUFFERED=1
for f in "$DEBS"/*.deb; do dpkg -x "$f" "$P"; done
TORCH_CMAKE=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
G=""; command -v ninja >/dev/null && G="-G Ninja"
# build SRC DIR LOG TARGETS...: moesim-gpu (and the fused kernels' test) against the machine's LibTorch.
build() {
  local src=$1 dir=$2 log=$3; shift 3
  cmake -S "$src" -B "$dir" $G -DCMAKE_BUILD_TYPE=Release -DMOESIM_GPU_ONLY=ON -DMOESIM_CUDA_KERNELS=ON -DCMAKE_PREFIX_PATH="$TORCH_CMAKE;$P/usr" > "$log" 2>&1 &&
    cmake --build "$dir" --target "$@" -j "${JOBS:-8}" >> "$log" 2>&1 || { tail -c 6000 "$log"; return 1; }
}
t0=$(date +%s)
TARGETS="moesim-gpu"; [ "$WHAT" = bench ] && TARGETS="moesim-gpu fused_ops_test"
[ -n "${BASELINE:-}" ] && { build "$BASELINE" /tmp/build-baseline /tmp/build-baseline.log moesim-gpu & }
build . "$B" /tmp/build.log $TARGETS || exit 1
wait || exit 1
echo "build: $(( $(date +%s) - t0 )) s"
M=$B/model/gpu/moesim-gpu
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

# Runs a command, prints its stdout, and appends {"name", "wall_s", "peak_rss_GB", "stdout"} to /tmp/runs.jsonl.
measure() {
  local name=$1; shift
  python3 - "$name" "$@" <<'PY'
import json, resource, subprocess, sys, time
name, cmd = sys.argv[1], sys.argv[2:]
t0 = time.time()
p = subprocess.run(cmd, capture_output=True, text=True)
wall = time.time() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6  # kB -> GB
print(p.stdout.strip()[-3000:]); print(p.stderr.strip()[-3000:], file=sys.stderr)
rec = {"stderr_tail": p.stderr[-1500:], "name": name, "cmd": " ".join(cmd), "rc": p.returncode, "wall_s": round(wall, 2), "peak_rss_GB": round(rss, 3)}
try:
    rec["result"] = json.loads(p.stdout)
except Exception:
    rec["stdout_tail"] = p.stdout[-500:]
open("/tmp/runs.jsonl", "a").write(json.dumps(rec) + "\n")
print(f"{name}: rc {p.returncode}, wall {wall:.1f} s, peak RSS {rss:.2f} GB")
PY
}

if [ "$WHAT" = bench ]; then
echo "== 1. fused kernels against ATen"
"$B/model/gpu/fused_ops_test" 2>&1 | tail -n 25
echo "== 2. capture throughput, one GPU"
python3 tests/bench/capture_vs_transformers.py make /tmp/mix2048 || exit 1
for shape in "8 2048" "32 512"; do
  set -- $shape
  # 8 x 2048 also profiles one step of each (scripts/gpu/kernel_summary.py: time by kernel, GPU idle time).
  PROFILE=(); [ "$1" = 8 ] && PROFILE=(--profile /tmp/profile_moesim_8x2048.json)
  measure "moesim_capture_$1x$2" "$M" bench-capture --model /tmp/mix2048 --device cuda:0 --dtype bfloat16 \
    --batch "$1" --seq "$2" --tokens 65536 --json "${PROFILE[@]}"
  [ -n "${BASELINE:-}" ] && measure "baseline_capture_$1x$2" /tmp/build-baseline/model/gpu/moesim-gpu bench-capture \
    --model /tmp/mix2048 --device cuda:0 --dtype bfloat16 --batch "$1" --seq "$2" --tokens 65536 --json
  python3 tests/bench/capture_vs_transformers.py bench /tmp/mix2048 --batch "$1" --seq "$2" --tokens 65536 \
    --attn sdpa --json "/tmp/hf_sdpa_$1x$2.json" ${PROFILE:+--profile /tmp/profile_hf_8x2048.json}
done
for who in moesim hf; do
  [ -f "/tmp/profile_${who}_8x2048.json" ] &&
    python3 scripts/gpu/kernel_summary.py "/tmp/profile_${who}_8x2048.json" --json "$OUT/kernels_${who}_8x2048.json"
done
rm -rf /tmp/mix2048
fi

if [ "$WHAT" = parity ]; then
echo "== the parity fixtures on cuda:0, float32"
python3 scripts/gpu/parity_on_gpu.py "$M" "$OUT/parity_gpu.json"
fi

if [ "$WHAT" = sizes ]; then
echo "== 3. real sizes"
df -h /tmp | tail -1
for spec in "gpt_oss_120b $L_OSS" "deepseek_v3 $L_DS"; do
  set -- $spec
  [ "$2" -gt 0 ] || continue   # 0 layers: that shape is skipped
  t0=$(date +%s)
  # Shards past what /tmp holds (less 10 GB) go to /dev/shm: DeepSeek-V3 at 8 layers is ≈ 59 GB in FP8.
  python3 tests/bench/make_large_checkpoint.py "$1" "/tmp/big_$1" --layers "$2" --spill-dir "/dev/shm/big_$1" \
    --spill-after-gb $(( $(df --output=avail -B1000000000 /tmp | tail -1 | tr -d ' ') - 10 )) ||
    { rm -rf "/tmp/big_$1" "/dev/shm/big_$1"; continue; }
  echo "make $1: $(( $(date +%s) - t0 )) s"; du -shL "/tmp/big_$1"
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true   # cold page cache: load time from disk
  # --device auto: on one GPU that cannot hold the dequantized layers, the rest go to the CPU.
  # One sequence a step: attention's float32 scores (128 heads x 2048^2 for DeepSeek-V3: 2.1 GB a
  # sequence) must fit beside the weights.
  measure "load_capture_$1_${2}layers" "$M" bench-capture --model "/tmp/big_$1" --device auto --dtype bfloat16 \
    --batch 1 --seq 2048 --tokens 8192 --warmup-steps 1 --repeats 2 --json
  rm -rf "/tmp/big_$1" "/dev/shm/big_$1"
done
fi

if [ "$WHAT" = whole ]; then
echo "== 4. the whole gpt-oss-120b, experts kept MXFP4"
C=/tmp/big_gpt_oss_120b S=/dev/shm/big_gpt_oss_120b
# /tmp takes what it can, less 10 GB (the shard that crosses the line, up to 4.3 GB, and the build's
# room); /dev/shm the rest.
free_gb() { df --output=avail -B1000000000 "$1" | tail -1 | tr -d ' '; }
SPILL_AFTER=$(( $(free_gb /tmp) - 10 ))
echo "free: /tmp $(free_gb /tmp) GB, /dev/shm $(free_gb /dev/shm) GB; shards past ${SPILL_AFTER} GB go to $S"
t0=$(date +%s)
python3 tests/bench/make_large_checkpoint.py gpt_oss_120b "$C" --spill-dir "$S" --spill-after-gb "$SPILL_AFTER" || {
  df -h /tmp /dev/shm; rm -rf "$C" "$S"; exit 1; }
echo "make gpt_oss_120b: $(( $(date +%s) - t0 )) s"; du -shL "$C"
df -h /tmp /dev/shm; free -g
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true   # the /tmp shards cold; /dev/shm is memory anyway
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 500 > /tmp/gpu_mem_MiB.log &
SMI=$!
# One sequence a step: at 4 x 2048 the attention's float32 scores (64 heads, with sinks: no flash
# kernel) ran the H100 out of memory beside the 65 GB of weights (2026-12-05).
measure "load_capture_gpt_oss_120b_36layers_keep" "$M" bench-capture --model "$C" --device cuda:0 --dtype bfloat16 \
  --mxfp4 keep --batch 1 --seq 2048 --tokens 8192 --warmup-steps 1 --repeats 2 --json
kill "$SMI"
echo "peak GPU memory in use (nvidia-smi every 0.5 s): $(sort -n /tmp/gpu_mem_MiB.log | tail -1) MiB of" \
  "$(nvidia-smi --query-gpu=memory.total --format=csv,noheader -i 0)"
rm -rf "$C" "$S"
fi

python3 - "$OUT" "$WHAT" <<'PY'
import glob, json, os, sys
out = {"runs": [json.loads(l) for l in open("/tmp/runs.jsonl")] if os.path.exists("/tmp/runs.jsonl") else []}
for f in sorted(glob.glob("/tmp/hf_sdpa_*.json")):
    out[f.split("/")[-1][:-5]] = json.load(open(f))
for shape in ("8x2048", "32x512"):
    m = next((r["result"]["median_tokens_per_s"] for r in out["runs"] if r["name"] == f"moesim_capture_{shape}" and "result" in r), None)
    h = out.get(f"hf_sdpa_{shape}", {}).get("median_tokens_per_s")
    b = next((r["result"]["median_tokens_per_s"] for r in out["runs"] if r["name"] == f"baseline_capture_{shape}" and "result" in r), None)
    if m and h:
        out[f"ratio_{shape}"] = m / h
        print(f"{shape}: moesim {m:.0f} tokens/s, transformers (sdpa) {h:.0f} tokens/s, ratio {m / h:.2f}x")
    if b and h:
        out[f"baseline_ratio_{shape}"] = b / h
        print(f"{shape}: baseline {b:.0f} tokens/s, ratio {b / h:.2f}x")
json.dump(out, open(sys.argv[1] + "/model_scale_" + sys.argv[2] + ".json", "w"), indent=1)
PY
echo "total done"
