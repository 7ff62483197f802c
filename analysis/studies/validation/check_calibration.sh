#!/usr/bin/env bash
# ctest: `moesim calibrate` reproduces the committed calibrated presets from the committed
# measurements byte for byte (YAML and the fit's JSON), so a preset is never edited by hand and a
# change of the fit shows up as a failing test with its diff.
#   check_calibration.sh MOESIM_BIN
set -euo pipefail
moesim=$1
cd "$(dirname "$0")/../../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
while read -r dir preset; do
  "$moesim" calibrate --results "analysis/studies/validation/$dir/results.json" --preset "$preset" \
    --out "$work/$dir/calibrated.yaml" > /dev/null
  for f in calibrated.yaml calibrated.json; do
    if ! cmp -s "$work/$dir/$f" "analysis/studies/validation/$dir/$f"; then
      echo "analysis/studies/validation/$dir/$f differs from what moesim calibrate writes:"
      diff "analysis/studies/validation/$dir/$f" "$work/$dir/$f" | head -20
      status=1
    fi
  done
done <<'LIST'
h100x4 h100-nvswitch-4gpu
h100x2 h100-nvswitch-2gpu
LIST
exit $status
