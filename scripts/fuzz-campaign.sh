#!/usr/bin/env bash
# The time-bound fuzzing campaign, moved out of CI so that CI stays deterministic
# (scripts/ci-extra.sh runs tests/fuzz/run_fuzzers.sh --runs N --seed 1): every harness is fuzzed
# for SECONDS from its seed corpus with a random seed, keeping the corpus it grows in
# build-fuzz/corpus/<target> between campaigns.
#
#   scripts/fuzz-campaign.sh 3600                 # every harness, one hour each
#   scripts/fuzz-campaign.sh 600 sweep_file       # one harness
#   MERGE=1 scripts/fuzz-campaign.sh 3600         # then merge inputs that add coverage into
#                                                 # tests/fuzz/corpus/<target> (libFuzzer -merge=1),
#                                                 # to be reviewed and committed
#
# The table (target, seconds, executions, corpus size, result) is appended with the date and the
# commit to build-fuzz/campaigns.log: docs/BAD_INPUTS.md's fuzzing figures come from there.
# Exit 1 when a harness found something that is not a known libhdf5 failure (see run_fuzzers.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: fuzz-campaign.sh SECONDS_PER_HARNESS [TARGET...]}
shift
mkdir -p build-fuzz
log=build-fuzz/campaigns.log
{
  echo "== $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), ${seconds} s per harness, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$log"
tests/fuzz/run_fuzzers.sh "$seconds" "$@" | tee -a "$log"
status=${PIPESTATUS[0]}

if [ "${MERGE:-0}" = 1 ]; then
  targets=("$@")
  [ ${#targets[@]} -eq 0 ] && for d in tests/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
  for t in "${targets[@]}"; do
    before=$(ls "tests/fuzz/corpus/$t" | wc -l)
    build-fuzz/tests/fuzz/fuzz_$t -merge=1 "tests/fuzz/corpus/$t" "build-fuzz/corpus/$t" >/dev/null 2>&1
    echo "merged $t: $before -> $(ls "tests/fuzz/corpus/$t" | wc -l) corpus files" | tee -a "$log"
  done
fi
exit "$status"
