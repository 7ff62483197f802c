#!/usr/bin/env bash
# ctest: replay --write-matrix exports what the replay simulated. Checked against independent
# identities: the combine is the dispatch transposed at twice the width (FP8 -> BF16 defaults), each
# matrix's off-diagonal sum is that all-to-all's network_bytes in replay.h5, the CSV lists exactly
# the HDF5's non-zero entries; and --write-matrix without --out is bad input (exit 2).
set -euo pipefail
moesim=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$moesim" trace synth --tokens 512 --experts 16 --top-k 2 --layers 3 --steps 2 --seed 5 --quiet --out "$work/t.h5" > /dev/null
"$moesim" replay --trace "$work/t.h5" --platform cluster:2:4 --out "$work/r" --write-matrix --quiet > /dev/null
/usr/bin/python3 - "$work/r" <<'PY'
import csv, sys
import h5py, numpy as np
d = sys.argv[1]
m = h5py.File(f"{d}/matrices.h5")
r = h5py.File(f"{d}/replay.h5")
disp, comb = m["dispatch"][:], m["combine"][:]
assert disp.shape == (6, 8, 8), disp.shape
assert list(m["step"][:]) == list(r["layer/step"][:]) and list(m["layer"][:]) == list(r["layer/layer"][:])
assert np.allclose(comb, 2 * disp.transpose(0, 2, 1)), "combine != 2 x dispatch transposed"
net = r["a2a/network_bytes"][:]
for k in range(len(disp)):
    for phase, mat in ((0, disp[k]), (1, comb[k])):
        off = mat.sum() - np.trace(mat)
        assert abs(off - net[2 * k + phase]) <= 1e-9 * off, (k, phase, off, net[2 * k + phase])
rows = list(csv.DictReader(open(f"{d}/matrices.csv")))
assert len(rows) == int((disp > 0).sum() + (comb > 0).sum()), len(rows)
assert abs(sum(float(x["bytes"]) for x in rows) - (disp.sum() + comb.sum())) <= 1e-6 * disp.sum()
print("ok:", len(disp), "layers,", len(rows), "non-zero entries")
PY
set +e
"$moesim" replay --trace "$work/t.h5" --platform cluster:2:4 --write-matrix > /dev/null 2>&1
rc=$?
[ "$rc" = 2 ] || { echo "--write-matrix without --out: exit $rc, expected 2"; exit 1; }
