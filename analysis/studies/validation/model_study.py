#!/usr/bin/env python3
"""What would a richer platform model buy? Error of model variants, all evaluated with the numpy fluid
reference (fluid_reference.py) on the same skewed matrices as predict.py.

  /usr/bin/python3 analysis/studies/validation/model_study.py [--results results.json] [--moesim build/cli/moesim]

With --moesim, the `duplex` variant is also replayed by moesim itself, on a SimGrid XML platform
that gives each GPU an up link, a down link and one SHARED link crossed by all its flows in and out.

Variants (every one calibrated from the uniform matrices and the peer copy bandwidth only, except
the last, which is marked as an oracle):
  links        one egress and one ingress link per GPU, both at B fitted on the uniform matrices:
               what `moesim replay` on the calibrated preset computes.
  links+size   as links, with B looked up per matrix from the uniform measurement of the same size
               per GPU (what one calibrated platform per size class would give).
  duplex       egress and ingress at the copy-engine bandwidth (one direction alone runs as fast as a
               peer copy), plus a per-GPU cap D on egress + ingress together, fitted on the uniform
               matrices (in which every GPU sends and receives at once).
  duplex+size  as duplex, with D looked up per matrix from the uniform measurement of the same size
               per GPU (NCCL's protocol and chunking make small transfers less efficient).
  +pair-oracle duplex+size plus a per-flow cap read off random_skew_s1 at 256 MiB: NOT a prediction,
               it shows what a one-pair measurement in the calibration set would give.
"""
import argparse
import os
import shutil
import subprocess
import tempfile

import numpy as np

import fluid_reference as F
import predictors
import vallib as V

XML_LATENCY_S = 1e-6      # one-way GPU -> GPU, as the preset: half on the up link, half on the down link


def duplex_xml(n, egress_Bps, duplex_Bps):
    """SimGrid XML: GPU i -> j crosses up_i, gpu_i (shared in+out), down_j, gpu_j."""
    lines = ["<?xml version='1.0'?>", '<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">',
             '<platform version="4.1">', '  <zone id="node0" routing="Full">']
    lines += [f'    <host id="gpu{i}" speed="1Tf"/>' for i in range(n)]
    for i in range(n):
        lines += [f'    <link id="up{i}" bandwidth="{egress_Bps:.6g}Bps" latency="{XML_LATENCY_S / 2:.6g}s"/>',
                  f'    <link id="down{i}" bandwidth="{egress_Bps:.6g}Bps" latency="{XML_LATENCY_S / 2:.6g}s"/>',
                  f'    <link id="gpu{i}" bandwidth="{duplex_Bps:.6g}Bps" latency="0s" sharing_policy="SHARED"/>']
    for i in range(n):
        for j in range(n):
            if i != j:
                lines.append(f'    <route src="gpu{i}" dst="gpu{j}" symmetrical="NO"><link_ctn id="up{i}"/>'
                             f'<link_ctn id="gpu{i}"/><link_ctn id="down{j}"/><link_ctn id="gpu{j}"/></route>')
    lines += ["  </zone>", "</platform>", ""]
    return "\n".join(lines)


def moesim_duplex(moesim, ms, egress_Bps, duplex_Bps, launch_s):
    """Per-GPU predictions of moesim replay on the duplex XML platform."""
    work = tempfile.mkdtemp(prefix="moesim-duplex-")
    try:
        platform = os.path.join(work, "duplex.xml")
        with open(platform, "w") as f:
            f.write(duplex_xml(ms[0].n, egress_Bps, duplex_Bps))
        out = {}
        for k, m in enumerate(ms):
            matrix, rdir = os.path.join(work, f"m{k}.csv"), os.path.join(work, f"r{k}")
            np.savetxt(matrix, m.matrix_bytes, fmt="%d", delimiter=",")
            cmd = [moesim, "replay", "--matrix", matrix, "--platform", platform, "--algorithm", "direct",
                   "--launch-us", f"{launch_s * 1e6:.9g}", "--no-balanced", "--quiet", "--out", rdir]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"model_study: {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
            out[id(m)] = predictors.read_dispatch_finish(os.path.join(rdir, "replay.h5"), m.n)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fit_fixed_and_rate(uniform, load_of):
    """A, R minimising sum ((A + load/R) / t - 1)^2 over the uniform matrices."""
    x = np.array([load_of(m) for m in uniform], dtype=float)
    t = np.array([m.max_s for m in uniform])
    (a, inv_r), *_ = np.linalg.lstsq(np.stack([np.ones_like(x), x], 1) / t[:, None], np.ones_like(t), rcond=None)
    return float(a), float(1 / inv_r)


def score(ms, predict):
    rows = []
    for m in ms:
        p = predict(m)
        rows.append({"bytes_per_gpu": m.bytes_per_gpu, "err_per_gpu": V.relative_errors(p, m.per_rank_s),
                     "err_max": float(p.max() / m.max_s - 1)})
    return V.error_table(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=V.DEFAULT_RESULTS)
    ap.add_argument("--moesim", help="also replay the duplex variant with this moesim binary")
    args = ap.parse_args()
    results = V.load_results(args.results)
    ms = V.measurements(results, rep=0)
    uniform = sorted((m for m in ms if m.pattern == "uniform"), key=lambda m: m.bytes_per_gpu)
    skewed = [m for m in ms if m.pattern != "uniform"]
    copy_Bps = float(np.median([r["GBps"] for r in results["meta"]["copy_bandwidth"] if r["kind"] == "pair"])) * 1e9

    a_links, b_links = fit_fixed_and_rate(uniform, lambda m: m.offdiag().sum(1).max())
    a_dup, d_dup = fit_fixed_and_rate(uniform, lambda m: 2 * m.offdiag().sum(1).max())
    fixed_s = uniform[0].max_s                      # the smallest uniform: all fixed cost
    sizes = np.log([m.bytes_per_gpu for m in uniform])
    d_at = np.log([2 * m.offdiag().sum(1).max() / max(m.max_s - fixed_s, 1e-9) for m in uniform])

    b_at = d_at - np.log(2)                          # the same per-size rate, one direction

    def d_of(m):
        return float(np.exp(np.interp(np.log(m.bytes_per_gpu), sizes, d_at)))

    def b_of(m):
        return float(np.exp(np.interp(np.log(m.bytes_per_gpu), sizes, b_at)))

    oracle = next(m for m in skewed if m.pattern == "random_skew_s1" and m.bytes_per_gpu == 256 * V.MiB)
    pair_Bps = oracle.offdiag().max() / oracle.max_s     # the biggest pair's bytes over the measured time

    variants = [
        ("links", f"B = {b_links / 1e9:.0f} GB/s, fixed {a_links * 1e6:.1f} us",
         lambda m: F.direct_alltoall(m.matrix_bytes, b_links, launch_s=a_links)),
        ("links+size", f"B looked up by size per GPU from the uniform measurement, fixed {fixed_s * 1e6:.1f} us",
         lambda m: F.direct_alltoall(m.matrix_bytes, b_of(m), launch_s=fixed_s)),
        ("duplex", f"E = I = {copy_Bps / 1e9:.0f} GB/s, D = {d_dup / 1e9:.0f} GB/s, fixed {a_dup * 1e6:.1f} us",
         lambda m: F.direct_alltoall(m.matrix_bytes, copy_Bps, launch_s=a_dup, duplex_Bps=d_dup)),
        ("duplex+size", f"D from {min(np.exp(d_at[1:])) / 1e9:.0f} to {max(np.exp(d_at[1:])) / 1e9:.0f} GB/s by size, "
         f"fixed {fixed_s * 1e6:.1f} us",
         lambda m: F.direct_alltoall(m.matrix_bytes, copy_Bps, launch_s=fixed_s, duplex_Bps=d_of(m))),
        ("+pair-oracle", f"per-flow cap {pair_Bps / 1e9:.0f} GB/s (read off random_skew_s1, 256 MiB)",
         lambda m: F.direct_alltoall(m.matrix_bytes, copy_Bps, launch_s=fixed_s, duplex_Bps=d_of(m),
                                     pair_Bps=pair_Bps)),
    ]
    if args.moesim:
        launch_s = max(a_dup - XML_LATENCY_S, 0.0)
        got = moesim_duplex(args.moesim, skewed, copy_Bps, d_dup, launch_s)
        variants.insert(3, ("duplex (moesim)", "the same, replayed by moesim on a SimGrid XML platform",
                            lambda m: got[id(m)]))
    print("| variant | parameters | max-over-GPUs median \\|err\\| < 1 MB / 1-16 MB / >= 16 MB / >= 4 MB | "
          "per-GPU median \\|err\\| >= 4 MB | max-over-GPUs max \\|err\\| >= 4 MB |")
    print("|---|---|---|---|---|")
    for name, params, predict in variants:
        t = {row["class"]: row for row in score(skewed, predict)}
        classes = [c for c, _, _ in V.SIZE_CLASSES] + [f">= {V.HEADLINE_MIN_BYTES // V.MiB} MB (headline)"]
        head = t[classes[-1]]
        print(f"| {name} | {params} | " + " / ".join(f"{100 * t[c]['max_median_abs']:.1f} %" for c in classes)
              + f" | {100 * head['per_gpu_median_abs']:.1f} % | {100 * head['max_max_abs']:.1f} % |")


if __name__ == "__main__":
    main()
