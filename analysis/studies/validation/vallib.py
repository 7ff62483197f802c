"""Shared helpers of the hardware validation: load measurements, size classes, error statistics.

Plain numpy + standard library (Debian's /usr/bin/python3), no other dependency.
"""
import json
import os

import numpy as np

KiB = 1024
MiB = 1024 * KiB
HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))  # analysis/studies/validation
DEFAULT_RESULTS = os.path.join(HERE, "h100x4", "results.json")

# The size classes, by bytes per GPU (mean input-buffer bytes, diagonal included).
SIZE_CLASSES = [("< 1 MB", 0, 1 * MiB), ("1-16 MB", 1 * MiB, 16 * MiB), (">= 16 MB", 16 * MiB, float("inf"))]
HEADLINE_MIN_BYTES = 4 * MiB          # the target: median error <= 10 % at >= 4 MB per GPU


class BadInput(Exception):
    """A problem with the user's files or arguments: the scripts print it and exit 2."""


def size_class(bytes_per_gpu):
    for name, lo, hi in SIZE_CLASSES:
        if lo <= bytes_per_gpu < hi:
            return name
    raise ValueError(bytes_per_gpu)


def human_bytes(b):
    return f"{b / MiB:g} MiB" if b >= MiB else f"{b / KiB:g} KiB"


def load_results(path=DEFAULT_RESULTS):
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        raise BadInput(f"{path}: cannot read measurements: {e}")
    if "records" not in d or "meta" not in d:
        raise BadInput(f"{path}: not a measure_alltoall.py results.json (no 'meta'/'records')")
    return d


class Measurement:
    """One (rep, pattern, size): the matrix and per-rank / max-over-ranks median latencies."""

    def __init__(self, rec):
        self.rep = rec["rep"]
        self.pattern = rec["pattern"]
        self.bytes_per_gpu = rec["bytes_per_gpu"]
        self.matrix_bytes = np.array(rec["matrix_bytes"], dtype=np.int64)
        self.per_rank_s = np.array([r["median_s"] for r in rec["per_rank"]])
        self.per_rank_p10_s = np.array([r["p10_s"] for r in rec["per_rank"]])
        self.per_rank_p90_s = np.array([r["p90_s"] for r in rec["per_rank"]])
        self.max_s = rec["max_over_ranks"]["median_s"]
        self.max_p10_s = rec["max_over_ranks"]["p10_s"]
        self.max_p90_s = rec["max_over_ranks"]["p90_s"]

    @property
    def n(self):
        return self.matrix_bytes.shape[0]

    def offdiag(self):
        m = self.matrix_bytes.copy()
        np.fill_diagonal(m, 0)
        return m


def measurements(results, rep=None):
    return [Measurement(r) for r in results["records"] if rep is None or r["rep"] == rep]


def relative_errors(predicted, measured):
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    return (predicted - measured) / measured


def error_table(rows):
    """rows: dicts with bytes_per_gpu, err_per_gpu (array), err_max (float).

    Returns per size class (and the headline >= 4 MB set): count, median and max |relative error| of
    per-GPU latency and of the max-over-GPUs latency, plus the signed median (bias).
    """
    out = []
    groups = [(name, lambda b, lo=lo, hi=hi: lo <= b < hi) for name, lo, hi in SIZE_CLASSES]
    groups.append((f">= {HEADLINE_MIN_BYTES // MiB} MB (headline)", lambda b: b >= HEADLINE_MIN_BYTES))
    groups.append(("all", lambda b: True))
    for name, member in groups:
        sel = [r for r in rows if member(r["bytes_per_gpu"])]
        if not sel:
            continue
        per_gpu = np.concatenate([np.asarray(r["err_per_gpu"]) for r in sel])
        mx = np.array([r["err_max"] for r in sel])
        out.append({"class": name, "matrices": len(sel),
                    "per_gpu_median_abs": float(np.median(np.abs(per_gpu))),
                    "per_gpu_max_abs": float(np.max(np.abs(per_gpu))),
                    "per_gpu_median_signed": float(np.median(per_gpu)),
                    "max_median_abs": float(np.median(np.abs(mx))),
                    "max_max_abs": float(np.max(np.abs(mx))),
                    "max_median_signed": float(np.median(mx))})
    return out


def markdown_error_table(table):
    lines = ["| size per GPU | matrices | per-GPU median \\|err\\| | per-GPU max \\|err\\| | per-GPU bias | "
             "max-over-GPUs median \\|err\\| | max-over-GPUs max \\|err\\| | max-over-GPUs bias |",
             "|---|---|---|---|---|---|---|---|"]
    for t in table:
        lines.append(f"| {t['class']} | {t['matrices']} | {100 * t['per_gpu_median_abs']:.1f} % | "
                     f"{100 * t['per_gpu_max_abs']:.1f} % | {100 * t['per_gpu_median_signed']:+.1f} % | "
                     f"{100 * t['max_median_abs']:.1f} % | {100 * t['max_max_abs']:.1f} % | "
                     f"{100 * t['max_median_signed']:+.1f} % |")
    return "\n".join(lines)


def write_text_atomically(path, text):
    """Temp file + rename, so a reader never sees half a file."""
    tmp = f"{path}.partial-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
