#!/usr/bin/env bash
# Installs what moesim needs on Debian 12 (when run as root and something is missing), then
# configures and builds it in ./build with at most 2 parallel jobs. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake g++ make pkg-config
  libsimgrid-dev libyaml-cpp-dev libboost-graph-dev libhdf5-dev
  doctest-dev libcli11-dev nlohmann-json3-dev libfmt-dev libspdlog-dev
  libtorch-dev libopenblas0-pthread libsentencepiece-dev libpcre2-dev libicu-dev zlib1g-dev libssl-dev
  python3-matplotlib python3-h5py
  # ctest analysis.report_in_browser opens the HTML report in it (headless)
  chromium
)

# Optional: only the Slurm integration test uses them (it skips without them); installed when root.
OPTIONAL_PACKAGES=(slurm-wlm munge)
# scripts/ci-extra.sh (MOESIM_CI_EXTRA=1): clang 14 with libFuzzer and the sanitizer runtimes, and
# gdb, with which run_fuzzers.sh tells a hang inside libhdf5 from one in moesim.
[ "${MOESIM_CI_EXTRA:-0}" = 1 ] && PACKAGES+=(clang-14 libclang-rt-14-dev gdb)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "$(id -u)" -eq 0 ]; then
  for p in "${OPTIONAL_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# Warnings are errors in CI (CI=true), plain warnings elsewhere.
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOESIM_WERROR=$werror >/dev/null
cmake --build build -j2
