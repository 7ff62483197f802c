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


for test in (sweep_curves_average_over_other_parameters, sweep_curves_draw_seconds_in_microseconds,
             gpu_bars_mark_the_straggler_and_measure_from_each_gpus_start, latency_cdf_steps_reach_one_per_phase,
             heatmap_is_load_over_mean):
    test()
    print(f"ok: {test.__name__}")
