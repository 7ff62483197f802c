#!/usr/bin/env python3
"""Print the measured tables of README.md (markdown) from a measure_alltoall.py results.json.

  /usr/bin/python3 analysis/studies/validation/measured_tables.py [analysis/studies/validation/h100x4/results.json]

Includes the run-to-run noise floor: the second pass over the matrices (run in reverse order)
scored against the first with the same error statistics as the simulator's predictions.
"""
import sys

import numpy as np

import vallib as V


def environment(meta):
    gpus = meta.get("gpus", [])
    return (f"{len(gpus)} x {gpus[0] if gpus else '?'}, driver {meta.get('driver', '?')}, "
            f"NCCL {meta.get('nccl', '?')}, PyTorch {meta.get('torch', '?')} (CUDA {meta.get('cuda_runtime', '?')}), "
            f"measured {meta.get('date_utc', '?')[:16]} UTC; env "
            + ", ".join(f"{k}={v}" for k, v in meta.get("env", {}).items() if k.startswith(("NCCL_NVLS", "TORCH_SYMM"))))


def copy_table(meta):
    rows = meta.get("copy_bandwidth", [])
    lines = ["| copy (cudaMemcpyPeerAsync via tensor.copy_) | bytes | GB/s |", "|---|---|---|"]
    for r in rows:
        if r["kind"] == "pair":
            continue
        what = {"pair_size_sweep": f"GPU{r['src']} -> GPU{r['dst']}",
                "one_to_all": f"GPU0 -> GPU{r['dst']} (while GPU0 -> all others)",
                "one_to_all_total": "GPU0 -> all others, total", "all_to_one_total": "all others -> GPU0, total"}[r["kind"]]
        lines.append(f"| {what} | {V.human_bytes(r['bytes'])} | {r['GBps']:.1f} |")
    pairs = [r["GBps"] for r in rows if r["kind"] == "pair"]
    if pairs:
        lines.append(f"| every ordered pair (12), min / max | 256 MiB | {min(pairs):.1f} / {max(pairs):.1f} |")
    return "\n".join(lines)


def uniform_table(ms):
    lines = ["| bytes per GPU | max-over-GPUs median (p10-p90) us | per-GPU medians us | "
             "off-GPU bytes per GPU / max median (GB/s) |", "|---|---|---|---|"]
    for m in sorted((m for m in ms if m.pattern == "uniform"), key=lambda m: m.bytes_per_gpu):
        off = m.offdiag().sum(axis=1).max()
        lines.append(f"| {V.human_bytes(m.bytes_per_gpu)} | {m.max_s * 1e6:.1f} ({m.max_p10_s * 1e6:.1f}-"
                     f"{m.max_p90_s * 1e6:.1f}) | " + " / ".join(f"{t * 1e6:.1f}" for t in m.per_rank_s)
                     + f" | {off / m.max_s / 1e9:.0f} |")
    return "\n".join(lines)


def pattern_table(ms):
    patterns = [p for p in dict.fromkeys(m.pattern for m in ms) if p != "uniform"]
    sizes = sorted({m.bytes_per_gpu for m in ms if m.pattern != "uniform"})
    by = {(m.pattern, m.bytes_per_gpu): m for m in ms}
    lines = ["| bytes per GPU | uniform | " + " | ".join(patterns) + " |", "|---" * (len(patterns) + 2) + "|"]
    for s in sizes:
        cells = []
        for p in ["uniform"] + patterns:
            m = by.get((p, s))
            cells.append(f"{m.max_s * 1e6:.1f}" if m else "-")
        lines.append(f"| {V.human_bytes(s)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def imbalance_table(ms, size):
    """Per pattern at one size: max ingress / egress off-GPU bytes over the uniform case, and time ratio."""
    by = {(m.pattern, m.bytes_per_gpu): m for m in ms}
    u = by[("uniform", size)]
    u_off = u.offdiag()
    u_load = max(u_off.sum(0).max(), u_off.sum(1).max())
    lines = ["| pattern | max egress MiB | max ingress MiB | max(load) / uniform's | time / uniform's |",
             "|---|---|---|---|---|"]
    for p in dict.fromkeys(m.pattern for m in ms):
        m = by.get((p, size))
        if not m:
            continue
        off = m.offdiag()
        load = max(off.sum(0).max(), off.sum(1).max())
        lines.append(f"| {p} | {off.sum(1).max() / V.MiB:.1f} | {off.sum(0).max() / V.MiB:.1f} | "
                     f"{load / u_load:.2f} | {m.max_s / u.max_s:.2f} |")
    return "\n".join(lines)


def noise_floor(results):
    first = {(m.pattern, m.bytes_per_gpu): m for m in V.measurements(results, rep=0)}
    rows = []
    for m in V.measurements(results, rep=1):
        ref = first.get((m.pattern, m.bytes_per_gpu))
        if ref is not None:
            rows.append({"bytes_per_gpu": m.bytes_per_gpu,
                         "err_per_gpu": V.relative_errors(m.per_rank_s, ref.per_rank_s),
                         "err_max": float(V.relative_errors([m.max_s], [ref.max_s])[0])})
    return V.error_table(rows)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else V.DEFAULT_RESULTS
    results = V.load_results(path)
    ms = V.measurements(results, rep=0)
    print("Environment: " + environment(results["meta"]) + "\n")
    print(copy_table(results["meta"]) + "\n")
    print("Uniform all-to-all (first pass):\n\n" + uniform_table(ms) + "\n")
    print("Max-over-GPUs median latency, us (first pass):\n\n" + pattern_table(ms) + "\n")
    print("Load versus time at 256 MiB per GPU:\n\n" + imbalance_table(ms, 256 * V.MiB) + "\n")
    print("Run-to-run noise floor (second pass, reverse order, against the first):\n\n"
          + V.markdown_error_table(noise_floor(results)))


if __name__ == "__main__":
    try:
        main()
    except V.BadInput as e:
        print(e, file=sys.stderr)
        sys.exit(2)
