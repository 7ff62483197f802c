#!/usr/bin/python3
"""One figure as a PNG from a moesim output. Examples:

  moesim trace stats t.h5 --json > stats.json
  /usr/bin/python3 analysis/plot.py heatmap stats.json --out load.png
  /usr/bin/python3 analysis/plot.py balance stats.json --out balance.png        (Gini, CV, MaxVio per layer)
  /usr/bin/python3 analysis/plot.py load-bars stats.json --out bars.png        (tokens per expert, uniform line)
  /usr/bin/python3 analysis/plot.py training runs/ft/history.jsonl --out curves.png
  /usr/bin/python3 analysis/plot.py compare base.json modified.json --out cmp.png   (two stats, evals or replays)
  moesim replay --trace t.h5 --platform dgx-h100-8gpu --out rp
  /usr/bin/python3 analysis/plot.py gpu-bars rp --out gpus.png      (rp/replay.h5)
  /usr/bin/python3 analysis/plot.py cdf rp --out cdf.png
  /usr/bin/python3 analysis/plot.py sweep runs/x/results.csv --x s --y replay.phases.all.time_s.p99 \\
      --by placement --where platform=dgx-h100-8gpu --out curve.png
  /usr/bin/python3 analysis/plot.py assign study/assign_eval.json --out tradeoff.png   (moesim assign-eval)
  /usr/bin/python3 analysis/plot.py finetune analysis/studies/finetune_study_runs --out finetune.png

Exit 0 ok, 2 bad input (with a one-line message naming the file; never a traceback).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_plots as mp  # noqa: E402


def fail(msg):
    print(f"plot.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def load_replay(path):
    if os.path.isdir(path):  # `moesim replay --out DIR`
        path = os.path.join(path, "replay.h5")
    d = mp.load_replay_h5(path) if path.endswith(".h5") else mp.normalize_replay(mp.load_json(path))
    if d is None or not d["a2a"]:
        fail(f"{path}: not a moesim replay output (no per-GPU / per-all-to-all rows)")
    return d


def load_json_or_fail(path):
    try:
        return mp.load_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        if path.endswith((".h5", ".hdf5")):
            fail(f"{path}: an HDF5 file, not stats JSON; run `moesim trace stats {path} --json > stats.json` "
                 f"and plot stats.json")
        fail(f"{path}: not JSON ({e})")


def load_stats(path):
    d = load_json_or_fail(path)
    if not mp.is_stats(d):
        fail(f"{path}: not `moesim trace stats --json` output")
    return d


def finetune_rows(path):
    import finetune_runs as fs
    if not os.path.isdir(path):
        fail(f"{path}: finetune takes a folder of runs (LOSS_LAMBDA/history.jsonl); for one history use `plot.py training`")
    try:
        rows = fs.summary_rows(path)
    except (ValueError, IndexError, KeyError, ZeroDivisionError) as e:
        fail(f"{path}: fine-tuning runs must be named LOSS_LAMBDA (e.g. gini_0.1/history.jsonl or "
             f"gini_0.1.history.jsonl) with evaluations at the first and last step ({type(e).__name__}: {e})")
    if not rows:
        fail(f"{path}: no fine-tuning runs (LOSS_LAMBDA/history.jsonl or LOSS_LAMBDA.history.jsonl); "
             f"for one run's curves use `plot.py training`")
    return rows


def compare_figure(a_path, b_path, moesim):
    import compare
    try:
        kind_a, a = compare.load(a_path, moesim)
        kind_b, b = compare.load(b_path, moesim)
        if kind_a != kind_b:
            fail(f"{b_path}: its kind ({kind_b}) differs from {a_path}'s ({kind_a}): compare two of the same kind")
        names = (os.path.basename(os.path.normpath(a_path)), os.path.basename(os.path.normpath(b_path)))
        return compare.figure(kind_a, a, b, names)
    except compare.BadInput as e:
        fail(str(e))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["heatmap", "balance", "load-bars", "gpu-bars", "cdf", "sweep", "assign", "finetune",
                                     "training", "compare"])
    ap.add_argument("input")
    ap.add_argument("input_b", nargs="?", help="compare: the modified output (the same kind as INPUT)")
    ap.add_argument("--moesim", help="compare: the moesim binary, to compute the stats of two traces")
    ap.add_argument("--out", required=True, help="PNG file to write")
    ap.add_argument("--x", help="sweep: the swept parameter (x axis)")
    ap.add_argument("--y", help="sweep: the result column (y axis)")
    ap.add_argument("--by", help="sweep: one line per value of this column (e.g. the strategy)")
    ap.add_argument("--where", action="append", default=[], metavar="COL=VALUE",
                    help="sweep: only rows where COL equals VALUE (repeatable)")
    ap.add_argument("--title", help="figure title")
    ap.add_argument("--dpi", type=int, default=110)
    a = ap.parse_args()
    try:
        draw(a)
    except SystemExit:
        raise
    except mp.NotHistory as e:
        fail(str(e))
    except (OSError, KeyError, TypeError, ValueError, IndexError, ZeroDivisionError) as e:
        fail(f"{a.input}: cannot draw {a.kind} from it ({type(e).__name__}: {e})")


def draw(a):
    for path in [a.input] + ([a.input_b] if a.input_b else []):
        if not os.path.exists(path):
            fail(f"{path}: no such file")
    if (a.kind == "compare") != bool(a.input_b):
        fail("compare takes two inputs (A B); every other figure one")
    if a.kind == "heatmap":
        fig = mp.fig_expert_load_heatmap(load_stats(a.input))
    elif a.kind == "balance":
        fig = mp.fig_balance_per_layer(load_stats(a.input))
    elif a.kind == "load-bars":
        fig = mp.fig_expert_load_bars(load_stats(a.input))
    elif a.kind == "training":
        fig = mp.fig_training_curves(mp.load_history(a.input), title=a.title)
    elif a.kind == "compare":
        fig = compare_figure(a.input, a.input_b, a.moesim)
    elif a.kind == "gpu-bars":
        fig = mp.fig_gpu_latency_bars(load_replay(a.input))
    elif a.kind == "cdf":
        fig = mp.fig_latency_cdf(load_replay(a.input))
    elif a.kind == "assign":
        d = load_json_or_fail(a.input)
        if not isinstance(d, dict) or not d.get("strategies"):
            fail(f"{a.input}: not `moesim assign-eval` JSON (no strategies)")
        fig = mp.fig_assign_tradeoff(d, title=a.title)
    elif a.kind == "finetune":
        fig = mp.fig_finetune_tradeoff(finetune_rows(a.input), title=a.title)
    else:
        path = os.path.join(a.input, "results.csv") if os.path.isdir(a.input) else a.input
        rows = mp.read_results_csv(path)
        if not a.x or not a.y:
            fail("sweep: give --x PARAM and --y COLUMN")
        where = [w.split("=", 1) for w in a.where]
        if any(len(w) != 2 for w in where):
            fail("--where: expected COL=VALUE")
        for c in [a.x, a.y] + ([a.by] if a.by else []) + [w[0] for w in where]:
            if rows and c not in rows[0]:
                fail(f"{path}: no column '{c}'")
        rows = [r for r in rows if all(r[c] == v for c, v in where)]
        if not rows:
            fail(f"{path}: no rows where {' and '.join(a.where)}")
        note = f" ({', '.join(a.where)})" if a.where else ""
        fig = mp.fig_sweep_curves(rows, a.x, a.y, a.by, title=a.title, note=note)
    fig.savefig(a.out, dpi=a.dpi)
    print(a.out)


if __name__ == "__main__":
    main()
