#!/usr/bin/python3
"""SUMMARY.md of analysis/studies/study.sh --quick: the findings of each part as short tables, from the files
the quick study wrote into OUT. Usage: study_quick_summary.py OUT > OUT/SUMMARY.md"""
import csv
import json
import os
import sys
from collections import defaultdict


def load(path):
    with open(path) as f:
        return json.load(f)


def part1(out):
    print("## 1. Routing imbalance of the default model per data set\n")
    print("| data set | tokens | mean Gini | mean CV | max/mean, worst layer | dead experts | verdict |")
    print("|---|---|---|---|---|---|---|")
    for name in ("wikitext2", "c4", "lambada"):
        s = load(f"{out}/stats-default-{name}.json")
        m, x, v = s["mean_over_layers"]["all"], s["max_over_layers"]["all"], s["verdict"]
        print(f"| {s['dataset']} | {s['num_tokens']} | {m['gini']:.3f} | {m['cv']:.3f} | {x['max_mean_ratio']:.2f} "
              f"(layer {v['worst_layer']}) | {v['dead_experts']} | {v['level']} |")
    print("\nFigures: `figures/heatmap-*.png` (dead experts black with a white x), `figures/load-bars-*.png` "
          "(tokens per expert against the uniform line), `figures/balance-*.png` (Gini, CV, MaxVio per layer).")


def part2(out):
    d = load(f"{out}/assign_eval.json")
    print(f"\n## 2. Assignment strategies (WikiText-2 test, {d['strategies'][0].get('tokens_scored', '?')} tokens scored, "
          f"replayed on {d.get('platform', '?')})\n")
    print("| strategy | ppl | ppl change | Gini | max/mean | tokens moved (rerouted pairs) | dropped pairs | all-to-all P99 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in d["strategies"]:
        print(f"| `{r['strategy']}` | {r['ppl']:.2f} | {r['ppl_change_pct']:+.1f} % | {r['gini']:.3f} | {r['max_mean']:.2f} "
              f"| {r['rerouted_pairs_pct']:.1f} % | {r['dropped_pairs_pct']:.1f} % | {r['a2a_p99_s'] * 1e6:.1f} us |")
    base = d["strategies"][0]
    for r in d["strategies"]:
        if r["strategy"].startswith("load_temperature"):
            print(f"\n`{r['strategy']}` moves {r['rerouted_pairs_pct']:.1f} % of the (token, expert) pairs and takes the "
                  f"Gini from {base['gini']:.3f} to {r['gini']:.3f} for {r['ppl_change_pct']:+.1f} % perplexity; "
                  f"plain `temperature` keeps every token's order and moves none.")
    for name, what in (("compare-trace.txt", "the two traces"), ("compare-replay.txt", "their replays")):
        if os.path.exists(f"{out}/{name}"):
            print(f"\nBaseline vs load_temperature, {what} (`moesim compare`):\n\n```")
            print(open(f"{out}/{name}").read().rstrip())
            print("```")


def part3(out):
    print("\n## 3. Balance-loss fine-tuning (short CPU runs; the direction, not the GPU study's sizes)\n")
    print(open(f"{out}/finetune-table.md").read().rstrip())
    a, b = load(f"{out}/lambada-base.json"), load(f"{out}/lambada-switch_1.json")
    print(f"\nLAMBADA ({a.get('examples', '?')} examples), last-word perplexity: {a['ppl']:.1f} before, {b['ppl']:.1f} after "
          f"switch=1 ({100 * (b['ppl'] - a['ppl']) / a['ppl']:+.1f} %). Accuracy is left out: the 9.1 M-parameter "
          f"default model, trained on WikiText-2 alone, predicts almost no LAMBADA last word exactly "
          f"(accuracy {a.get('accuracy', 0):.3f} / {b.get('accuracy', 0):.3f}), so it cannot tell strategies or losses "
          f"apart; the last word's perplexity still moves with them.")


def part4(out):
    print("\n## 4. All-to-all cost of imbalance (synthetic Zipf loads; P99 against the balanced reference)\n")
    groups = defaultdict(list)
    for r in csv.DictReader(open(f"{out}/a2a-cost.csv")):
        if r["status"] == "ok":
            groups[(r["platform"], r["placement"], r["s"])].append(r)
    print("| platform | placement | Zipf s | P99 us | balanced P99 us | P99 / balanced |\n|---|---|---|---|---|---|")
    for (platform, placement, s), rows in sorted(groups.items()):
        p99 = sum(float(r["replay.phases.all.time_s.p99"]) for r in rows) / len(rows) * 1e6
        bal = sum(float(r["replay.phases.all.balanced_s.p99"]) for r in rows) / len(rows) * 1e6
        print(f"| {platform} | {placement} | {s} | {p99:.1f} | {bal:.1f} | {p99 / bal:.2f} |")


def main(out):
    print("# moesim quick study (`analysis/studies/study.sh --quick`)\n")
    print("Every part of the study at its smallest; `report.html` holds the figures and tables. Step times: "
          + ", ".join(f"{n} {open(os.path.join(out, '.done', n)).read().strip()}"
                      for n in sorted(os.listdir(os.path.join(out, ".done")))) + ".\n")
    for part in (part1, part2, part3, part4):
        part(out)


if __name__ == "__main__":
    main(sys.argv[1])
