#!/usr/bin/env python3
"""Table of the balance-loss fine-tuning study from the runs of analysis/studies/finetune_study.sh.

    python3 analysis/studies/finetune_study.py RUNS > analysis/studies/finetune_study_table.md

RUNS is the study's output directory (one NAME/history.jsonl per run) or a directory of
NAME.history.jsonl files (analysis/studies/finetune_study_runs/, the committed copy). NAME is LOSS_LAMBDA;
none_0 is the control (same fine-tuning, no balance term). Each history has an evaluation at step 0
(the model before fine-tuning) and at the last step: Gini and max/mean of the top-k expert loads per
MoE layer, and the validation perplexity.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # analysis/: the library
from finetune_runs import evals, mean, runs  # noqa: E402

ORDER = ["none", "gini", "variance", "cv", "entropy", "switch", "z"]


def layers(values, digits=3):
    return " / ".join(f"{v:.{digits}f}" for v in values)


def main(root):
    rows = []
    for name, history in runs(root):
        loss, _, weight = name.partition("_")
        before, after = evals(history)
        rows.append((ORDER.index(loss) if loss in ORDER else len(ORDER), float(weight or 0), loss, weight, before, after))
    rows.sort(key=lambda r: (r[0], r[1]))
    control = next((r[5] for r in rows if r[2] == "none"), None)
    print("| loss | λ | Gini per layer, before → after | mean Gini Δ | max/mean per layer, before → after "
          "| valid ppl before → after | Δ ppl | Δ ppl vs control |")
    print("|---|---|---|---|---|---|---|---|")
    for _, _, loss, weight, b, a in rows:
        gb, ga = mean(b["gini"]), mean(a["gini"])
        vs_control = f"{100 * (a['ppl'] - control['ppl']) / control['ppl']:+.2f} %" if control else "n/a"
        print(f"| {loss} | {weight} | {layers(b['gini'])} → {layers(a['gini'])} | {100 * (ga - gb) / gb:+.1f} % "
              f"| {layers(b['max_mean'], 2)} → {layers(a['max_mean'], 2)} | {b['ppl']:.2f} → {a['ppl']:.2f} "
              f"| {100 * (a['ppl'] - b['ppl']) / b['ppl']:+.2f} % | {vs_control} |")
    if rows:
        b = rows[0][4]
        print()
        print(f"All runs start from the same model: Gini per layer {layers(b['gini'])} (mean {mean(b['gini']):.3f}), "
              f"max/mean per layer {layers(b['max_mean'], 2)}, validation perplexity {b['ppl']:.2f} over "
              f"{b['tokens']} tokens.")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "finetune_study_runs"))
