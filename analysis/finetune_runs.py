"""Fine-tuning runs as the analysis library reads them: a folder of NAME/history.jsonl (or
NAME.history.jsonl), NAME = LOSS_LAMBDA, each history holding an evaluation at step 0 and at the last
step. Shared by plot.py (the finetune figure) and studies/finetune_study.py (the table)."""
import json
import pathlib


def evals(history):
    out = [json.loads(line) for line in history.read_text().splitlines() if '"eval"' in line]
    return out[0]["eval"], out[-1]["eval"]


def runs(root):
    root = pathlib.Path(root)
    for path in sorted(root.iterdir()):
        if path.is_dir() and (path / "history.jsonl").exists():
            yield path.name, path / "history.jsonl"
        elif path.name.endswith(".history.jsonl"):
            yield path.name[: -len(".history.jsonl")], path


def mean(values):
    return sum(values) / len(values)


def summary_rows(root):
    """One dict per run (loss, lam, gini_change_pct, ppl_vs_control_pct): what the figure plots."""
    runs_ = []
    for name, history in runs(root):
        loss, _, weight = name.partition("_")
        before, after = evals(history)
        runs_.append((loss, float(weight or 0), before, after))
    control = next((a for loss, _, _, a in runs_ if loss == "none"), None)
    out = []
    for loss, lam, b, a in runs_:
        ref = control or b
        out.append({"loss": loss, "lam": lam,
                    "gini_change_pct": 100 * (mean(a["gini"]) - mean(b["gini"])) / mean(b["gini"]),
                    "ppl_vs_control_pct": 100 * (a["ppl"] - ref["ppl"]) / ref["ppl"]})
    return out
