#!/usr/bin/env bash
# Reliability checks beyond scripts/test.sh (issue 11), for CI or before a release:
#  1. the whole test suite built with AddressSanitizer + UndefinedBehaviorSanitizer (preset "asan":
#     build-asan/, no LibTorch) and run with ctest; any sanitizer report fails its test;
#  2. every fuzz harness fuzzed for FUZZ_SECONDS (default 20) from its seed corpus
#     (tests/fuzz/run_fuzzers.sh, clang + libFuzzer, build-fuzz/).
# Exit 0 when both pass. Measured on the 2-core dev machine: see docs/BAD_INPUTS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds=${FUZZ_SECONDS:-20}
start=$(date +%s)
status=0

echo "== ASan + UBSan test suite (build-asan)"
if cmake --preset asan >/dev/null && cmake --build --preset asan; then
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp \
    ctest --test-dir build-asan -j2 --output-on-failure --timeout 600 || status=1
else
  echo "ci-extra: sanitizer build failed" >&2
  status=1
fi
echo "== sanitizer suite done after $(( $(date +%s) - start )) s"

echo "== fuzzing each harness for ${fuzz_seconds} s"
tests/fuzz/run_fuzzers.sh "$fuzz_seconds" || status=1
echo "== ci-extra: $([ $status -eq 0 ] && echo PASS || echo FAIL) in $(( $(date +%s) - start )) s"
exit $status
