#!/usr/bin/env bash
# Sets up and builds moesim (scripts/setup.sh), then runs the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest -j2 --output-on-failure --timeout 600
