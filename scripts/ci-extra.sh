#!/usr/bin/env bash
# Reliability checks beyond scripts/test.sh for CI or before a release:
#  1. the test suite built with AddressSanitizer + UndefinedBehaviorSanitizer (preset "asan":
#     clang 14, build-asan/, no LibTorch) and run with ctest; any sanitizer report fails its test.
#     Left out (ctest -LE plain_only, the plain suite runs them): tests that run no moesim code of
#     their own (Python-only checks) and whole end-to-end runs (demo, Slurm job array, validation
#     study, the strace kill at each write) whose moesim code shorter tests run under the sanitizers;
#  2. every fuzz harness replays its corpus and regression inputs, then runs FUZZ_RUNS (default
#     2000) executions from the fixed seed FUZZ_SEED (default 1): deterministic, so CI fails only on
#     a change of the code (tests/fuzz/run_fuzzers.sh --runs, two harnesses at a time). The harnesses
#     are linked in build-asan itself (the preset instruments everything for libFuzzer), so the
#     libraries are compiled once for both parts, not a second time in build-fuzz/. The time-bound
#     random search is scripts/fuzz-campaign.sh, run by hand.
# Exit 0 when both pass. Measured on the 2-core dev machine: see docs/BAD_INPUTS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzz_runs=${FUZZ_RUNS:-2000}
fuzz_seed=${FUZZ_SEED:-1}
start=$(date +%s)
status=0

echo "== ASan + UBSan test suite (build-asan)"
if cmake --preset asan >/dev/null && cmake --build --preset asan; then
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp \
    ctest --test-dir build-asan -j2 -LE plain_only --output-on-failure --timeout 600 || status=1
else
  echo "ci-extra: sanitizer build failed" >&2
  status=1
fi
echo "== sanitizer suite done after $(( $(date +%s) - start )) s"

echo "== fuzzing each harness: corpus + regressions, then ${fuzz_runs} executions from seed ${fuzz_seed}"
MOESIM_FUZZ_PRESET=asan tests/fuzz/run_fuzzers.sh --runs "$fuzz_runs" --seed "$fuzz_seed" --jobs 2 || status=1
echo "== ci-extra: $([ $status -eq 0 ] && echo PASS || echo FAIL) in $(( $(date +%s) - start )) s"
exit $status
