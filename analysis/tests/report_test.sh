#!/usr/bin/env bash
# `moesim report`: one self-contained HTML page (no external resources) from a trace, a stats JSON and a
# sweep folder; figures are embedded PNGs; tables carry the real values.
# Usage: report_test.sh MOESIM
set -euo pipefail
moesim=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# Every token on one expert of 4: Gini (E-1)/E = 0.75, MaxVio E-1 = 3 in every layer.
"$moesim" trace synth --layers 2 --experts 4 --top-k 1 --tokens 256 --load hot:0=1.0 --out hot.h5 --quiet > /dev/null
"$moesim" trace stats hot.h5 --json --quiet > hot.json
cat > s.yaml <<'YAML'
name: rep
axes: {s: [0.5, 1.0, 1.5], e: [8, 16]}
steps:
  synth: moesim trace synth --layers 1 --experts {e} --top-k 2 --tokens 2048 --load zipf:s={s} --out {dir}/t.h5 --json --quiet
  stats: moesim trace stats {dir}/t.h5 --json --quiet
YAML
"$moesim" sweep s.yaml --out sw --quiet > /dev/null

"$moesim" report hot.h5 hot.json sw --out r.html --title "test report" --json > r.json
/usr/bin/python3 - <<'PY'
import json, re
r = json.load(open("r.json"))
assert [s["kind"] for s in r["sections"]] == ["stats", "stats", "sweep"], r
page = open("r.html").read()
imgs = re.findall(r'<img [^>]*src="([^"]+)"', page)
# 3 figures per stats input (heatmap, load bars, Gini/CV/MaxVio), 1 comparing the two; the sweep:
# Gini and MaxVio curves against s, one line per e.
assert len(imgs) == 9 == r["figures"], (len(imgs), r["figures"])
assert all(src.startswith("data:image/png;base64,") for src in imgs)
assert not re.search(r'(src|href)="(?!data:)', page), "page must be self-contained"
assert "<title>test report</title>" in page
# The per-layer table of the one-hot trace: layer 0, Gini 0.75, CV sqrt(3)=1.732, max/mean 4, MaxVio 3.
assert re.search(r"<td>0</td><td>0\.75</td><td>1\.732</td><td>4</td><td>3</td>", page), "stats table values"
assert "Gini (mean over layers) vs s" in page and "<th>e</th>" in page  # x = s, one line per e
print("ok")
PY

# Bad input: a file of unknown kind exits 2 naming it.
echo '{"x": 1}' > other.json
set +e
out=$("$moesim" report other.json --out bad.html 2>&1)
rc=$?
set -e
[ $rc = 2 ] && grep -q "other.json: not a trace stats, replay, eval-ppl / assign-eval or sweep scenario result" <<<"$out" || { echo "FAIL: $rc $out"; exit 1; }
[ ! -e bad.html ] || { echo "FAIL: no page on bad input"; exit 1; }
