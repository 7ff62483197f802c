#!/usr/bin/python3
"""The figures draw the numbers they claim: checked on the artists matplotlib holds, against
hand-computed values. Run by ctest (analysis.plots) with Debian's /usr/bin/python3."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import moesim_plots as mp  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)


def sweep_curves_average_over_other_parameters():
    # Two placements x s in {0, 1} x two seeds; y = 10*s + seed (+100 for eplb): the line for a placement
    # at s is the mean over seeds, 10*s + 1.5 (+100). A failed row must not count.
    rows = [{"status": "ok", "placement": p, "s": str(s), "seed": str(seed), "y": str(10 * s + seed + (100 if p == "eplb" else 0))}
            for p in ("contiguous", "eplb") for s in (0, 1) for seed in (1, 2)]
    rows.append({"status": "failed", "placement": "eplb", "s": "1", "seed": "3", "y": "1e9"})
    fig = mp.fig_sweep_curves(rows, "s", "y", ["placement"])
    lines = {l.get_label(): list(l.get_ydata()) for l in fig.axes[0].lines}
    check(lines == {"placement=contiguous": [1.5, 11.5], "placement=eplb": [101.5, 111.5]}, f"sweep curves {lines}")


def sweep_curves_draw_seconds_in_microseconds():
    rows = [{"status": "ok", "s": "0", "replay.phases.all.time_s.p99": "2.5e-05"}]
    fig = mp.fig_sweep_curves(rows, "s", "replay.phases.all.time_s.p99")
    ax = fig.axes[0]
    check(abs(ax.lines[0].get_ydata()[0] - 25.0) < 1e-9, "seconds scaled to us")
    check(ax.get_ylabel() == "P99 all-to-all time, all phases (us)", ax.get_ylabel())


def gpu_bars_mark_the_straggler_and_measure_from_each_gpus_start():
    # One combine all-to-all on 3 GPUs starting at 10, 12, 10 us; finishing at 30, 50, 40 us: bars are
    # each GPU's finish - own start = 20, 38, 30 us; GPU 1 is the straggler.
    a2a = [{"step": 0, "layer": 0, "phase": 1, "time_s": 40e-6, "balanced_s": 25e-6, "bound_s": 35e-6, "straggler_gpu": 1}]
    gpu = [{"step": 0, "layer": 0, "phase": 1, "gpu": g, "start_s": st * 1e-6, "finish_s": fi * 1e-6}
           for g, st, fi in ((0, 10, 30), (1, 12, 50), (2, 10, 40))]
    fig = mp.fig_gpu_latency_bars({"gpu": gpu, "a2a": a2a, "summary": {}})
    bars = fig.axes[0].patches
    heights = [round(b.get_height(), 9) for b in bars]
    check(heights == [20.0, 38.0, 30.0], f"bar heights {heights}")
    colors = [to_hex(b.get_facecolor()) for b in bars]
    check(colors == [mp.GPU_COLOR, mp.STRAGGLER_COLOR, mp.GPU_COLOR], f"bar colours {colors}")
    hlines = sorted(round(l.get_ydata()[0], 9) for l in fig.axes[0].lines)
    check(hlines == [25.0, 35.0], f"balanced and bound lines {hlines}")


def latency_cdf_steps_reach_one_per_phase():
    a2a = [{"step": 0, "layer": l, "phase": p, "time_s": (l + 1) * 1e-6, "balanced_s": 1e-6, "bound_s": 0.5e-6}
           for l in range(4) for p in (0, 1)]
    fig = mp.fig_latency_cdf({"gpu": [], "a2a": a2a, "summary": {}})
    check(len(fig.axes) == 2, "one panel per phase")
    actual = fig.axes[0].lines[0]
    check(list(actual.get_xdata()) == [1.0, 2.0, 3.0, 4.0] and list(actual.get_ydata()) == [0.25, 0.5, 0.75, 1.0],
          f"CDF {list(actual.get_xdata())} {list(actual.get_ydata())}")
    check("P99 4.0 us" in actual.get_label(), actual.get_label())


def heatmap_is_load_over_mean():
    stats = {"layers": [{"layer": 0, "loads": [1, 3], "all": {"mean": 2.0}, "top1": {}}]}
    fig = mp.fig_expert_load_heatmap(stats)
    data = fig.axes[0].images[0].get_array()
    check([float(x) for x in data[0]] == [0.5, 1.5], f"heatmap cells {data}")


def heatmap_marks_dead_experts():
    # Loads 0, 4, 8 (mean 4): expert 0 is dead, drawn as a masked (black) cell with an x at (0, 0).
    stats = {"layers": [{"layer": 0, "loads": [0, 4, 8], "all": {"mean": 4.0}, "top1": {}}]}
    fig = mp.fig_expert_load_heatmap(stats)
    ax = fig.axes[0]
    check(bool(ax.images[0].get_array().mask[0][0]), "the dead cell is masked")
    check(to_hex(ax.images[0].get_cmap().get_bad()) == mp.DEAD_COLOR, "masked cells drawn in the dead colour")
    check([list(map(float, p)) for p in ax.collections[0].get_offsets()] == [[0.0, 0.0]], "one x at expert 0, layer 0")
    check("1 dead" in ax.get_title(), ax.get_title())


def load_bars_draw_tokens_and_the_uniform_line():
    # Two layers of 4 experts: loads 2, 6, 0, 8 (mean 4) and 4, 4, 4, 4.
    stats = {"layers": [{"layer": l, "loads": loads, "all": {"mean": 4.0, "gini": 0.0, "max_mean_ratio": 1.0}}
                        for l, loads in ((0, [2, 6, 0, 8]), (1, [4, 4, 4, 4]))]}
    fig = mp.fig_expert_load_bars(stats)
    a0 = fig.axes[0]
    check([b.get_height() for b in a0.patches] == [2, 6, 0, 8], "bar heights are the loads")
    check([list(l.get_ydata()) for l in a0.lines] == [[4.0, 4.0]], "the uniform line at the mean")
    colors = [to_hex(b.get_facecolor()) for b in a0.patches]
    check(colors == [mp.GPU_COLOR, mp.GPU_COLOR, mp.GPU_COLOR, mp.STRAGGLER_COLOR], f"8 >= 2x mean is red: {colors}")
    check([list(map(float, p)) for p in a0.collections[0].get_offsets()] == [[2.0, 0.0]], "dead expert 2 marked")


def balance_per_layer_has_cv():
    layer = {"layer": 0, "all": {"gini": 0.5, "cv": 1.25, "max_vio": 2.0}, "top1": {"gini": 0.6, "cv": 1.5, "max_vio": 3.0}}
    fig = mp.fig_balance_per_layer({"layers": [layer]})
    cv = [ax for ax in fig.axes if ax.get_title().startswith("CV")]
    check(len(cv) == 1 and [list(l.get_ydata()) for l in cv[0].lines] == [[1.25], [1.5]], "CV panel: all and top-1")


def training_curves_from_history():
    # Two log rows with two balance terms, two evaluations: mean Gini (0.2+0.4)/2 = 0.3 then 0.1, CV 0.5 then 0.25.
    history = {"steps": [{"step": 1, "loss": 3.0, "lm_loss": 2.5, "balance_terms": {"gini": 0.4, "z": 10.0}},
                         {"step": 2, "loss": 2.0, "lm_loss": 1.5, "balance_terms": {"gini": 0.2, "z": 5.0}}],
               "evals": [{"step": 0, "eval": {"ppl": 30.0, "gini": [0.2, 0.4], "cv": [0.5, 0.5]}},
                         {"step": 2, "eval": {"ppl": 20.0, "gini": [0.1, 0.1], "cv": [0.25, 0.25]}}]}
    fig = mp.fig_training_curves(history)
    lines = {f"{i}:{l.get_label()}": list(l.get_ydata()) for i, ax in enumerate(fig.axes) for l in ax.lines}
    check(lines["1:gini"] == [0.4, 0.2] and lines["1:z"] == [10.0, 5.0], f"balance terms apart {lines}")
    check(lines["2:_child0"] == [30.0, 20.0], f"perplexity {lines}")
    gini = lines["3:Gini (mean over layers)"]
    check(abs(gini[0] - 0.3) < 1e-12 and abs(gini[1] - 0.1) < 1e-12, f"mean Gini {lines}")
    check(lines["3:CV (mean over layers)"] == [0.5, 0.25], f"mean CV {lines}")


def compare_rows_by_hand():
    import compare
    def stats(loads):
        mean = sum(loads) / len(loads)
        gini = sum(abs(x - y) for x in loads for y in loads) / (2 * len(loads) ** 2 * mean)
        all_ = {"gini": gini, "cv": 0.0, "max_mean_ratio": max(loads) / mean, "max_vio": max(loads) / mean - 1,
                "entropy_norm": 1.0}
        return {"layers": [{"layer": 0, "loads": loads, "all": all_}], "mean_over_layers": {"all": all_}}
    # Loads 0, 4 → Gini 0.5, max/mean 2; 2, 2 → Gini 0, max/mean 1: B − A = −0.5 (−100 %) and −1 (−50 %).
    rows = {r["metric"]: r for r in compare.stats_rows(stats([0, 4]), stats([2, 2]))}
    check(rows["Gini, mean over layers"]["delta"] == -0.5 and rows["Gini, mean over layers"]["change_pct"] == -100.0,
          f"Gini row {rows['Gini, mean over layers']}")
    check(rows["layer 0 max/mean"]["change_pct"] == -50.0, f"max/mean row {rows['layer 0 max/mean']}")
    check(rows["dead experts (0 tokens), all layers"]["a"] == 1 and rows["dead experts (0 tokens), all layers"]["b"] == 0,
          "dead experts counted")
    # Replays: A's all-to-alls take 1, 2, 3, 4 us, B's 1, 1, 1, 1 us; P50 2 → 1 us (no summary: from the rows).
    def replay(times):
        return {"gpu": [], "summary": {}, "a2a": [{"step": i, "layer": 0, "phase": 0, "time_s": t * 1e-6}
                                                  for i, t in enumerate(times)]}
    rows = {r["metric"]: r for r in compare.replay_rows(replay([1, 2, 3, 4]), replay([1, 1, 1, 1]))}
    check(abs(rows["all all-to-all P50 (us)"]["a"] - 2.0) < 1e-9 and abs(rows["all all-to-all P50 (us)"]["b"] - 1.0) < 1e-9,
          f"P50 {rows['all all-to-all P50 (us)']}")
    check(abs(rows["layer 0 dispatch + combine, mean over steps (us)"]["a"] - 2.5) < 1e-9, "layer mean 2.5 us")
    # A summary's phases with extra entries (a per-layer breakdown) are skipped, not misread.
    s = {"phases": {"all": {"time_s": {"p50": 1e-6, "p99": 2e-6, "max": 2e-6, "mean": 1.5e-6}},
                    "layer": {"0": {"time_s": 1.0}}}}
    a = dict(replay([1, 2]), summary=s)
    check(sorted(compare.replay_phases(a)) == ["all"], "only phases with percentiles")
    fig = mp.fig_compare_replays([replay([1, 2, 3, 4]), replay([1, 1, 1, 1])], ["A", "B"])
    cdf = fig.axes[0].lines
    check(len(cdf) == 2 and list(cdf[1].get_xdata()) == [1.0, 1.0, 1.0, 1.0], "two CDFs overlaid on one axes")


def plot_errors_are_one_line_exit_2():
    import subprocess
    import tempfile
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "t.h5")
        with open(trace, "wb") as f:
            f.write(b"\x89HDF\r\n\x1a\n" + bytes(range(256)))
        hist = os.path.join(tmp, "history.jsonl")
        with open(hist, "w") as f:
            f.write('{"step": 1, "loss": 2}\nnot json\n')
        for args, expect in ((["heatmap", trace], "t.h5: an HDF5 file, not stats JSON"),
                             (["training", hist], "history.jsonl:2: not a JSON line"),
                             (["finetune", hist], "finetune takes a folder of runs"),
                             (["compare", hist], "compare takes two inputs")):
            r = subprocess.run([sys.executable, os.path.join(here, "plot.py")] + args + ["--out", os.path.join(tmp, "x.png")],
                               capture_output=True, text=True)
            check(r.returncode == 2 and expect in r.stderr and r.stderr.count("\n") == 1,
                  f"{args[0]}: exit {r.returncode}, stderr {r.stderr!r}")


for test in (sweep_curves_average_over_other_parameters, sweep_curves_draw_seconds_in_microseconds,
             gpu_bars_mark_the_straggler_and_measure_from_each_gpus_start, latency_cdf_steps_reach_one_per_phase,
             heatmap_is_load_over_mean, heatmap_marks_dead_experts, load_bars_draw_tokens_and_the_uniform_line,
             balance_per_layer_has_cv, training_curves_from_history, compare_rows_by_hand,
             plot_errors_are_one_line_exit_2):
    test()
    print(f"ok: {test.__name__}")
