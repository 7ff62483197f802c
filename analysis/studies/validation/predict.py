#!/usr/bin/env python3
"""Predict every measured all-to-all with the calibrated platform and score the predictions.

  /usr/bin/python3 analysis/studies/validation/predict.py --moesim build/cli/moesim          # write the tables
  /usr/bin/python3 analysis/studies/validation/predict.py --moesim build/cli/moesim \\
      --check analysis/studies/validation/h100x4/errors.json --margin 0.02                 # CI: no regression

Reads results.json (first pass) and the calibration (`moesim calibrate`'s JSON), runs `moesim replay` on
every matrix (--moesim; else the numpy fluid reference, fluid_reference.py), and compares per-GPU
and max-over-GPUs latency with the measured medians. The uniform matrices were used for the fit and
are scored separately; the error table covers the skewed ones only.
Writes (unless --check): <dir>/predictions.csv (one row per matrix and GPU) and <dir>/errors.json
(error table per size class), and prints the markdown table of README.md.
--check FILE: recompute, and exit 1 if the median |error| of the max-over-GPUs latency or of the
per-GPU latency at >= 4 MiB per GPU exceeds FILE's value + --margin (absolute, as a fraction).
Exit codes: 0 ok, 1 failure or regression, 2 bad input.
"""
import argparse
import csv
import json
import os
import shutil
import sys
import tempfile

import numpy as np

import predictors
import vallib as V

DEFAULT_CALIBRATION = os.path.join(V.HERE, "h100x4", "calibrated.json")
HEADLINE = f">= {V.HEADLINE_MIN_BYTES // V.MiB} MB (headline)"


def predict_all(ms, predictor):
    rows = []
    for m in ms:
        p = predictor.per_gpu_s(m.matrix_bytes)
        rows.append({"pattern": m.pattern, "bytes_per_gpu": m.bytes_per_gpu, "measured": m, "predicted_s": p,
                     "err_per_gpu": V.relative_errors(p, m.per_rank_s),
                     "err_max": float(p.max() / m.max_s - 1)})
    return rows


def two_number_baseline(uniform):
    """The baseline every model must beat: t = A + max(bytes sent, bytes received) / B per GPU (the
    diagonal excluded), A and B fitted by least squares on the relative error of the uniform
    matrices' max-over-GPUs times (the same matrices moesim is calibrated on)."""
    def load(m):
        off = m.offdiag()
        return np.maximum(off.sum(axis=1), off.sum(axis=0))
    x = np.array([load(m).max() for m in uniform], dtype=float)
    t = np.array([m.max_s for m in uniform])
    design = np.stack([np.ones_like(x), x], axis=1) / t[:, None]
    (a_s, inv_b), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    return lambda m: a_s + load(m) * inv_b, float(a_s), float(1 / inv_b)


def family_table(rows, baseline):
    """Per pattern (family) and size >= 4 MiB per GPU: moesim's and the baseline's signed error of the
    max-over-GPUs time, and their median |per-GPU error|."""
    out = []
    for r in rows:
        m = r["measured"]
        if m.bytes_per_gpu < V.HEADLINE_MIN_BYTES:
            continue
        b = baseline(m)
        out.append({"family": r["pattern"], "bytes_per_gpu": m.bytes_per_gpu,
                    "moesim_max_err": r["err_max"], "baseline_max_err": float(b.max() / m.max_s - 1),
                    "moesim_per_gpu_median_abs": float(np.median(np.abs(r["err_per_gpu"]))),
                    "baseline_per_gpu_median_abs": float(np.median(np.abs(V.relative_errors(b, m.per_rank_s))))})
    return out


def markdown_family_table(fam):
    lines = ["| family | bytes per GPU | moesim max-over-GPUs | baseline max-over-GPUs | moesim per-GPU median abs | baseline per-GPU median abs |",
             "|---|---|---|---|---|---|"]
    for f in fam:
        lines.append(f"| {f['family']} | {V.human_bytes(f['bytes_per_gpu'])} | {100 * f['moesim_max_err']:+.1f} % | "
                     f"{100 * f['baseline_max_err']:+.1f} % | {100 * f['moesim_per_gpu_median_abs']:.1f} % | "
                     f"{100 * f['baseline_per_gpu_median_abs']:.1f} % |")
    med = lambda k: 100 * float(np.median([abs(f[k]) for f in fam]))
    lines.append(f"| **all** (median abs) | >= 4 MiB | {med('moesim_max_err'):.1f} % | {med('baseline_max_err'):.1f} % | "
                 f"{med('moesim_per_gpu_median_abs'):.1f} % | {med('baseline_per_gpu_median_abs'):.1f} % |")
    return "\n".join(lines)


def headline(table):
    row = next(t for t in table if t["class"] == HEADLINE)
    return {"max_median_abs": row["max_median_abs"], "per_gpu_median_abs": row["per_gpu_median_abs"]}


def write_predictions_csv(path, rows):
    lines = []
    for r in rows:
        m = r["measured"]
        for g in list(range(m.n)) + ["max"]:
            meas = m.max_s if g == "max" else m.per_rank_s[g]
            pred = r["predicted_s"].max() if g == "max" else r["predicted_s"][g]
            lines.append({"pattern": r["pattern"], "bytes_per_gpu": r["bytes_per_gpu"], "gpu": g,
                          "measured_median_s": f"{meas:.9f}", "predicted_s": f"{pred:.9f}",
                          "rel_err": f"{pred / meas - 1:+.4f}"})
    tmp = path + f".partial-{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(lines[0]))
        w.writeheader()
        w.writerows(lines)
    os.replace(tmp, path)


def per_pattern_table(rows):
    sizes = sorted({r["bytes_per_gpu"] for r in rows})
    patterns = list(dict.fromkeys(r["pattern"] for r in rows))
    by = {(r["pattern"], r["bytes_per_gpu"]): r for r in rows}
    out = ["| bytes per GPU | " + " | ".join(patterns) + " |", "|---" * (len(patterns) + 1) + "|"]
    for s in sizes:
        cells = [f"{100 * by[(p, s)]['err_max']:+.1f} %" if (p, s) in by else "-" for p in patterns]
        out.append(f"| {V.human_bytes(s)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=V.DEFAULT_RESULTS)
    ap.add_argument("--calibration", default=DEFAULT_CALIBRATION, help="`moesim calibrate`'s JSON")
    ap.add_argument("--moesim", help="moesim binary (else: the numpy fluid reference)")
    ap.add_argument("--out-dir", help="where predictions.csv / errors.json go (default: beside the calibration)")
    ap.add_argument("--check", metavar="ERRORS_JSON", help="compare with committed errors; write nothing")
    ap.add_argument("--margin", type=float, default=0.02, help="allowed rise of the headline median |error|")
    args = ap.parse_args()

    for path in (args.results, args.calibration) + ((args.check,) if args.check else ()):
        if not os.path.exists(path):
            print(f"{path}: no such file", file=sys.stderr)
            return 2
    results = V.load_results(args.results)
    try:
        with open(args.calibration) as f:
            cal = json.load(f)
        cal["platform"]["link_bandwidth_Bps"], cal["replay"]["launch_latency_s"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise V.BadInput(f"{args.calibration}: not a `moesim calibrate` calibration JSON ({e!r})")
    workdir = tempfile.mkdtemp(prefix="moesim-predict-")
    try:
        predictor = (predictors.MoesimPredictor(cal, args.moesim, workdir=workdir) if args.moesim
                     else predictors.FluidPredictor(cal))
        ms = V.measurements(results, rep=0)
        rows = predict_all([m for m in ms if m.pattern != "uniform"], predictor)
        fit_rows = [] if args.check else predict_all([m for m in ms if m.pattern == "uniform"], predictor)
    except RuntimeError as e:
        print(f"predict: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table = V.error_table(rows)
    fit_table = V.error_table(fit_rows) if fit_rows else []
    now = headline(table)
    if predictor.name != "fluid":      # the numpy reference computes the same model independently
        fluid = predictors.FluidPredictor(cal)
        parity = max(float(np.max(np.abs(r["predicted_s"] / fluid.per_gpu_s(r["measured"].matrix_bytes) - 1)))
                     for r in rows)
        print(f"{predictor.name} versus the numpy fluid reference (same model, same parameters): "
              f"max |relative difference| {parity:.2e}")

    if args.check:
        with open(args.check) as f:
            committed = json.load(f)["headline"]
        bad = [k for k in now if now[k] > committed[k] + args.margin]
        for k in now:
            print(f"{k} at >= 4 MiB/GPU: now {100 * now[k]:.2f} %, committed {100 * committed[k]:.2f} % "
                  f"(+{100 * args.margin:g} points allowed)")
        if bad:
            print(f"predict: the simulator got less faithful on real hardware: {', '.join(bad)}", file=sys.stderr)
            return 1
        print("ok: prediction error within the committed bound")
        return 0

    baseline, base_a_s, base_b_Bps = two_number_baseline([m for m in ms if m.pattern == "uniform"])
    families = family_table(rows, baseline)
    out_dir = args.out_dir or os.path.dirname(os.path.abspath(args.calibration))
    os.makedirs(out_dir, exist_ok=True)
    write_predictions_csv(os.path.join(out_dir, "predictions.csv"), fit_rows + rows)
    doc = {"engine": predictor.name, "calibration": os.path.relpath(args.calibration, V.REPO_ROOT),
           "results": os.path.relpath(args.results, V.REPO_ROOT), "headline": now,
           "skewed": table, "uniform_fit": fit_table,
           "two_number_baseline": {"fixed_s": base_a_s, "Bps": base_b_Bps, "families": families}}
    V.write_text_atomically(os.path.join(out_dir, "errors.json"), json.dumps(doc, indent=1) + "\n")
    print(f"Skewed matrices (predicted with engine '{predictor.name}'), relative error of the median latency:\n")
    print(V.markdown_error_table(table))
    print("\nMax-over-GPUs error per matrix (signed; + = simulator slower than hardware):\n")
    print(per_pattern_table(rows))
    print(f"\nAgainst the two-number baseline (t = {base_a_s * 1e6:.2f} us + max(sent, received) / "
          f"{base_b_Bps / 1e9:.1f} GB/s, fitted on the uniform matrices), >= 4 MiB per GPU:\n")
    print(markdown_family_table(families))
    print("\nUniform matrices (the calibration's own fit):\n")
    print(V.markdown_error_table(fit_table))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except V.BadInput as e:
        print(e, file=sys.stderr)
        sys.exit(2)
