#!/usr/bin/env python3
"""Compares the routing of two format-v1 traces of the same tokens (e.g. analysis/capture_hf.py vs
`moesim capture`): per layer, rows whose expert sets differ, rows whose column order differs, and
the largest gate difference. If the first trace has router_probs (`moesim capture --router-probs`),
each differing row's top-k margin there (k-th minus (k+1)-th probability) is reported: a flip at a
near-tie is rounding, a flip at a clear margin is a bug.

    /usr/bin/python3 analysis/capture_hf_check/compare.py MOESIM.h5 OTHER.h5 [--max-mismatch-rate R]
        [--max-gate-diff G] [--json]

Exit 1 when the mismatch rate of expert sets exceeds R (default 0) or, over rows with the same
experts, a gate weight differs by more than G (default: no limit); 2 on unreadable input.
"""
import argparse
import json
import sys

import h5py
import numpy as np


def compare(a_path, b_path):
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        for key in ("num_layers", "num_experts", "top_k", "num_tokens"):
            if a.attrs[key] != b.attrs[key]:
                raise ValueError(f"{b_path}: {key} = {b.attrs[key]}, {a_path} has {a.attrs[key]}")
        for ds in ("tokens/token_id", "tokens/sequence_id", "tokens/position"):
            if not np.array_equal(a[ds][:], b[ds][:]):
                raise ValueError(f"{b_path}: {ds} differs from {a_path}: not the same tokens")
        k = int(a.attrs["top_k"])
        out = {"tokens": int(a.attrs["num_tokens"]), "layers": []}
        for l in range(int(a.attrs["num_layers"])):
            ia, ib = a[f"layers/{l}/expert_ids"][:].astype(np.int64), b[f"layers/{l}/expert_ids"][:].astype(np.int64)
            ga, gb = a[f"layers/{l}/gate_weights"][:], b[f"layers/{l}/gate_weights"][:]
            set_diff = np.any(np.sort(ia, 1) != np.sort(ib, 1), axis=1)
            order_diff = np.any(ia != ib, axis=1) & ~set_diff
            same = ~set_diff
            layer = {"layer": l, "set_mismatches": int(set_diff.sum()), "order_only_mismatches": int(order_diff.sum()),
                     "max_gate_diff_same_sets": float(np.abs(np.sort(ga[same], 1) - np.sort(gb[same], 1)).max()) if same.any() else 0.0}
            probs = f"layers/{l}/router_probs"
            if probs in a and set_diff.any():
                p = np.sort(a[probs][:][set_diff], 1)[:, ::-1]
                margins = p[:, k - 1] - p[:, k]
                layer["mismatch_margin_max"] = float(margins.max())
                layer["mismatch_margin_median"] = float(np.median(margins))
            out["layers"].append(layer)
        rows = out["tokens"] * len(out["layers"])
        out["set_mismatch_rate"] = sum(x["set_mismatches"] for x in out["layers"]) / rows
        return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--max-mismatch-rate", type=float, default=0.0)
    p.add_argument("--max-gate-diff", type=float, default=float("inf"))
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    try:
        r = compare(a.first, a.second)
    except (OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(r))
    else:
        for x in r["layers"]:
            extra = "".join(f", {k} {x[k]:.3g}" for k in ("mismatch_margin_max", "mismatch_margin_median") if k in x)
            print(f"layer {x['layer']}: {x['set_mismatches']} of {r['tokens']} rows choose other experts, "
                  f"{x['order_only_mismatches']} same experts in another order, max gate diff {x['max_gate_diff_same_sets']:.3g}{extra}")
        print(f"expert-set mismatch rate {r['set_mismatch_rate']:.6f}")
    gate_diff = max(x["max_gate_diff_same_sets"] for x in r["layers"])
    return 0 if r["set_mismatch_rate"] <= a.max_mismatch_rate and gate_diff <= a.max_gate_diff else 1


if __name__ == "__main__":
    sys.exit(main())
