"""Figures from moesim's outputs (matplotlib, Agg backend; Debian's python3-matplotlib).

Each fig_* function takes already-loaded data and returns a matplotlib Figure, so that plot.py (one
PNG per call) and report.py (an HTML page) draw the same pictures. Loaders at the bottom read what
the moesim commands write:
  `moesim trace stats --json`  -> per-layer expert loads and balance metrics
  `moesim replay --json/--out`  -> per-GPU finish times per all-to-all, balanced reference, bound
  `moesim sweep` folder         -> results.csv (one row per scenario, every parameter a column)
"""
import csv
import json
import math
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

STRAGGLER_COLOR = "#d62728"
GPU_COLOR = "#4c72b0"
BALANCED_COLOR = "#55a868"
BOUND_COLOR = "#8c8c8c"


# --- routing balance (trace stats) -----------------------------------------------------------------

DEAD_COLOR = "#222222"


def fig_expert_load_heatmap(stats, title=None):
    """Layer x expert heatmap of load / mean load (1 = balanced), log colour scale centred on 1.
    Dead experts (0 tokens) are drawn black with a white x: on this scale they are infinitely cold,
    and left blank they would look like white, balanced cells."""
    layers = stats["layers"]
    rows = [[x / (l["all"]["mean"] or 1.0) for x in l["loads"]] for l in layers]
    n_exp = len(rows[0]) if rows else 0
    positive = [x for r in rows for x in r if x > 0]
    lo, hi = (min(positive), max(positive)) if positive else (0.5, 2.0)
    span = max(hi, 1.0 / lo, 2.0)
    masked = [[x if x > 0 else float("nan") for x in r] for r in rows]
    # A floor on the size: a 2-layer, 8-expert model still needs room for the title and colour bar.
    fig, ax = plt.subplots(figsize=(max(6.5, min(14, 3 + 0.12 * n_exp)), max(2.8, 1.2 + 0.35 * len(rows))))
    cmap = plt.get_cmap("RdBu_r").copy()
    cmap.set_bad(DEAD_COLOR)
    im = ax.imshow(masked, aspect="auto", cmap=cmap, norm=LogNorm(vmin=1 / span, vmax=span),
                   interpolation="nearest")
    dead = [(e, i) for i, r in enumerate(rows) for e, x in enumerate(r) if x <= 0]
    if dead:
        ax.scatter([e for e, _ in dead], [i for _, i in dead], marker="x", color="white", s=30, linewidths=1.2,
                   label="dead expert (0 tokens)")
    ax.set_xlabel("expert")
    ax.set_ylabel("MoE layer")
    ax.set_yticks(range(len(layers)))
    ax.set_yticklabels([str(l["layer"]) for l in layers])
    cbar = fig.colorbar(im, ax=ax)
    ticks = [2.0 ** e for e in range(-12, 13) if 1 / span <= 2.0 ** e <= span]
    ticks = ticks[len(ticks) // 2 % max(1, (len(ticks) + 6) // 7)::max(1, (len(ticks) + 6) // 7)]  # ≤ 7 labels, 1 kept
    cbar.set_ticks(ticks)
    cbar.set_ticklabels([f"{t:g}" if t >= 1 else f"1/{1 / t:g}" for t in ticks])
    cbar.minorticks_off()
    cbar.set_label("tokens / mean tokens per expert")
    ax.set_title(title or f"Expert load per layer (red: hot, blue: cold, white: balanced; black x: no tokens, "
                          f"{len(dead)} dead)", fontsize=9 if n_exp < 48 else 11)
    fig.tight_layout()
    return fig


def fig_expert_load_bars(stats, title=None, max_layers=8):
    """Tokens per expert, one panel per MoE layer, the uniform share (mean load) as a dashed line;
    dead experts (0 tokens) marked with a red x on the axis. The seed's per-layer distribution plot."""
    layers = stats["layers"][:max_layers]
    n = len(layers)
    cols = min(n, 4) or 1
    nrows = (n + cols - 1) // cols or 1
    n_exp = len(layers[0]["loads"]) if layers else 0
    fig, axes = plt.subplots(nrows, cols, figsize=(max(6.5, cols * max(2.6, 0.09 * n_exp + 1.4)), 2.6 * nrows + 0.6),
                             squeeze=False, sharey=True)
    for ax, l in zip([a for r in axes for a in r], layers):
        loads = l["loads"]
        mean = l["all"]["mean"]
        colors = [STRAGGLER_COLOR if x >= 2 * mean else GPU_COLOR for x in loads]
        ax.bar(range(len(loads)), loads, color=colors, width=0.85)
        ax.axhline(mean, color=BALANCED_COLOR, ls="--", lw=1, label="uniform (mean)")
        dead = [e for e, x in enumerate(loads) if x == 0]
        if dead:
            ax.scatter(dead, [0] * len(dead), marker="x", color=STRAGGLER_COLOR, zorder=3, clip_on=False, label="dead")
        ax.set_title(f"layer {l['layer']}: Gini {l['all']['gini']:.2f}, max/mean {l['all']['max_mean_ratio']:.2f}",
                     fontsize=8)
        ax.set_xlabel("expert", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in [a for r in axes for a in r][n:]:
        ax.set_visible(False)
    axes[0][0].set_ylabel("tokens (top-k pairs)")
    axes[0][0].legend(fontsize=7, loc="upper right")
    more = f" (first {max_layers} of {len(stats['layers'])} layers)" if len(stats["layers"]) > max_layers else ""
    fig.suptitle(title or f"Expert load per layer vs the uniform share (red: ≥ 2x the mean){more}", fontsize=10)
    fig.tight_layout()
    return fig


def fig_balance_per_layer(stats, title=None):
    """Gini, CV and MaxVio per layer, all k choices and top-1 only."""
    layers = stats["layers"]
    x = [l["layer"] for l in layers]
    fig, (a1, a3, a2) = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, label in ((a1, "gini", "Gini coefficient"), (a3, "cv", "CV = std / mean"),
                           (a2, "max_vio", "MaxVio = (max - mean) / mean")):
        ax.plot(x, [l["all"][key] for l in layers], "o-", color=GPU_COLOR, label="all top-k choices")
        ax.plot(x, [l["top1"][key] for l in layers], "s--", color="#dd8452", label="top-1 choice only")
        ax.set_xlabel("MoE layer")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    a1.set_title("Gini per layer (0 = balanced)")
    a2.set_title("MaxVio per layer (0 = balanced)")
    a3.set_title("CV per layer (0 = balanced)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- all-to-all latency (replay) -----------------------------------------------------------------

def worst_a2a(replay):
    """The all-to-all the whole layer waited longest for."""
    return max(replay["a2a"], key=lambda r: r["time_s"])


def fig_gpu_latency_bars(replay, a2a=None, title=None):
    """Per-GPU phase time in one all-to-all (default: the slowest): each GPU's finish - its own start
    (sim/README.md, Definitions; the all-to-all's time is the tallest bar), the straggler in red, the
    balanced reference and the bandwidth bound as lines."""
    a2a = a2a or worst_a2a(replay)
    key = (a2a["step"], a2a["layer"], a2a["phase"])
    rows = sorted((g for g in replay["gpu"] if (g["step"], g["layer"], g["phase"]) == key), key=lambda g: g["gpu"])
    us = 1e6
    gpus = [g["gpu"] for g in rows]
    busy = [(g["finish_s"] - g["start_s"]) * us for g in rows]
    straggler = a2a.get("straggler_gpu", -1)
    if straggler < 0 and rows:
        straggler = gpus[busy.index(max(busy))]
    colors = [STRAGGLER_COLOR if g == straggler else GPU_COLOR for g in gpus]
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(gpus) + 2), 3.8))
    ax.bar(gpus, busy, color=colors)
    if a2a.get("balanced_s"):
        ax.axhline(a2a["balanced_s"] * us, color=BALANCED_COLOR, ls="--", label=f"balanced {a2a['balanced_s'] * us:.1f} us")
    if a2a.get("bound_s"):
        ax.axhline(a2a["bound_s"] * us, color=BOUND_COLOR, ls=":", label=f"bandwidth bound {a2a['bound_s'] * us:.1f} us")
    if straggler in gpus:
        i = gpus.index(straggler)
        ax.annotate("straggler", (straggler, busy[i]), xytext=(0, 4), textcoords="offset points", ha="center",
                    color=STRAGGLER_COLOR, fontsize=9)
    ax.set_xlabel("GPU")
    ax.set_ylabel("phase time: finish - own start (us)")
    phase = {0: "dispatch", 1: "combine"}.get(a2a["phase"], a2a["phase"])
    ax.set_title(title or f"Slowest all-to-all: step {a2a['step']}, layer {a2a['layer']}, {phase} "
                          f"({a2a['time_s'] * us:.1f} us)")
    if len(gpus) <= 32:
        ax.set_xticks(gpus)
    ax.set_ylim(0, max(busy + [0]) * 1.18 or 1)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _cdf(values):
    xs = sorted(values)
    n = len(xs)
    return xs, [(i + 1) / n for i in range(n)]


def fig_latency_cdf(replay, title=None):
    """CDF over all-to-alls of the simulated time, the balanced reference and the bandwidth bound;
    one panel per phase (dispatch and combine move different bytes)."""
    us = 1e6
    phases = sorted({r["phase"] for r in replay["a2a"]})
    fig, axes = plt.subplots(1, len(phases), figsize=(5.2 * len(phases), 3.9), sharey=True, squeeze=False)
    series = [("actual (simulated)", "time_s", GPU_COLOR, "-"), ("balanced reference", "balanced_s", BALANCED_COLOR, "--"),
              ("bandwidth bound", "bound_s", BOUND_COLOR, ":")]
    for ax, phase in zip(axes[0], phases):
        rows = [r for r in replay["a2a"] if r["phase"] == phase]
        for label, key, color, ls in series:
            values = [r[key] * us for r in rows if r.get(key)]
            if not values:
                continue
            xs, ys = _cdf(values)
            p99 = xs[min(len(xs) - 1, math.ceil(0.99 * len(xs)) - 1)]
            ax.step(xs, ys, where="post", color=color, ls=ls, label=f"{label}, P99 {p99:.1f} us")
        ax.set_xlabel("all-to-all time (us)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"{ {0: 'dispatch', 1: 'combine'}.get(phase, phase)} ({len(rows)} all-to-alls)")
    axes[0][0].set_ylabel("fraction of all-to-alls")
    fig.suptitle(title or "All-to-all latency CDF: actual vs balanced vs bound")
    fig.tight_layout()
    return fig


# --- sweeps ---------------------------------------------------------------------------------------

def column_label(column):
    """'stats.mean_over_layers.all.gini' -> 'Gini (mean over layers)'; 'replay.p99_s' -> 'p99 (s)'."""
    names = {"gini": "Gini", "max_vio": "MaxVio", "max_mean_ratio": "max/mean", "cv": "CV"}
    parts = column.split(".")
    m = re.search(r"phases\.(\w+)\.(time|balanced|bound)_s\.(p\d+|max|mean)$", column)
    if m:
        what = {"time": "all-to-all time", "balanced": "balanced reference", "bound": "bandwidth bound"}[m.group(2)]
        return f"{m.group(3).upper()} {what}, {m.group(1)} phases (s)"
    if column.endswith("mean_slowdown"):
        return "mean slowdown (time / balanced)"
    last = parts[-1]
    where = " (mean over layers)" if "mean_over_layers" in parts else ""
    if last in names:
        return names[last] + where
    if last.endswith("_s"):
        return " ".join(parts[1:-1] + [last[:-2]]).replace("_", " ") + " (s)"
    return ".".join(parts[1:]) or column



def _num(v):
    try:
        x = float(v)
        return x if math.isfinite(x) else None
    except (TypeError, ValueError):
        return None


def _group_key(row, by):
    if not by:
        return ""
    cols = [by] if isinstance(by, str) else list(by)
    return ", ".join(f"{c}={row.get(c, '')}" for c in cols)


def fig_sweep_curves(rows, x, y, by=None, title=None, ylabel=None, logx=None, note=""):
    """y against the swept parameter x, one line per value of `by` (a column, or a list of columns
    whose value combinations each get a line, e.g. platform x placement), averaging over every
    other parameter; failed scenarios are left out. Times in seconds are drawn in microseconds."""
    ylabel = ylabel or column_label(y)
    scale = 1.0
    if re.search(r"(\(s\)|, s)$", ylabel):
        scale, ylabel = 1e6, re.sub(r"(\(s\)|, s)$", lambda m: "(us)" if m.group(0) == "(s)" else ", us", ylabel)
    groups = {}
    for r in rows:
        if r.get("status", "ok") != "ok":
            continue
        xv, yv = _num(r.get(x)), _num(r.get(y))
        if xv is None or yv is None:
            continue
        groups.setdefault(_group_key(r, by), {}).setdefault(xv, []).append(yv * scale)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    markers = "os^vD<>p*h"
    for i, name in enumerate(sorted(groups, key=lambda n: (_num(n) is None, _num(n) or 0.0, str(n)))):
        pts = sorted(groups[name].items())
        ax.plot([p[0] for p in pts], [sum(v) / len(v) for v in [p[1] for p in pts]], marker=markers[i % len(markers)],
                label=name or None)
    xs = sorted({k for g in groups.values() for k in g})
    if logx is None:
        logx = len(xs) >= 3 and xs[0] > 0 and xs[-1] / xs[0] >= 16
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if by:
        ax.legend(fontsize=8)
    ax.set_title(title or f"{ylabel} vs {x}{note}")
    fig.tight_layout()
    return fig


def fig_assign_tradeoff(doc, title=None):
    """What each assignment strategy costs and buys: perplexity change (x, %) against the replayed
    all-to-all P99 (y, us), one labelled point per strategy; `moesim assign-eval` JSON."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    rows = doc["strategies"]
    base = rows[0]
    xs = [r["ppl_change_pct"] for r in rows]
    ys = [r["a2a_p99_s"] * 1e6 for r in rows]
    # Costs from +0.1 % to +2000 %: a symmetric log axis keeps the gentle strategies apart.
    wide = max(abs(x) for x in xs) > 200
    tx = (lambda v: math.copysign(math.log10(1 + abs(v)), v)) if wide else (lambda v: v)
    xspan, yspan = (max(map(tx, xs)) - min(map(tx, xs))) or 1.0, max(ys) or 1.0
    placed = []  # label anchors in axis fractions: nudge a label down until it clears the others
    for r, x, y in zip(rows, xs, ys):
        drops = r.get("dropped_pairs_pct", 0) > 0
        ax.scatter([x], [y], marker="v" if drops else "o", color=STRAGGLER_COLOR if r is base else GPU_COLOR, zorder=3)
        label = re.sub(r"(seed|sample)=0,?|eps=[0-9.e-]+,?", "", r["strategy"]).rstrip(":,")
        fx, fy, dy = (tx(x) - min(map(tx, xs))) / xspan, y / yspan, 3
        for step in range(1, 12):  # try 3, -6, 12, -15, ... points: nearest free slot above or below
            if not any(abs(fx - px) < 0.2 and abs(fy + dy / 300 - py) < 0.035 for px, py in placed):
                break
            dy = 3 + (9 * ((step + 1) // 2)) * (1 if step % 2 == 0 else -1)
        placed.append((fx, fy + dy / 300))
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, dy), fontsize=7, va="center",
                    arrowprops=dict(arrowstyle="-", lw=0.4, color="#888") if dy != 3 else None)
    ax.axhline(base["a2a_p99_s"] * 1e6, color=BOUND_COLOR, lw=0.8, ls="--")
    if wide:
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(min(-0.5, 1.5 * min(xs)), 4 * max(xs))  # room on the right for the labels
    ax.set_xlabel(f"perplexity change vs {base['strategy']} (%)")
    ax.set_ylabel("all-to-all P99 (us)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    model = os.path.basename(str(doc.get("model", "")).rstrip("/")) or doc.get("architecture", "")
    ax.set_title(title or f"assignment strategies: perplexity cost vs all-to-all P99 ({model}, {doc.get('platform', '')})",
                 fontsize=9)
    ax.text(0.99, 0.02, "v = drops pairs (kept mask)", transform=ax.transAxes, ha="right", fontsize=7, color="#555")
    fig.tight_layout()
    return fig


def fig_finetune_tradeoff(rows, title=None):
    """Balance-loss fine-tuning: mean Gini change (x, %) against perplexity change vs the control
    (y, %), one point per run, one marker per loss. rows: dicts with loss, lam, gini_change_pct,
    ppl_vs_control_pct."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    markers = "os^vD<>p*h"
    losses = sorted({r["loss"] for r in rows})
    for i, loss in enumerate(losses):
        pts = [r for r in rows if r["loss"] == loss]
        ax.scatter([r["gini_change_pct"] for r in pts], [r["ppl_vs_control_pct"] for r in pts],
                   marker=markers[i % len(markers)], label=loss, zorder=3)
        for r in [r for r in pts if abs(r["gini_change_pct"]) > 4]:  # the cluster at the origin stays unlabelled
            ax.annotate(f"{r['lam']:g}", (r["gini_change_pct"], r["ppl_vs_control_pct"]), textcoords="offset points",
                        xytext=(3, 3), fontsize=7)
    ax.axhline(0, color=BOUND_COLOR, lw=0.8)
    ax.set_xlabel("mean Gini change after fine-tuning (%)")
    ax.set_ylabel("validation perplexity change vs control (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="loss (label: weight)", title_fontsize=8)
    ax.set_title(title or "balance-loss fine-tuning: balance gained vs perplexity paid", fontsize=10)
    fig.tight_layout()
    return fig


def fig_sweep_bars(rows, x, y, by=None, title=None, ylabel=None):
    """Bars of y per value of the categorical parameter x, one bar colour per value of `by` (a column
    or list of columns, e.g. the placement strategy); mean over every other parameter, whiskers
    min..max. Times in seconds are drawn in microseconds."""
    ylabel = ylabel or column_label(y)
    scale = 1.0
    if re.search(r"(\(s\)|, s)$", ylabel):
        scale, ylabel = 1e6, re.sub(r"(\(s\)|, s)$", lambda m: "(us)" if m.group(0) == "(s)" else ", us", ylabel)
    cells = {}
    xs, gs = [], []
    for r in rows:
        yv = _num(r.get(y))
        if r.get("status", "ok") != "ok" or yv is None:
            continue
        xv, g = r.get(x, ""), _group_key(r, by)
        xs += [xv] if xv not in xs else []
        gs += [g] if g not in gs else []
        cells.setdefault((xv, g), []).append(yv * scale)
    fig, ax = plt.subplots(figsize=(max(5.5, 1.4 * len(xs) * max(1, len(gs)) ** 0.5 + 2), 4))
    width = 0.8 / max(1, len(gs))
    for j, g in enumerate(gs):
        pos = [i - 0.4 + width * (j + 0.5) for i in range(len(xs))]
        vals = [cells.get((xv, g), [float("nan")]) for xv in xs]
        means = [sum(v) / len(v) for v in vals]
        err = [[m - min(v) for m, v in zip(means, vals)], [max(v) - m for m, v in zip(means, vals)]]
        ax.bar(pos, means, width, yerr=err if any(len(v) > 1 for v in vals) else None, capsize=3, label=g or None)
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels([str(v) for v in xs], rotation=15 if len(xs) > 3 else 0, ha="right" if len(xs) > 3 else "center")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    if by:
        ax.legend(fontsize=8)
    ax.set_title(title or f"{ylabel} per {x}")
    fig.tight_layout()
    return fig


# --- loaders --------------------------------------------------------------------------------------

def load_json(path):
    with open(path) as f:
        return json.load(f)


def is_stats(d):
    return isinstance(d, dict) and "layers" in d and "mean_over_layers" in d


def _rows_from_columns(cols):
    keys = list(cols)
    n = len(cols[keys[0]]) if keys else 0
    return [{k: cols[k][i] for k in keys} for i in range(n)]


def normalize_replay(d):
    """Replay output -> {"gpu": [row...], "a2a": [row...], "summary": {...}}; None if not a replay.
    Accepts rows as lists of objects or as objects of columns."""
    if not isinstance(d, dict):
        return None
    gpu = d.get("gpu_rows", d.get("gpus_rows"))
    a2a = d.get("a2a_rows", d.get("a2a"))
    if gpu is None or a2a is None or not isinstance(a2a, (list, dict)):
        return None
    if isinstance(gpu, dict):
        gpu = _rows_from_columns(gpu)
    if isinstance(a2a, dict):
        a2a = _rows_from_columns(a2a)
    phase_codes = {"dispatch": 0, "combine": 1}
    for r in gpu + a2a:
        if isinstance(r.get("phase"), str):
            r["phase"] = phase_codes.get(r["phase"], r["phase"])
    summary = {k: v for k, v in d.items() if not isinstance(v, (list, dict))}
    summary.update(d.get("summary", {}) if isinstance(d.get("summary"), dict) else {})
    return {"gpu": gpu, "a2a": a2a, "summary": summary}


def _attr(v):
    if isinstance(v, bytes):
        return v.decode()
    return v.item() if hasattr(v, "item") else v


def load_replay_h5(path):
    """`moesim replay --out DIR`'s replay.h5 (format moesim-replay): groups gpu/ and a2a/ of equal-length
    columns, the summary as a JSON attribute. None if the file is not one."""
    import h5py
    with h5py.File(path, "r") as f:
        if _attr(f.attrs.get("format", b"")) != "moesim-replay" or "gpu" not in f or "a2a" not in f:
            return None
        gpu = _rows_from_columns({k: f["gpu"][k][()].tolist() for k in f["gpu"]})
        a2a = _rows_from_columns({k: f["a2a"][k][()].tolist() for k in f["a2a"]})
        summary = json.loads(_attr(f.attrs["summary"])) if "summary" in f.attrs else {}
    return {"gpu": gpu, "a2a": a2a, "summary": summary}


def is_replay_summary(d):
    """`moesim replay --json` output (or --out's summary.json): percentiles, per-GPU waits, straggler."""
    return isinstance(d, dict) and "phases" in d and "per_gpu" in d


def fig_gpu_wait_bars(summary, title=None):
    """Per-GPU mean and P99 phase time (finish - own start, over its all-to-alls) from a replay summary,
    the top straggler in red."""
    us = 1e6
    per = sorted(summary["per_gpu"], key=lambda g: g["gpu"])
    gpus = [g["gpu"] for g in per]
    straggler = summary.get("straggler", {}).get("gpu", -1)
    fig, ax = plt.subplots(figsize=(max(6, 0.4 * len(gpus) + 2), 3.8))
    width = 0.4
    colors = [STRAGGLER_COLOR if g == straggler else GPU_COLOR for g in gpus]
    ax.bar([g - width / 2 for g in gpus], [g["mean_s"] * us for g in per], width, color=colors, alpha=0.55, label="mean")
    ax.bar([g + width / 2 for g in gpus], [g["p99_s"] * us for g in per], width, color=colors, label="P99")
    bal = summary.get("phases", {}).get("all", {}).get("balanced_s", {}).get("p99")
    if bal:
        ax.axhline(bal * us, color=BALANCED_COLOR, ls="--", label=f"balanced P99 {bal * us:.1f} us")
    if straggler in gpus:
        p = per[gpus.index(straggler)]
        ax.annotate(f"straggler ({summary['straggler'].get('count', '?')}x)", (straggler + width / 2, p["p99_s"] * us),
                    xytext=(0, 4), textcoords="offset points", ha="center", color=STRAGGLER_COLOR, fontsize=9)
    ax.set_xlabel("GPU")
    ax.set_ylabel("phase time per GPU (us)")
    if len(gpus) <= 32:
        ax.set_xticks(gpus)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_ylim(0, max(g["p99_s"] for g in per) * us * 1.18 if per else 1)
    ax.set_title(title or f"Per-GPU all-to-all wait, {summary.get('all_to_alls', '?')} all-to-alls")
    fig.tight_layout()
    return fig


def read_results_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def sweep_columns(folder):
    """The sweep's parameter names (from its sweep.json), or None."""
    p = os.path.join(folder, "sweep.json")
    return load_json(p).get("columns") if os.path.exists(p) else None


# --- training curves (history.jsonl of `moesim train` / `moesim finetune`) ---------------------------

class NotHistory(ValueError):
    """A file that is not a moesim training history; the message names the file and line."""


def load_history(path):
    """history.jsonl (or a run folder holding one) -> {"steps": [log rows], "evals": [eval rows]}.
    Each line is one JSON object; a log row has loss/lm_loss/balance_loss/balance_terms, an eval row
    {"step", "eval": {...}}."""
    if os.path.isdir(path):
        path = os.path.join(path, "history.jsonl")
    steps, evals = [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise NotHistory(f"{path}:{number}: not a JSON line ({e.msg})")
            if not isinstance(row, dict) or "step" not in row:
                raise NotHistory(f"{path}:{number}: not a moesim history row (no 'step')")
            (evals if "eval" in row else steps).append(row)
    if not steps and not evals:
        raise NotHistory(f"{path}: an empty history")
    return {"steps": steps, "evals": evals}


def is_history_file(path):
    return os.path.basename(path).endswith("history.jsonl") or (
        os.path.isdir(path) and os.path.exists(os.path.join(path, "history.jsonl")))


def _mean(values):
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def fig_training_curves(history, title=None):
    """Four panels over optimizer steps: total and LM loss; each balance term apart (unweighted; the
    summed balance_loss for histories that predate balance_terms); validation perplexity; mean Gini
    and CV over MoE layers at each evaluation."""
    steps, evals = history["steps"], history["evals"]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    a_loss, a_bal, a_ppl, a_gini = axes
    x = [r["step"] for r in steps]
    for key, label, style in (("loss", "total", "-"), ("lm_loss", "LM", "--")):
        if any(key in r for r in steps):
            a_loss.plot(x, [r.get(key, float("nan")) for r in steps], style, label=label)
    a_loss.set_title("training loss")
    terms = sorted({k for r in steps for k in (r.get("balance_terms") or {})})
    for term in terms:
        a_bal.plot(x, [(r.get("balance_terms") or {}).get(term, float("nan")) for r in steps], label=term)
    if not terms and any("balance_loss" in r for r in steps):
        a_bal.plot(x, [r.get("balance_loss", float("nan")) for r in steps], label="balance_loss (weighted sum)")
    a_bal.set_title("balance terms (unweighted)" if terms else "balance loss")
    ex = [r["step"] for r in evals]
    a_ppl.plot(ex, [r["eval"].get("ppl", float("nan")) for r in evals], "o-", color=STRAGGLER_COLOR)
    a_ppl.set_title("validation perplexity")
    for key, label, marker in (("gini", "Gini", "o-"), ("cv", "CV", "s--")):
        if any(key in r["eval"] for r in evals):
            a_gini.plot(ex, [_mean(r["eval"].get(key, [])) for r in evals], marker, label=f"{label} (mean over layers)")
    a_gini.set_title("routing balance at evaluations")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- baseline vs modified ------------------------------------------------------------------------

COMPARE_COLORS = (GPU_COLOR, "#dd8452", BALANCED_COLOR, "#8172b3")


def fig_compare_stats(a, b, names=("A", "B"), title=None):
    """Two traces' routing balance per layer: Gini, CV and max/mean, A and B side by side, with B - A
    written above each pair."""
    metrics = (("gini", "Gini"), ("cv", "CV"), ("max_mean_ratio", "max/mean"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    la, lb = {l["layer"]: l for l in a["layers"]}, {l["layer"]: l for l in b["layers"]}
    layers = sorted(set(la) & set(lb))
    width = 0.4
    for ax, (key, label) in zip(axes, metrics):
        va = [la[l]["all"][key] for l in layers]
        vb = [lb[l]["all"][key] for l in layers]
        ax.bar([i - width / 2 for i in range(len(layers))], va, width, color=COMPARE_COLORS[0], label=names[0])
        ax.bar([i + width / 2 for i in range(len(layers))], vb, width, color=COMPARE_COLORS[1], label=names[1])
        for i, (x, y) in enumerate(zip(va, vb)):
            ax.annotate(f"{y - x:+.2f}", (i, max(x, y)), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7)
        ax.set_xticks(range(len(layers)))
        ax.set_xticklabels([str(l) for l in layers])
        ax.set_xlabel("MoE layer")
        ax.set_title(f"{label} per layer (label: {names[1]} - {names[0]})", fontsize=9)
        ax.set_ylim(0, max(va + vb + [0]) * 1.2 or 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title or f"Routing balance: {names[0]} vs {names[1]}", fontsize=10)
    fig.tight_layout()
    return fig


def fig_compare_evals(rows, names=("A", "B"), title=None):
    """Perplexity of two evaluations per metric (rows: [(label, value_a, value_b)]), bars side by
    side, the change in % above each pair."""
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(rows) + 2), 3.8))
    width = 0.4
    for j, (name, color) in enumerate(zip(names, COMPARE_COLORS)):
        ax.bar([i + (j - 0.5) * width for i in range(len(rows))], [r[1 + j] for r in rows], width, color=color,
               label=name)
    for i, (_, x, y) in enumerate(rows):
        if x:
            ax.annotate(f"{100 * (y - x) / x:+.1f} %", (i, max(x, y)), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r[0] for r in rows], rotation=15 if len(rows) > 3 else 0, fontsize=8)
    ax.set_ylabel("perplexity")
    ax.set_ylim(0, max([max(r[1], r[2]) for r in rows] + [0]) * 1.2 or 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"Perplexity: {names[0]} vs {names[1]} (label: change)", fontsize=10)
    fig.tight_layout()
    return fig


def replay_layer_times(replay):
    """{(phase, layer): mean all-to-all time over steps (s)} of a loaded replay."""
    cells = {}
    for r in replay["a2a"]:
        cells.setdefault((r["phase"], r["layer"]), []).append(r["time_s"])
    return {k: sum(v) / len(v) for k, v in cells.items()}


def _percentile(values, q):
    xs = sorted(values)
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))] if xs else float("nan")


def fig_compare_replays(replays, names, title=None):
    """Several replays on one figure: the all-to-all time CDFs overlaid (dispatch and combine
    together), P50 and P99 bars, and the mean time per MoE layer (phases summed) as lines."""
    us = 1e6
    fig, (a_cdf, a_pct, a_layer) = plt.subplots(1, 3, figsize=(15, 3.9))
    for i, (rp, name) in enumerate(zip(replays, names)):
        color = COMPARE_COLORS[i % len(COMPARE_COLORS)]
        times = [r["time_s"] * us for r in rp["a2a"]]
        xs, ys = _cdf(times)
        a_cdf.step(xs, ys, where="post", color=color, label=f"{name}, P99 {_percentile(times, 0.99):.1f} us")
        width = 0.8 / len(replays)
        a_pct.bar([k - 0.4 + width * (i + 0.5) for k in range(2)], [_percentile(times, 0.5), _percentile(times, 0.99)],
                  width, color=color, label=name)
        per = replay_layer_times(rp)
        layers = sorted({l for _, l in per})
        a_layer.plot(layers, [sum(v for (p, l), v in per.items() if l == layer) * us for layer in layers], "o-",
                     color=color, label=name)
    a_cdf.set_xlabel("all-to-all time (us)")
    a_cdf.set_ylabel("fraction of all-to-alls")
    a_cdf.set_ylim(0, 1.02)
    a_cdf.set_title("latency CDF, overlaid")
    a_pct.set_xticks([0, 1])
    a_pct.set_xticklabels(["P50", "P99"])
    a_pct.set_ylabel("all-to-all time (us)")
    a_pct.set_title("percentiles")
    a_layer.set_xlabel("MoE layer")
    a_layer.set_ylabel("dispatch + combine, mean over steps (us)")
    a_layer.xaxis.set_major_locator(MaxNLocator(integer=True))
    a_layer.set_ylim(bottom=0)
    a_layer.set_title("time per layer")
    for ax in (a_cdf, a_pct, a_layer):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title or "All-to-all latency: " + " vs ".join(names), fontsize=10)
    fig.tight_layout()
    return fig
