#!/usr/bin/env python3
"""Table of the balance-loss fine-tuning study from the runs of analysis/finetune_study.sh.

    python3 analysis/finetune_study.py RUNS_DIR > analysis/finetune_study.md

Each run's history.jsonl has an evaluation at step 0 (the default model) and at the last step:
Gini and max/mean of the top-2 expert loads per MoE layer and validation perplexity on WikiText-2.
"""
import json
import pathlib
import sys


def evals(history):
    out = []
    for line in history.read_text().splitlines():
        j = json.loads(line)
        if "eval" in j:
            out.append((j["step"], j["eval"]))
    return out[0][1], out[-1][1]


def fmt_layers(values, digits=3):
    return " / ".join(f"{v:.{digits}f}" for v in values)


def main(root):
    root = pathlib.Path(root)
    order = ["none", "gini", "variance", "cv", "entropy", "switch", "z"]
    rows = []
    for run in sorted(root.iterdir()):
        history = run / "history.jsonl"
        if not run.is_dir() or not history.exists():
            continue
        loss, _, weight = run.name.partition("_")
        before, after = evals(history)
        rows.append((order.index(loss) if loss in order else 99, float(weight or 0), loss, weight, before, after))
    rows.sort(key=lambda r: (r[0], r[1]))
    print("| loss | λ | Gini per layer before → after | mean Gini Δ | max/mean per layer after | valid ppl before → after | Δ ppl |")
    print("|---|---|---|---|---|---|---|")
    for _, _, loss, weight, b, a in rows:
        gb, ga = sum(b["gini"]) / len(b["gini"]), sum(a["gini"]) / len(a["gini"])
        print(f"| {loss} | {weight} | {fmt_layers(b['gini'])} → {fmt_layers(a['gini'])} | {100 * (ga - gb) / gb:+.1f} % "
              f"| {fmt_layers(a['max_mean'], 2)} | {b['ppl']:.2f} → {a['ppl']:.2f} | {100 * (a['ppl'] - b['ppl']) / b['ppl']:+.2f} % |")
    if rows:
        b = rows[0][4]
        print()
        print(f"Before fine-tuning (all runs start from the same model): Gini per layer {fmt_layers(b['gini'])}, "
              f"max/mean per layer {fmt_layers(b['max_mean'], 2)}, validation perplexity {b['ppl']:.2f} "
              f"over {b['tokens']} tokens.")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/study")
