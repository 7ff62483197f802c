#!/usr/bin/env python3
"""Calibrate a single-node platform preset from measured UNIFORM all-to-alls and the peer copy bandwidth.

  /usr/bin/python3 analysis/validation/calibrate.py --moesim build/cli/moesim \\
      --out analysis/validation/h100x4/calibrated.yaml

Reads measure_alltoall.py's results.json (first pass; uniform matrices and copy bandwidth only, never
the skewed matrices) and writes a platform YAML that `extends:` the preset, plus a JSON with every
fitted number and the fit's residuals. Use it on your own cluster: run measure_alltoall.py there,
then this script with --preset naming your node's preset.

Two platform models (--model), both fitted on the uniform matrices and the copy bandwidth only:

measured (default): what NCCL's all-to-all on the measured node showed (README.md, "the model"):
  link_bandwidth    = median peer copy bandwidth of every ordered GPU pair (256 MiB, copy engines)
                      / links per GPU: what one GPU's NVLinks carry in one direction when alone.
  duplex_bandwidth  = 2 R, with R the per-GPU rate (each way) of NCCL's all-to-all at the largest
                      uniform size: in a uniform all-to-all every GPU sends and receives at once, so
                      R is half of what it moves in and out together (node.duplex_bandwidth).
  launch_latency    = A - latency - per-message overhead, A the fixed cost; A and R solve
                      t = A + x / R exactly at the smallest and the largest uniform size (x = off-GPU
                      bytes per GPU).
  bandwidth_factors = per uniform size: f = (x / R) / (t - A), clamped to (0, 1], at the message
                      size of that matrix (bytes per GPU pair): calibration.bandwidth_factors, so that
                      every uniform matrix is reproduced (NCCL is less efficient on small messages).
links: the previous model: one bandwidth_factor for all sizes and no duplex cap:
  bandwidth_factor  = B / copy bandwidth, with B the per-GPU bandwidth of NCCL's all-to-all, and
  launch_latency    = A - latency - per-message overhead, with A the fixed cost, both fitted as
                      max-over-GPUs time = A + (off-GPU bytes per GPU) / B by least squares on the
                      relative error over the uniform sizes in [--min-bytes, --max-bytes].
Both: latency, per-message overhead: kept at the preset's / the given value. All uniform matrices
send the same number of messages (N-1 per GPU), so only their sum with the launch latency is
identifiable from them. No per-flow limit (node.nvswitch.flow_bandwidth): a uniform matrix never
reaches it and a copy-engine copy does not show it.
With --moesim, the fit is then refined against the simulator itself (so that `moesim replay`
reproduces the uniform measurements), and the residuals reported are the simulator's.
Exit codes: 0 ok, 1 failure (simulator error), 2 bad input.
"""
import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile

import numpy as np

import predictors
import vallib as V

PRESET_LATENCY_S = {"h100-nvswitch-4gpu": 1e-6, "dgx-h100-8gpu": 1e-6}   # platforms/<preset>.yaml
PRESET_LINKS_PER_GPU = {"h100-nvswitch-4gpu": 18, "dgx-h100-8gpu": 18}


def copy_bandwidth_Bps(meta):
    pairs = [r["GBps"] for r in meta.get("copy_bandwidth", []) if r["kind"] == "pair"]
    if not pairs:
        raise V.BadInput("calibrate: results.json has no peer copy bandwidth ('pair' rows)")
    return float(np.median(pairs)) * 1e9


def uniform_measurements(results, min_bytes, max_bytes):
    ms = [m for m in V.measurements(results, rep=0)
          if m.pattern == "uniform" and min_bytes <= m.bytes_per_gpu <= max_bytes]
    if len(ms) < 2:
        raise V.BadInput(f"calibrate: need at least 2 uniform matrices of {min_bytes}..{max_bytes} bytes per GPU, "
                         f"found {len(ms)}")
    return sorted(ms, key=lambda m: m.bytes_per_gpu)


def closed_form_fit(ms):
    """A, B minimising sum ((A + x/B) / t - 1)^2 with x = off-GPU bytes of the busiest GPU."""
    x = np.array([m.offdiag().sum(axis=1).max() for m in ms], dtype=float)
    t = np.array([m.max_s for m in ms])
    design = np.stack([np.ones_like(x), x], axis=1) / t[:, None]
    (a, inv_b), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    if inv_b <= 0:
        raise V.BadInput("calibrate: uniform latency does not grow with size; cannot fit a bandwidth")
    return float(a), float(1 / inv_b)


def calibration_from(preset, links, copy_Bps, a_s, b_Bps, latency_s, overhead_s):
    launch = a_s - latency_s - overhead_s
    if launch < 0:
        print(f"calibrate: fitted fixed cost {a_s * 1e6:.2f} us is below latency + overhead; launch latency set to 0",
              file=sys.stderr)
        launch = 0.0
    return {"platform": {"preset": preset, "links_per_gpu": links, "link_bandwidth_Bps": copy_Bps / links,
                         "bandwidth_factor": b_Bps / copy_Bps, "latency_s": latency_s},
            "replay": {"algorithm": "direct", "launch_latency_s": launch, "per_message_overhead_s": overhead_s}}


def message_bytes(m):
    """The off-diagonal entry size of a uniform matrix (bytes per GPU pair)."""
    off = m.offdiag()
    return float(np.median(off[off > 0]))


def size_table_fit(ms, copy_Bps):
    """Fixed cost A and per-GPU rate R (each way) solving t = A + x / R at the smallest and the
    largest uniform size; then the factor at every size that reproduces its time."""
    x = np.array([m.offdiag().sum(axis=1).max() for m in ms], dtype=float)
    t = np.array([m.max_s for m in ms])
    if not t[-1] > t[0] or not x[-1] > x[0]:
        raise V.BadInput("calibrate: uniform latency does not grow with size; cannot fit a bandwidth")
    rate_Bps = (x[-1] - x[0]) / (t[-1] - t[0])
    fixed_s = t[0] - x[0] / rate_Bps
    factors = [min(1.0, (xi / rate_Bps) / (ti - fixed_s)) if ti > fixed_s else 1.0 for xi, ti in zip(x, t)]
    return fixed_s, rate_Bps, factors


def measured_calibration(preset, links, copy_Bps, ms, fixed_s, rate_Bps, factors, latency_s, overhead_s):
    cal = calibration_from(preset, links, copy_Bps, fixed_s, copy_Bps, latency_s, overhead_s)
    p = cal["platform"]
    p["bandwidth_factor"] = 1.0
    if rate_Bps < copy_Bps:   # sending and receiving at once is slower than one direction alone
        p["duplex_bandwidth_Bps"] = 2 * rate_Bps
    else:                     # not identifiable: the factors then scale the links alone
        factors = [f * rate_Bps / copy_Bps for f in factors]
    p["bandwidth_factors"] = [[message_bytes(m), float(f)] for m, f in zip(ms, factors)]
    return cal


def refine_factors(cal, ms, make_predictor, iterations=3, tolerance=1e-4):
    """Each uniform matrix uses its own table point only: correct each factor by the ratio of the
    transfer times (time - fixed cost is proportional to 1 / factor)."""
    fixed_s = cal["replay"]["launch_latency_s"] + cal["platform"]["latency_s"] + cal["replay"]["per_message_overhead_s"]
    r = relative_residuals(make_predictor(cal), ms)
    for _ in range(iterations):
        if np.max(np.abs(r)) < tolerance:
            break
        c = json.loads(json.dumps(cal))
        for k, m in enumerate(ms):
            predicted_s = m.max_s * (1 + r[k])
            if predicted_s > fixed_s and m.max_s > fixed_s:
                f = c["platform"]["bandwidth_factors"][k][1] * (predicted_s - fixed_s) / (m.max_s - fixed_s)
                c["platform"]["bandwidth_factors"][k][1] = float(min(1.0, max(f, 1e-4)))
        r_new = relative_residuals(make_predictor(c), ms)
        if np.sum(r_new ** 2) >= np.sum(r ** 2):
            break
        cal, r = c, r_new
    return cal, r


def relative_residuals(predictor, ms):
    return np.array([predictor.per_gpu_s(m.matrix_bytes).max() / m.max_s - 1 for m in ms])


def refine(cal, ms, make_predictor, closed_form_residuals, iterations=3):
    """Gauss-Newton on (launch latency, 1 / bandwidth factor) against the predictor's own answers."""
    def residuals(theta):
        c = json.loads(json.dumps(cal))
        c["replay"]["launch_latency_s"] = max(theta[0], 0.0)
        c["platform"]["bandwidth_factor"] = 1 / theta[1]
        return relative_residuals(make_predictor(c), ms), c

    theta = np.array([cal["replay"]["launch_latency_s"], 1 / cal["platform"]["bandwidth_factor"]])
    r, best = residuals(theta)
    if np.max(np.abs(r - closed_form_residuals)) < 1e-3:
        return best, r      # the engine already reproduces the closed form: nothing to refine
    for _ in range(iterations):
        steps = np.array([max(1e-7, 0.05 * theta[0]), 0.01 * theta[1]])
        jac = np.stack([(residuals(theta + np.eye(2)[k] * steps[k])[0] - r) / steps[k] for k in range(2)], axis=1)
        delta, *_ = np.linalg.lstsq(jac, -r, rcond=None)
        r_new, c_new = residuals(theta + delta)
        if np.sum(r_new ** 2) >= np.sum(r ** 2) * (1 - 1e-6):
            break
        theta, r, best = theta + delta, r_new, c_new
    return best, r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=V.DEFAULT_RESULTS, help="measure_alltoall.py results.json")
    ap.add_argument("--preset", default="h100-nvswitch-4gpu", help="platform preset the calibration extends")
    ap.add_argument("--links-per-gpu", type=int, help="NVLinks per GPU (default: the preset's)")
    ap.add_argument("--latency-us", type=float, help="one-way GPU->GPU latency (default: the preset's)")
    ap.add_argument("--per-message-overhead-us", type=float, default=0.0)
    ap.add_argument("--min-bytes", type=int, default=0, help="fit only uniform sizes >= this many bytes per GPU")
    ap.add_argument("--max-bytes", type=int, default=2**62, help="fit only uniform sizes <= this many bytes per GPU")
    ap.add_argument("--model", choices=["measured", "links"], default="measured",
                    help="measured: duplex cap + bandwidth factors by message size (default); links: one factor")
    ap.add_argument("--moesim", help="moesim binary: refine the fit against `moesim replay` (else: fluid reference)")
    ap.add_argument("--out", required=True, help="calibrated platform YAML to write (JSON beside it, .json)")
    args = ap.parse_args()

    if not os.path.exists(args.results):
        print(f"{args.results}: no such file", file=sys.stderr)
        return 2
    results = V.load_results(args.results)
    links = args.links_per_gpu or PRESET_LINKS_PER_GPU.get(args.preset)
    latency_s = args.latency_us * 1e-6 if args.latency_us is not None else PRESET_LATENCY_S.get(args.preset)
    if links is None or latency_s is None:
        print(f"calibrate: preset '{args.preset}' unknown here: give --links-per-gpu and --latency-us", file=sys.stderr)
        return 2
    overhead_s = args.per_message_overhead_us * 1e-6

    copy_Bps = copy_bandwidth_Bps(results["meta"])
    ms = uniform_measurements(results, args.min_bytes, args.max_bytes)
    if args.model == "links":
        a_s, b_Bps = closed_form_fit(ms)
        cal = calibration_from(args.preset, links, copy_Bps, a_s, b_Bps, latency_s, overhead_s)
    else:
        a_s, b_Bps, factors = size_table_fit(ms, copy_Bps)
        cal = measured_calibration(args.preset, links, copy_Bps, ms, a_s, b_Bps, factors, latency_s, overhead_s)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="moesim-calibrate-")
    if args.moesim:
        def make(c):
            return predictors.MoesimPredictor(c, args.moesim, workdir=workdir)
    else:
        def make(c):
            return predictors.FluidPredictor(c)
    try:
        if args.model == "links":
            x = np.array([m.offdiag().sum(axis=1).max() for m in ms], dtype=float)
            closed = np.array([(a_s + xi / b_Bps) / m.max_s - 1 for xi, m in zip(x, ms)])
            cal, resid = refine(cal, ms, make, closed)
        else:
            cal, resid = refine_factors(cal, ms, make)
    except RuntimeError as e:
        print(f"calibrate: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    engine = "moesim" if args.moesim else "fluid"

    note = (f"{os.path.relpath(args.results, V.REPO_ROOT)}, "
            f"{len(ms)} uniform sizes ({V.human_bytes(ms[0].bytes_per_gpu)} to {V.human_bytes(ms[-1].bytes_per_gpu)} "
            f"per GPU) + peer copy bandwidth")
    cal["source"] = {"results": os.path.relpath(args.results, V.HERE), "model": args.model,
                     "fit_min_bytes": args.min_bytes,
                     "fit_max_bytes": args.max_bytes,
                     "engine": engine, "gpu": results["meta"].get("gpus", ["?"])[0],
                     "nccl": results["meta"].get("nccl"), "measured": results["meta"].get("date_utc"),
                     "calibrated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    cal["fit"] = {"copy_Bps": copy_Bps, "closed_form_fixed_cost_s": a_s, "closed_form_per_gpu_Bps": b_Bps,
                  "per_gpu_Bps": b_Bps if args.model == "measured" else
                  cal["platform"]["links_per_gpu"] * cal["platform"]["link_bandwidth_Bps"]
                  * cal["platform"]["bandwidth_factor"],
                  "uniform": [{"bytes_per_gpu": m.bytes_per_gpu, "measured_s": m.max_s,
                               "predicted_s": m.max_s * (1 + r), "rel_err": float(r)} for m, r in zip(ms, resid)],
                  "uniform_median_abs_err": float(np.median(np.abs(resid))),
                  "uniform_max_abs_err": float(np.max(np.abs(resid)))}
    V.write_text_atomically(args.out, predictors.platform_yaml(cal, note))
    V.write_text_atomically(os.path.splitext(args.out)[0] + ".json", json.dumps(cal, indent=1) + "\n")

    f = cal["fit"]
    p = cal["platform"]
    if p.get("bandwidth_factors"):
        print(f"duplex bandwidth {p.get('duplex_bandwidth_Bps', 0) / 1e9:.1f} GB/s (send + receive per GPU); "
              "bandwidth factors by message size: "
              + ", ".join(f"{V.human_bytes(int(b))} {fac:.3f}" for b, fac in p["bandwidth_factors"]))
    print(f"copy bandwidth {copy_Bps / 1e9:.1f} GB/s; NCCL per-GPU bandwidth {f['per_gpu_Bps'] / 1e9:.1f} GB/s "
          f"(factor {cal['platform']['bandwidth_factor']:.4f}); launch latency "
          f"{cal['replay']['launch_latency_s'] * 1e6:.2f} us (+ latency {latency_s * 1e6:g} us, overhead "
          f"{overhead_s * 1e6:g} us); engine {engine}")
    for u in f["uniform"]:
        print(f"  uniform {V.human_bytes(u['bytes_per_gpu']):>9}: measured {u['measured_s'] * 1e6:8.1f} us, "
              f"predicted {u['predicted_s'] * 1e6:8.1f} us ({100 * u['rel_err']:+.1f} %)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except V.BadInput as e:
        print(e, file=sys.stderr)
        sys.exit(2)
