#!/usr/bin/env bash
# Crash safety of training, with real processes: `moesim train` (CPU, a tiny Mixtral, a checkpoint
# every step) is killed with SIGKILL the moment a checkpoint directory is being written
# (checkpoint-N.tmp exists), resumed with --resume, killed again, and so on; the last resume runs
# to the end. Its final weights must equal, bit for bit, those of a run that was never killed, and
# after every kill `latest` must name a complete checkpoint (a half-written one is never read).
# Usage: train_kill_test.sh MOESIM CONFIG_JSON (a Mixtral-family config with vocab_size >= 96)
set -uo pipefail
moesim=$(realpath "$1") config=$(realpath "$2")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }

# int32 little-endian token ids: (i·A + i/5) mod 96, 3000 for training, 400 for validation
write_ids() {
  local i ids=()
  for ((i = 0; i < $2; ++i)); do ids+=($(( (i * $3 + i / 5) % 96 ))); done
  printf "$(printf '\\x%02x\\x00\\x00\\x00' "${ids[@]}")" >"$1"
}
write_ids train.ids 3000 7
write_ids valid.ids 400 11
steps=16
args=(train --config "$config" --train-data ids:train.ids --valid-data ids:valid.ids --device cpu --steps $steps
      --warmup 2 --batch 2 --seq 16 --grad-accum 2 --checkpoint-every 1 --eval-every 0 --eval-tokens 64
      --balance gini=0.1 --seed 11 --quiet)

"$moesim" "${args[@]}" --out whole >whole.log 2>&1 || fail "uninterrupted run: $(cat whole.log)"

# Starts the trainer (resuming from the second start on), waits until it writes a checkpoint later
# than any before (`latest` and the previous kill's), and SIGKILLs it at once: as soon as the
# checkpoint's .tmp directory exists (STAGE "") or once a file whose name starts with STAGE is in
# it (a kill further into the write). Prints "mid" when the .tmp was left behind (killed inside
# write_checkpoint), "between" when the write finished first, "finished" when the run ended first.
kill_mid_checkpoint() {
  /usr/bin/python3 - "$@" <<'PY'
import os, signal, subprocess, sys
stage, cmd, out = sys.argv[1], sys.argv[2:], "parts"
def read(path):
    return open(path).read().strip() if os.path.exists(path) else ""
# The first checkpoint is never the target: without it there is nothing to resume.
after = max(read(os.path.join(out, "latest")), read("killed_at"), "checkpoint-00000001")
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while p.poll() is None:
    try:
        tmp = [n for n in os.listdir(out) if n.endswith(".tmp") and n[:-4] > after]
        if tmp and (not stage or any(f.startswith(stage) for f in os.listdir(os.path.join(out, tmp[0])))):
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            open("killed_at", "w").write(tmp[0][:-4])
            print(f"mid {tmp[0]}" if os.path.isdir(os.path.join(out, tmp[0])) else f"between {tmp[0]}")
            sys.exit(0)
    except FileNotFoundError:  # out/ not created yet, or the .tmp renamed while we looked
        pass
print("finished" if p.returncode == 0 else f"failed (exit {p.returncode})")
PY
}

mid=0 kills=0
# Kill points: the .tmp just created, then with the weights written, then with the optimizer state.
for stage in "" model.safetensors optimizer.safetensors "" model.safetensors optimizer.safetensors; do
  resume=()
  [ -e parts/latest ] && resume=(--resume)
  where=$(kill_mid_checkpoint "$stage" "$moesim" "${args[@]}" --out parts "${resume[@]}")
  case $where in
    mid*) mid=$((mid + 1)); kills=$((kills + 1)) ;;
    between*) kills=$((kills + 1)) ;;
    finished) break ;;
    *) fail "kill at '$stage': trainer $where" ;;
  esac
  # What --resume will read: `latest` names a complete checkpoint, never the .tmp being written.
  name=$(cat parts/latest)
  [ -f "parts/$name/trainer_state.json" ] && [ -f "parts/$name/model.safetensors" ] \
    || fail "after kill $kills, latest names '$name', which is not a complete checkpoint: $(ls parts)"
  echo "kill $kills (${where%% *} writing ${where#* }${stage:+, after its $stage}): latest = $name," \
       "left: $(cd parts && ls -d checkpoint-* | tr '\n' ' ')"
  [ $mid -ge 3 ] && break
done
[ $mid -ge 1 ] || fail "no kill landed inside a checkpoint write in $kills kills (checkpoint writes too fast to catch?)"

"$moesim" "${args[@]}" --out parts --resume >resume.log 2>&1 || fail "final resume: $(cat resume.log)"
[ -f parts/model/model.safetensors ] || fail "the resumed run saved no model: $(ls parts)"
cmp whole/model/model.safetensors parts/model/model.safetensors \
  || fail "after $kills kills and resumes, the final weights differ from the uninterrupted run's"
# The weights changed during training at all (else equal files would prove nothing).
/usr/bin/python3 - <<'PY' || fail "the final weights equal the initial ones"
import json, struct
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    return {k: data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in header.items()}
init, final = tensors("whole/init/model.safetensors"), tensors("whole/model/model.safetensors")
assert init.keys() == final.keys() and init != final
PY
echo "killed $kills times ($mid inside a checkpoint write), resumed: final weights identical to the uninterrupted run"
echo PASS
