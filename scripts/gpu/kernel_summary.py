#!/usr/bin/env python3
"""Where one profiled step's GPU time goes, from a Chrome trace written by LibTorch's profiler
(moesim-gpu bench-capture --profile FILE, or tests/bench/capture_vs_transformers.py --profile FILE).

  python3 scripts/gpu/kernel_summary.py TRACE.json [--top 25] [--json OUT.json]

Sums the device activities ("kernel", "gpu_memcpy", "gpu_memset" events) by name and prints, for the
step: the GPU span (first device activity's start to the last one's end), the time the GPU is busy
in that span (the union of the activities' intervals) and so idle (launch gaps, host syncs), and the
top kernels by total time, each with its share of the busy time. GEMMs are also summed as one line
(names holding gemm, cutlass, sm90_xmma, cublas) since they are what the step cannot avoid.
"""
import argparse
import json
import re
from collections import defaultdict

DEVICE_CATEGORIES = {"kernel", "gpu_memcpy", "gpu_memset", "Kernel", "Memcpy", "Memset"}
GEMM = re.compile(r"gemm|cutlass|xmma|cublas|nvjet", re.I)


def device_events(trace):
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    return [e for e in events if e.get("ph") == "X" and e.get("cat") in DEVICE_CATEGORIES and "dur" in e]


def busy_us(events):
    """Length of the union of the events' [ts, ts + dur) intervals."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted((e["ts"], e["ts"] + e["dur"]) for e in events):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def summarize(path, top):
    with open(path) as f:
        events = device_events(json.load(f))
    if not events:
        raise SystemExit(f"{path}: no device activity (was the profiler built with CUDA?)")
    span = max(e["ts"] + e["dur"] for e in events) - min(e["ts"] for e in events)
    busy = busy_us(events)
    by_name = defaultdict(lambda: [0.0, 0])
    for e in events:
        by_name[e["name"]][0] += e["dur"]
        by_name[e["name"]][1] += 1
    gemm_us = sum(t for n, (t, _) in by_name.items() if GEMM.search(n))
    rows = sorted(((t, c, n) for n, (t, c) in by_name.items()), reverse=True)[:top]
    return {"trace": path, "span_us": span, "busy_us": busy, "idle_us": span - busy, "gemm_us": gemm_us,
            "activities": len(events), "top": [{"name": n, "us": t, "count": c} for t, c, n in rows]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("trace")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--json")
    a = p.parse_args()
    s = summarize(a.trace, a.top)
    print(f"{a.trace}: GPU span {s['span_us'] / 1e3:.2f} ms, busy {s['busy_us'] / 1e3:.2f} ms "
          f"({100 * s['busy_us'] / s['span_us']:.1f} %), idle {s['idle_us'] / 1e3:.2f} ms; "
          f"{s['activities']} device activities; GEMMs {s['gemm_us'] / 1e3:.2f} ms "
          f"({100 * s['gemm_us'] / s['busy_us']:.1f} % of busy)")
    for r in s["top"]:
        print(f"  {r['us'] / 1e3:8.3f} ms {100 * r['us'] / s['busy_us']:5.1f} % x{r['count']:<5} {r['name'][:110]}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(s, f, indent=1)


if __name__ == "__main__":
    main()
