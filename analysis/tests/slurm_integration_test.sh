#!/usr/bin/env bash
# Integration test of `moesim sweep --slurm` against a real Slurm: starts munged, slurmctld and slurmd
# (Debian's slurm-wlm + munge) configured in a temporary folder, on ports of their own, as the
# current user; submits the sweep's job array with `sbatch --wait`; merges with `moesim sweep
# collect` and checks the merged table. Everything started here is stopped on exit.
# Usage: slurm_integration_test.sh MOESIM SWEEP.yaml EXPECTED_SCENARIOS
# Exit 77 (ctest: skipped) when slurm-wlm or munge is not installed.
set -euo pipefail
moesim=$(realpath "$1")
sweep=$(realpath "$2")
expected=$3

for tool in munged mungekey slurmctld slurmd sbatch sinfo; do
  if ! command -v "$tool" >/dev/null; then
    echo "skipped: $tool not installed (apt-get install slurm-wlm munge)"
    exit 77
  fi
done

tmp=$(mktemp -d /tmp/moesim-slurm-XXXXXX)
chmod 755 "$tmp"  # munged refuses world-writable parents
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP_SLURM_TMP:-}" = "" ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap cleanup EXIT

# --- munge: its own key, socket and files
mkdir -m 711 "$tmp/munge"
mungekey --create --keyfile="$tmp/munge/munge.key" --bits=1024
munged --foreground --force --socket="$tmp/munge/munge.socket" --key-file="$tmp/munge/munge.key" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/munged.seed" >"$tmp/munge/munged.out" 2>&1 &
pids+=($!)

# --- Slurm: one node (this host), ports chosen from the pid to keep parallel runs apart
user=$(id -un)
host=$(hostname -s)
cpus=$(nproc)
port=$((20000 + ($$ % 20000)))
mkdir -p "$tmp/state" "$tmp/spool" "$tmp/log"
cat >"$tmp/slurm.conf" <<CONF
ClusterName=moesimtest
SlurmctldHost=$host
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$tmp/slurm.conf"

for _ in $(seq 50); do [ -S "$tmp/munge/munge.socket" ] && break; sleep 0.1; done
slurmctld -D -i -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)

ready=""
for _ in $(seq 60); do
  if sinfo -h -o '%t' 2>/dev/null | grep -qE '^idle'; then ready=1; break; fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "FAIL: the Slurm node did not come up; logs:" >&2
  tail -n 20 "$tmp"/log/* >&2 || true
  exit 1
fi

# --- the sweep: a job array of 2-scenario chunks, then the merge
out="$tmp/sweep"
"$moesim" sweep "$sweep" --slurm --out "$out" --chunk-size 2 --jobs 1
grep -q '^#SBATCH --array=0-' "$out/sweep.sbatch"
sbatch --wait --quiet "$out/sweep.sbatch" || { echo "FAIL: job array failed"; tail -n 5 "$out"/slurm/*.log; exit 1; }
tasks=$(ls "$out"/slurm/*.log | wc -l)
summary=$("$moesim" sweep collect "$out" --json)
echo "$summary"
/usr/bin/python3 - "$summary" "$expected" "$tasks" "$out/results.csv" <<'PY'
import csv, json, sys
summary, expected, tasks, csv_path = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
assert summary["ok"] == expected and summary["failed"] == 0 and summary["missing"] == 0, summary
assert tasks == (expected + 1) // 2, f"{tasks} task logs for {expected} scenarios in chunks of 2"
rows = list(csv.DictReader(open(csv_path)))
assert len(rows) == expected and all(r["status"] == "ok" for r in rows)
assert [int(r["scenario"]) for r in rows] == list(range(expected))
print(f"ok: {expected} scenarios in {tasks} Slurm array tasks merged into {csv_path}")
PY
