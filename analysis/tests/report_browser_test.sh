#!/usr/bin/env bash
# The report as a reader sees it, in a real browser (headless Chromium): a page with every kind of
# figure (balance of two traces and their comparison, two replays overlaid, training curves) must load
# without a console error, draw every figure at non-zero size, and leave a screenshot in OUT.
# The checker must also catch a broken page: a copy with one corrupted figure has to fail.
# Usage: report_browser_test.sh MOESIM OUT
set -euo pipefail
moesim=$(realpath "$1")
out=$(realpath -m "$2")
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out"
mkdir -p "$out"
cd "$out"

"$moesim" trace synth --layers 2 --experts 8 --top-k 2 --tokens 2048 --steps 2 --load zipf:s=1.2 --seed 1 --out base.h5 --quiet >/dev/null
"$moesim" trace synth --layers 2 --experts 8 --top-k 2 --tokens 2048 --steps 2 --load uniform --seed 1 --out even.h5 --quiet >/dev/null
"$moesim" replay --trace base.h5 --platform cluster:2:4 --out replay-base --quiet >/dev/null
"$moesim" replay --trace even.h5 --platform cluster:2:4 --out replay-even --quiet >/dev/null
cat > history.jsonl <<'JSONL'
{"step":0,"eval":{"loss":3.0,"ppl":20.1,"tokens":100,"gini":[0.5,0.4],"cv":[1.0,0.8],"max_mean":[3.0,2.5],"entropy":[0.8,0.85]}}
{"step":1,"loss":3.2,"lm_loss":3.0,"balance_loss":0.2,"balance_terms":{"gini":0.45,"z":2.0},"grad_norm":1.0,"lr":0.001,"tokens_per_s":1000}
{"step":2,"loss":3.0,"lm_loss":2.9,"balance_loss":0.1,"balance_terms":{"gini":0.4,"z":1.5},"grad_norm":1.0,"lr":0.001,"tokens_per_s":1000}
{"step":2,"eval":{"loss":2.9,"ppl":18.2,"tokens":100,"gini":[0.3,0.3],"cv":[0.6,0.6],"max_mean":[2.0,2.0],"entropy":[0.9,0.9]}}
JSONL
"$moesim" report base.h5 even.h5 replay-base replay-even history.jsonl --out report.html --title "browser test" --json >report.json
figures=$(/usr/bin/python3 -c 'import json; print(json.load(open("report.json"))["figures"])')
# 3 per trace + 1 comparing them; the replays overlaid in 1 + 1 per-GPU figure each; 1 training figure: 11.
[ "$figures" = 11 ] || { echo "FAIL: $figures figures in the page, expected 11"; exit 1; }
/usr/bin/python3 "$here/browser_check.py" report.html --screenshot "$out/report.png" --expect-figures "$figures"

# A broken figure must be caught: corrupt the first image's data.
sed '0,/base64,iVBOR/s//base64,AAAAA/' report.html >broken.html
if /usr/bin/python3 "$here/browser_check.py" broken.html --screenshot "$out/broken.png" >broken.txt; then
  echo "FAIL: the checker passed a page with a corrupted figure"; cat broken.txt; exit 1
fi
grep -q "figure not decoded" broken.txt || { echo "FAIL: broken page, but not for its figure:"; cat broken.txt; exit 1; }
echo "ok: screenshot $out/report.png"
