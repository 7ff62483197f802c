#!/usr/bin/python3
"""One self-contained HTML page (figures as embedded base64 PNG, tables) from moesim outputs.
Run through `moesim report INPUT... --out report.html`, which passes --moesim (to compute stats of
trace files). Inputs, recognised by content:
  trace .h5 (format moesim-trace)      -> balance statistics and verdict, expert-load heatmap, load bars with
                                          the uniform line, Gini/CV/MaxVio per layer
  `trace stats --json` output          -> the same, without recomputing
  `replay --json` output / replay .h5 / `replay --out` folder -> per-GPU latency bars (straggler marked),
                                          latency CDF
  history.jsonl (train / finetune)     -> training curves (loss, each balance term, perplexity, Gini/CV)
  `eval-ppl --json` / `assign-eval` JSON -> perplexity table / cost-vs-P99 figure
  sweep folder, its results.csv/.h5    -> results table and sweep curves
  a sweep scenario's result.json       -> every step output it holds, as above
Two or more replays are drawn together (overlaid CDFs, P50/P99 and per-layer time, changes against the
first); two or more traces and two or more evaluations get a comparison section against the first.
Exit 0 ok, 1 failure, 2 bad input (one line naming the file).
"""
import argparse
import base64
import datetime
import html
import io
import json
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_plots as mp  # noqa: E402
import compare as cmp  # noqa: E402

MAX_TABLE_ROWS = 200


class BadInput(Exception):
    pass


# --- HTML pieces ---------------------------------------------------------------------------------

def png_img(fig, alt):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    mp.plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def fmt_cell(v):
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    x = mp._num(v)
    if x is not None and not isinstance(v, str) or (isinstance(v, str) and x is not None and re.fullmatch(r"[-+0-9.eE]+", v)):
        if x == int(x) and abs(x) < 1e15:
            return f"{int(x)}"
        return f"{x:.4g}"
    return html.escape(str(v))


def table(header, rows, note=""):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt_cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<div class="tbl"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</div>'


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em} h3{margin-top:1.4em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} th,td{border:1px solid #ddd;padding:.2em .5em;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left} .tbl{overflow-x:auto}
figure{margin:1em 0} img{max-width:100%} figcaption{font-size:.8em;color:#666} .meta{color:#666;font-size:.85em}
.failed{color:#b00} code{background:#f5f5f5;padding:0 .2em} .verdict{background:#f7f7e8;padding:.3em .6em}
"""


# --- sections ------------------------------------------------------------------------------------

def stats_section(stats, name):
    out = [f"<h2>Routing balance: {html.escape(name)}</h2>"]
    out.append(f'<p class="meta">model {html.escape(str(stats.get("model", "")))}, data set '
               f'{html.escape(str(stats.get("dataset", "")))}, {len(stats["layers"])} MoE layers, '
               f'{stats.get("num_experts", "?")} experts, top-{stats.get("top_k", "?")}, '
               f'{stats.get("num_tokens", "?")} tokens in {stats.get("num_steps", "?")} steps</p>')
    rows = []
    for l in stats["layers"]:
        a, t = l["all"], l["top1"]
        rows.append([l["layer"], a["gini"], a["cv"], a["max_mean_ratio"], a["max_vio"], a["entropy_norm"],
                     a["min"], a["max"], t["gini"], t["max_vio"]])
    m = stats["mean_over_layers"]
    rows.append(["mean", m["all"]["gini"], m["all"]["cv"], m["all"]["max_mean_ratio"], m["all"]["max_vio"],
                 m["all"]["entropy_norm"], "", "", m["top1"]["gini"], m["top1"]["max_vio"]])
    if "max_over_layers" in stats:
        x, t = stats["max_over_layers"]["all"], stats["max_over_layers"]["top1"]
        rows.append(["max", x["gini"], x["cv"], x["max_mean_ratio"], x["max_vio"], x["entropy_norm"], "", x["max"],
                     t["gini"], t["max_vio"]])
    out.append(table(["MoE layer", "Gini", "CV", "max/mean", "MaxVio", "entropy", "min load", "max load",
                      "top-1 Gini", "top-1 MaxVio"], rows))
    if isinstance(stats.get("verdict"), dict):
        out.append(f'<p class="verdict"><b>verdict</b>: {html.escape(stats["verdict"].get("text", ""))}</p>')
    out.append(png_img(mp.fig_expert_load_heatmap(stats), f"Expert load per layer, {name}"))
    out.append(png_img(mp.fig_expert_load_bars(stats), f"Tokens per expert against the uniform share, {name}"))
    out.append(png_img(mp.fig_balance_per_layer(stats), f"Gini, CV and MaxVio per layer, {name}"))
    return out


def history_section(history, name):
    out = [f"<h2>Training: {html.escape(name)}</h2>"]
    rows = []
    for r in history["evals"]:
        e = r["eval"]
        rows.append([r["step"], e.get("ppl", ""), e.get("loss", ""), mp._mean(e.get("gini", [])),
                     mp._mean(e.get("cv", [])) if e.get("cv") else "", mp._mean(e.get("max_mean", [])),
                     mp._mean(e.get("entropy", [])) if e.get("entropy") else ""])
    out.append(table(["step", "valid ppl", "valid loss", "mean Gini", "mean CV", "mean max/mean", "mean entropy"], rows))
    out.append(png_img(mp.fig_training_curves(history), f"Training curves, {name}"))
    return out


def eval_section(d, name):
    out = [f"<h2>Evaluation: {html.escape(name)}</h2>"]
    if "strategies" in d:
        keys = ["strategy", "ppl", "ppl_change_pct", "gini", "max_mean", "rerouted_pairs_pct", "dropped_pairs_pct",
                "a2a_p99_s"]
        out.append(table(keys, [[r.get(k, "") for k in keys] for r in d["strategies"]]))
        out.append(png_img(mp.fig_assign_tradeoff(d), f"Perplexity cost vs all-to-all P99, {name}"))
    else:
        keys = [k for k in ("model", "dataset", "ppl", "token_ppl", "mean_loss", "tokens", "examples") if k in d]
        out.append(table(keys, [[d[k] for k in keys]]))
    return out


def comparison_section(kind, items):
    """items: [(name, data)], the first the baseline; one table of every other against it, and figures."""
    title = {"stats": "Routing balance compared", "eval": "Evaluations compared",
             "replay": "All-to-all latency compared"}[kind]
    base_name, base = items[0]
    out = [f"<h2>{title}: {html.escape(', '.join(n for n, _ in items))}</h2>",
           f'<p class="meta">baseline {html.escape(base_name)}; change = other - baseline</p>']
    if kind == "replay":
        out.append(png_img(mp.fig_compare_replays([d for _, d in items], [n for n, _ in items]),
                           "All-to-all latency, overlaid: " + " vs ".join(n for n, _ in items)))
    for name, d in items[1:]:
        try:
            rows = cmp.compare(kind, base, d)
        except cmp.BadInput as e:
            out.append(f'<p class="failed">{html.escape(name)}: {html.escape(str(e))}</p>')
            continue
        out.append(f"<h3>{html.escape(base_name)} vs {html.escape(name)}</h3>")
        out.append(table(["metric", base_name, name, "change", "change %"],
                         [[r["metric"], r["a"], r["b"], r["delta"], r["change_pct"]] for r in rows]))
        if kind != "replay":
            out.append(png_img(cmp.figure(kind, base, d, (base_name, name)), f"{base_name} vs {name}"))
    if kind == "replay":
        for name, d in items:
            out.append(png_img(mp.fig_gpu_latency_bars(d), f"Per-GPU finish of the slowest all-to-all, {name}"))
    return out


def phase_table(summary):
    """Percentiles per phase (over all-to-alls; the layer: over layers, compute included), against the
    balanced reference and the bound (sim/README.md, Definitions)."""
    us = 1e6
    rows = []
    order = ["dispatch", "combine", "all", "layer"]
    phases = summary.get("phases", {})
    for phase, p in sorted(phases.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 9):
        if not (isinstance(p, dict) and isinstance(p.get("time_s"), dict) and "p50" in p["time_s"]):
            continue  # not a phase's percentiles
        t, b, lb = p["time_s"], p["balanced_s"], p["bound_s"]
        rows.append([phase, p["count"], t["p50"] * us, t["p90"] * us, t["p99"] * us, t["max"] * us, b["p99"] * us,
                     lb["p99"] * us, p["mean_slowdown"], p["mean_efficiency"]])
    return table(["phase", "instances", "P50 us", "P90 us", "P99 us", "max us", "balanced P99 us", "bound P99 us",
                  "mean slowdown (time/balanced)", "mean efficiency (bound/time)"], rows)


def summary_meta(summary):
    st = summary.get("straggler", {})
    experts = ", ".join(f"{e['expert']} ({e['tokens']:.0f} tokens)" for e in st.get("experts", [])[:3])
    return (f'<p class="meta">platform {html.escape(str(summary.get("platform", "?")))}, algorithm '
            f'{html.escape(str(summary.get("algorithm", "?")))}, {summary.get("gpus", "?")} GPUs, '
            f'{summary.get("all_to_alls", "?")} all-to-alls; top straggler GPU {st.get("gpu", "?")} '
            f'({st.get("count", "?")} times; its hottest experts: {html.escape(experts) or "-"})</p>')


def replay_summary_section(summary, name):
    out = [f"<h2>All-to-all latency: {html.escape(name)}</h2>", summary_meta(summary), phase_table(summary)]
    out.append(png_img(mp.fig_gpu_wait_bars(summary), f"Per-GPU all-to-all wait, {name}"))
    return out


def replay_section(replay, name):
    s = replay["summary"]
    out = [f"<h2>All-to-all latency: {html.escape(name)}</h2>"]
    if mp.is_replay_summary(s):
        out += [summary_meta(s), phase_table(s)]
    worst = sorted(replay["a2a"], key=lambda r: -r["time_s"])[:10]
    us = 1e6
    rows = [[r["step"], r["layer"], {0: "dispatch", 1: "combine"}.get(r["phase"], r["phase"]), r["time_s"] * us,
             r.get("balanced_s", 0) * us, r.get("bound_s", 0) * us,
             r["time_s"] / r["balanced_s"] if r.get("balanced_s") else "", r.get("straggler_gpu", "")]
            for r in worst]
    out.append("<h3>Slowest all-to-alls</h3>")
    out.append(table(["step", "layer", "phase", "time (us)", "balanced (us)", "bound (us)", "time / balanced",
                      "straggler GPU"], rows))
    out.append(png_img(mp.fig_gpu_latency_bars(replay), f"Per-GPU finish of the slowest all-to-all, {name}"))
    if mp.is_replay_summary(s):
        out.append(png_img(mp.fig_gpu_wait_bars(s), f"Per-GPU all-to-all wait over the run, {name}"))
    out.append(png_img(mp.fig_latency_cdf(replay), f"All-to-all latency CDF, {name}"))
    return out


def pick_sweep_axes(rows, params):
    """(x, by): a numeric parameter that varies (x axis) and a text one that varies (one line each)."""
    varying = [p for p in params if len({r.get(p) for r in rows}) > 1]
    numeric = [p for p in varying if all(mp._num(r.get(p)) is not None for r in rows)]
    text = [p for p in varying if p not in numeric]
    preferred = ("algorithm", "strategy", "placement", "platform", "load")
    text.sort(key=lambda p: (not any(w in p for w in preferred), len({r.get(p) for r in rows})))
    numeric = [p for p in numeric if "seed" not in p]  # seeds are replicates, not a swept quantity
    numeric.sort(key=lambda p: -len({r.get(p) for r in rows}))
    # One line per combination of the text parameters (strategy, platform, ...); else per value of a second number.
    by = text if text else [numeric[1]] if len(numeric) > 1 else None
    return (numeric[0] if numeric else None), by, varying


def pick_metrics(columns):
    """The result columns worth plotting: a latency percentile first, then routing balance."""
    columns = [c for c in columns if ".config." not in c]  # inputs echoed by a command, not results
    rules = [r"phases\.all\.time_s\.p99$", r"phases\.all\.mean_slowdown$", r"p99.*_s$",
             r"(^|\.)time_s$|latency.*_s$", r"mean_over_layers\.all\.gini$",
             r"mean_over_layers\.all\.max_vio$"]
    picked = []
    for rule in rules:
        for c in columns:
            if re.search(rule, c) and c not in picked:
                picked.append(c)
                break
    return picked


metric_label = mp.column_label


def sweep_section(rows, params, name):
    out = [f"<h2>Sweep: {html.escape(name)}</h2>"]
    status = {}
    for r in rows:
        status[r.get("status", "")] = status.get(r.get("status", ""), 0) + 1
    out.append(f'<p class="meta">{len(rows)} scenarios: ' + ", ".join(f"{v} {k}" for k, v in status.items()) + "</p>")
    columns = list(rows[0].keys()) if rows else []
    if params is None:  # no sweep.json: parameters are the columns between the bookkeeping ones and step outputs
        params = [c for c in columns[7:] if "." not in c or c.split(".")[0] not in {"stats", "synth", "replay"}]
    x, by, varying = pick_sweep_axes([r for r in rows if r.get("status") == "ok"] or rows, params)
    metrics = pick_metrics(columns)
    shown = ["scenario"] + varying + metrics + ["status", "error"]
    note = f"<p class='meta'>first {MAX_TABLE_ROWS} of {len(rows)} rows</p>" if len(rows) > MAX_TABLE_ROWS else ""
    out.append(table(shown, [[r.get(c, "") for c in shown] for r in rows[:MAX_TABLE_ROWS]], note))
    for metric in metrics:
        label = metric_label(metric)
        if x:
            out.append(png_img(mp.fig_sweep_curves(rows, x, metric, by, ylabel=label), f"{label} vs {x}, {name}"))
        elif by:
            # The parameter with the most values on the x axis, the others as bar colours.
            cats = sorted(by, key=lambda p: -len({r.get(p) for r in rows}))
            out.append(png_img(mp.fig_sweep_bars(rows, cats[0], metric, cats[1:] or None, ylabel=label),
                               f"{label} per {cats[0]}, {name}"))
    return out


# --- inputs --------------------------------------------------------------------------------------

def h5_format(path):
    import h5py
    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format", b"")
            fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
            if not fmt and "results" in f:
                fmt = f["results"].attrs.get("format", b"")
                fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
            return fmt
    except OSError as e:
        raise BadInput(f"{path}: not an HDF5 file ({e})")


def trace_stats(path, moesim):
    if not moesim:
        raise BadInput(f"{path}: a trace needs --moesim to compute its statistics")
    r = subprocess.run([moesim, "trace", "stats", path, "--json", "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        raise BadInput(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"{path}: trace stats failed")
    return json.loads(r.stdout)


def sections_for_json(d, name):
    if mp.is_stats(d):
        return [("stats", stats_section(d, name), (name, d))]
    if cmp.is_eval(d):
        return [("eval", eval_section(d, name), (name, d))]
    if mp.is_replay_summary(d):
        return [("replay-summary", replay_summary_section(d, name), None)]
    replay = mp.normalize_replay(d)
    if replay is not None and replay["a2a"]:
        return [("replay", replay_section(replay, name), (name, replay))]
    if isinstance(d, dict) and "steps" in d and "params" in d:  # one sweep scenario's result.json
        found = []
        params = ", ".join(f"{k}={v}" for k, v in d["params"].items())
        for step, value in (d.get("steps") or {}).items():
            found += sections_for_json(value, f"{name} [{step}] ({params})") if isinstance(value, dict) else []
        return found
    return []


def sections_for(path, moesim):
    name = os.path.basename(os.path.normpath(path))
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "replay.h5")):  # replay --out DIR
        _, replay = cmp.load(path)
        return [("replay", replay_section(replay, name), (name, replay))]
    if mp.is_history_file(path):
        try:
            history = mp.load_history(path)
        except mp.NotHistory as e:
            raise BadInput(str(e))
        return [("history", history_section(history, name if not os.path.isdir(path) else f"{name}/history.jsonl"), None)]
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "sweep.json")):
            raise BadInput(f"{path}: a folder must be a sweep's --out folder (no sweep.json)")
        csv_path = os.path.join(path, "results.csv")
        if not os.path.exists(csv_path):
            if not moesim:
                raise BadInput(f"{csv_path}: no such file (run `moesim sweep collect {path}`)")
            subprocess.run([moesim, "sweep", "collect", path], capture_output=True)
        return [("sweep", sweep_section(mp.read_results_csv(csv_path), mp.sweep_columns(path),
                                        mp.load_json(os.path.join(path, "sweep.json")).get("name", name)), None)]
    if path.endswith(".csv"):
        rows = mp.read_results_csv(path)
        if not rows or "status" not in rows[0]:
            raise BadInput(f"{path}: not a moesim sweep results table (no 'status' column)")
        return [("sweep", sweep_section(rows, mp.sweep_columns(os.path.dirname(path) or "."), name), None)]
    if path.endswith((".h5", ".hdf5")):
        fmt = h5_format(path)
        if fmt == "moesim-trace":
            stats = trace_stats(path, moesim)
            return [("stats", stats_section(stats, name), (name, stats))]
        if fmt == "moesim-sweep-results":
            return sections_for(os.path.dirname(os.path.abspath(path)), moesim)
        replay = mp.load_replay_h5(path)
        if replay is not None:
            return [("replay", replay_section(replay, name), (name, replay))]
        raise BadInput(f"{path}: HDF5 file of unknown kind (format '{fmt}')")
    try:
        d = mp.load_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: not JSON ({e})")
    found = sections_for_json(d, name)
    if not found:
        raise BadInput(f"{path}: not a trace stats, replay, eval-ppl / assign-eval or sweep scenario result")
    return found


def assemble(found):
    """found: [(input, kind, html parts, (name, data) or None)] -> (body, kinds). Two or more replays
    become one overlaid section in place of the first (not one section each); two or more traces or
    evaluations keep their sections and gain a comparison against the first."""
    by_kind = {}
    for _, kind, _, payload in found:
        if payload is not None:
            by_kind.setdefault(kind, []).append(payload)
    body, kinds, replays_drawn = [], [], False
    for path, kind, parts, _ in found:
        kinds.append({"input": path, "kind": kind})
        if kind == "replay" and len(by_kind.get("replay", [])) > 1:
            if not replays_drawn:
                body += comparison_section("replay", by_kind["replay"])
                replays_drawn = True
            continue
        body += parts
    for kind in ("stats", "eval"):
        if len(by_kind.get(kind, [])) > 1:
            body += comparison_section(kind, by_kind[kind])
    return body, kinds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--out", default="report.html")
    ap.add_argument("--title", default="moesim report")
    ap.add_argument("--moesim", help="the moesim binary (to compute stats of trace files)")
    ap.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    a = ap.parse_args()
    try:
        found = []
        for path in a.inputs:
            if not os.path.exists(path):
                raise BadInput(f"{path}: no such file or folder")
            found += [(path,) + f for f in sections_for(path, a.moesim)]
        body, kinds = assemble(found)
    except BadInput as e:
        print(f"moesim: error: {e}", file=sys.stderr)
        return 2
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    inputs = ", ".join(f"<code>{html.escape(p)}</code>" for p in a.inputs)
    page = (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(a.title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(a.title)}</h1>"
            f"<p class='meta'>made by moesim report on {when} from {inputs}</p>\n" + "\n".join(body) + "\n</body></html>\n")
    tmp = f"{a.out}.partial-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(page)
    os.replace(tmp, a.out)  # atomic, like every moesim output
    figures = page.count("<img ")
    if a.json:
        print(json.dumps({"out": a.out, "sections": kinds, "figures": figures, "bytes": len(page)}, indent=2))
    else:
        print(f"wrote {a.out} ({len(kinds)} sections, {figures} figures, {len(page) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
