#!/usr/bin/python3
"""Baseline vs modified: two traces, two evaluations or two replays side by side (`moesim compare A B`).

  moesim compare base.h5 balanced.h5                 # traces (or `trace stats --json` outputs)
  moesim compare ppl-base.json ppl-ft.json --json    # `eval-ppl --json` or `assign-eval` JSON
  moesim compare runs/replay-base runs/replay-eplb --figure cmp.png   # `replay --out` folders

Prints one table (metric, A, B, B - A, change %), or with --json {"kind", "a", "b", "rows": [...]};
--figure writes the matching comparison figure (moesim_plots.fig_compare_*). Both inputs must be of
the same kind. Exit 0 ok, 2 bad input (one line naming the file).
"""
import argparse
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_plots as mp  # noqa: E402


class BadInput(Exception):
    pass


# --- inputs --------------------------------------------------------------------------------------

def h5_format(path):
    import h5py
    try:
        with h5py.File(path, "r") as f:
            v = f.attrs.get("format", b"")
            return v.decode() if isinstance(v, bytes) else str(v)
    except OSError as e:
        raise BadInput(f"{path}: not an HDF5 file ({e})")


def trace_stats(path, moesim):
    if not moesim:
        raise BadInput(f"{path}: a trace needs --moesim to compute its statistics "
                       f"(or give `moesim trace stats {path} --json` output)")
    r = subprocess.run([moesim, "trace", "stats", path, "--json", "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        raise BadInput(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"{path}: trace stats failed")
    return json.loads(r.stdout)


def is_eval(d):
    """`moesim eval-ppl --json` (one data set) or `moesim assign-eval` JSON (one row per strategy)."""
    return isinstance(d, dict) and (("ppl" in d and "dataset" in d) or isinstance(d.get("strategies"), list))


def load(path, moesim=None):
    """(kind, data): kind is stats, eval or replay."""
    if not os.path.exists(path):
        raise BadInput(f"{path}: no such file or folder")
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "replay.h5")):
            replay = mp.load_replay_h5(os.path.join(path, "replay.h5"))
            if replay is None:
                raise BadInput(f"{os.path.join(path, 'replay.h5')}: not a moesim replay file")
            if os.path.exists(os.path.join(path, "summary.json")):
                replay["summary"] = mp.load_json(os.path.join(path, "summary.json"))
            return "replay", replay
        raise BadInput(f"{path}: a folder must be a `moesim replay --out` folder (no replay.h5)")
    if path.endswith((".h5", ".hdf5")):
        fmt = h5_format(path)
        if fmt == "moesim-trace":
            return "stats", trace_stats(path, moesim)
        replay = mp.load_replay_h5(path)
        if replay is not None:
            return "replay", replay
        raise BadInput(f"{path}: HDF5 file of unknown kind (format '{fmt}')")
    try:
        d = mp.load_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: not JSON ({e})")
    if mp.is_stats(d):
        return "stats", d
    if is_eval(d):
        return "eval", d
    replay = mp.normalize_replay(d)
    if replay is not None and replay["a2a"]:
        return "replay", replay
    raise BadInput(f"{path}: not a trace, trace stats, eval-ppl / assign-eval JSON or replay output")


# --- rows ----------------------------------------------------------------------------------------

def row(metric, a, b):
    ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (a, b))
    delta = b - a if ok else None
    pct = 100 * delta / a if ok and a else None
    return {"metric": metric, "a": a, "b": b, "delta": delta, "change_pct": pct}


STATS_METRICS = (("gini", "Gini"), ("cv", "CV"), ("max_mean_ratio", "max/mean"), ("max_vio", "MaxVio"),
                 ("entropy_norm", "entropy (normalised)"))


def stats_rows(a, b):
    out = []
    la, lb = {l["layer"]: l for l in a["layers"]}, {l["layer"]: l for l in b["layers"]}
    common = sorted(set(la) & set(lb))
    if not common:
        raise BadInput("the two traces share no MoE layer")
    for key, label in STATS_METRICS:
        out.append(row(f"{label}, mean over layers", a["mean_over_layers"]["all"][key], b["mean_over_layers"]["all"][key]))
        out.append(row(f"{label}, max over layers", max(la[l]["all"][key] for l in common),
                       max(lb[l]["all"][key] for l in common)))
    for l in common:
        for key, label in STATS_METRICS[:3]:
            out.append(row(f"layer {l} {label}", la[l]["all"][key], lb[l]["all"][key]))
    out.append(row("dead experts (0 tokens), all layers", sum(x == 0 for l in common for x in la[l]["loads"]),
                   sum(x == 0 for l in common for x in lb[l]["loads"])))
    return out


def eval_pairs(a, b):
    """[(label, ppl_a, ppl_b)]: the one perplexity of eval-ppl outputs, or per strategy of assign-eval."""
    if "strategies" in a and "strategies" in b:
        sa = {r["strategy"]: r for r in a["strategies"]}
        pairs = [(r["strategy"], sa[r["strategy"]]["ppl"], r["ppl"]) for r in b["strategies"] if r["strategy"] in sa]
        if not pairs:
            raise BadInput("the two assign-eval outputs share no strategy")
        return pairs
    if "ppl" in a and "ppl" in b:
        return [(f"ppl ({a.get('dataset', '?')} / {b.get('dataset', '?')})", a["ppl"], b["ppl"])]
    raise BadInput("one input is eval-ppl JSON, the other assign-eval JSON: compare like with like")


def eval_rows(a, b):
    out = [row(label, x, y) for label, x, y in eval_pairs(a, b)]
    if "strategies" in a and "strategies" in b:
        sa = {r["strategy"]: r for r in a["strategies"]}
        for r in b["strategies"]:
            if r["strategy"] in sa:
                for key, label in (("gini", "Gini"), ("a2a_p99_s", "all-to-all P99 (s)")):
                    if key in r and key in sa[r["strategy"]]:
                        out.append(row(f"{r['strategy']} {label}", sa[r["strategy"]][key], r[key]))
    else:
        for key in ("token_ppl", "mean_loss"):
            if key in a and key in b:
                out.append(row(key, a[key], b[key]))
    return out


def replay_phases(replay):
    """{phase: {p50, p99, ...}} of the replay summary's phases that carry all-to-all time percentiles
    (other entries, such as a per-layer breakdown, are skipped); from the rows when no summary."""
    s = replay.get("summary") or {}
    out = {}
    for phase, p in (s.get("phases") or {}).items():
        if isinstance(p, dict) and isinstance(p.get("time_s"), dict) and "p50" in p["time_s"]:
            out[phase] = p
    if not out:
        times = [r["time_s"] for r in replay["a2a"]]
        out["all"] = {"time_s": {"p50": mp._percentile(times, 0.5), "p99": mp._percentile(times, 0.99),
                                 "max": max(times), "mean": sum(times) / len(times)}}
    return out


def replay_rows(a, b):
    out = []
    pa, pb = replay_phases(a), replay_phases(b)
    for phase in [p for p in ("dispatch", "combine", "all") if p in pa and p in pb] + \
            sorted(p for p in pa if p in pb and p not in ("dispatch", "combine", "all")):
        for q in ("p50", "p99", "max", "mean"):
            out.append(row(f"{phase} all-to-all {q.upper()} (us)", pa[phase]["time_s"][q] * 1e6,
                           pb[phase]["time_s"][q] * 1e6))
        if "mean_slowdown" in pa[phase] and "mean_slowdown" in pb[phase]:
            out.append(row(f"{phase} mean slowdown (time / balanced)", pa[phase]["mean_slowdown"], pb[phase]["mean_slowdown"]))
    la, lb = mp.replay_layer_times(a), mp.replay_layer_times(b)
    for layer in sorted({l for _, l in la} & {l for _, l in lb}):
        out.append(row(f"layer {layer} dispatch + combine, mean over steps (us)",
                       sum(v for (_, l), v in la.items() if l == layer) * 1e6,
                       sum(v for (_, l), v in lb.items() if l == layer) * 1e6))
    return out


def compare(kind, a, b):
    return {"stats": stats_rows, "eval": eval_rows, "replay": replay_rows}[kind](a, b)


def figure(kind, a, b, names):
    if kind == "stats":
        return mp.fig_compare_stats(a, b, names)
    if kind == "eval":
        return mp.fig_compare_evals(eval_pairs(a, b), names)
    return mp.fig_compare_replays([a, b], names)


def text_table(rows, names):
    def cell(v, digits=4):
        if v is None:
            return "-"
        return f"{v:.{digits}g}" if isinstance(v, float) else str(v)
    width = max([len(r["metric"]) for r in rows] + [6])
    lines = [f"{'metric':<{width}} {names[0][:14]:>14} {names[1][:14]:>14} {'B - A':>11} {'change':>9}"]
    for r in rows:
        pct = f"{r['change_pct']:+.1f} %" if r["change_pct"] is not None else "-"
        delta = f"{r['delta']:+.4g}" if r["delta"] is not None else "-"
        lines.append(f"{r['metric']:<{width}} {cell(r['a']):>14} {cell(r['b']):>14} {delta:>11} {pct:>9}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="baseline: trace, stats JSON, eval JSON or replay folder")
    ap.add_argument("b", help="modified: the same kind as A")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--figure", help="also write the comparison figure (PNG)")
    ap.add_argument("--moesim", help="the moesim binary (to compute stats of trace files)")
    args = ap.parse_args()
    try:
        kind_a, a = load(args.a, args.moesim)
        kind_b, b = load(args.b, args.moesim)
        if kind_a != kind_b:
            raise BadInput(f"{args.b}: its kind ({kind_b}) differs from {args.a}'s ({kind_a}): compare two of the same kind")
        rows = compare(kind_a, a, b)
        names = (os.path.basename(os.path.normpath(args.a)), os.path.basename(os.path.normpath(args.b)))
        if args.figure:
            figure(kind_a, a, b, names).savefig(args.figure, dpi=110)
    except BadInput as e:
        print(f"moesim: error: {e}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, ValueError, IndexError) as e:
        print(f"moesim: error: {args.a} / {args.b}: missing or malformed field ({type(e).__name__}: {e})", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"kind": kind_a, "a": args.a, "b": args.b, "rows": rows,
                          **({"figure": args.figure} if args.figure else {})}, indent=2))
    else:
        print(f"{kind_a}: A = {args.a}, B = {args.b}")
        print(text_table(rows, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
