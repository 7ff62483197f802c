#!/usr/bin/env python3
"""Capture throughput of transformers (eager PyTorch, no torch.compile) on the GPU machine, to set
beside `moesim-gpu bench-capture` on the same checkpoint, batch and sequence length.

    python3 tests/bench/capture_vs_transformers.py make DIR        # random Mixtral-shaped model, bf16
    python3 tests/bench/capture_vs_transformers.py bench DIR --batch 8 --seq 2048 --tokens 65536 \
        [--attn sdpa|eager] [--json OUT.json]

`make`: MixtralConfig(hidden 2048, 8 layers, 16 heads / 4 KV heads of 128, 8 experts of 7168 —
Mixtral's 3.5 × hidden —, top-2, vocabulary 32000), random init (seed 0), save_pretrained in bf16.
`bench`: the model in bf16 on cuda:0; per step one forward pass of the decoder (no LM head, as
capture needs none) with the routing hooks of analysis/capture_hf.py, whose expert ids and gates of
every MoE layer are copied to the host, as a capture must; 2 warm-up steps, then the median of 3
timed passes over --tokens tokens (random ids, seed 0), each ended by torch.cuda.synchronize().
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import transformers

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "analysis"))
from capture_hf import RoutingRecorder, moe_blocks  # noqa: E402


def make(path):
    config = transformers.MixtralConfig(vocab_size=32000, hidden_size=2048, intermediate_size=7168,
                                        num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=4,
                                        head_dim=128, num_local_experts=8, num_experts_per_tok=2,
                                        max_position_embeddings=4096, tie_word_embeddings=False)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = transformers.MixtralForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(path, safe_serialization=True)
    print(f"{path}: {sum(p.numel() for p in model.parameters()) / 1e9:.2f} G parameters, bf16")


def bench(path, batch, seq, tokens, attn, warmup=2, repeats=3, profile=None):
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, attn_implementation=attn,
                                                              device_map="cuda").eval()
    blocks = moe_blocks(model)
    recorder = RoutingRecorder(blocks, model.config.num_experts_per_tok)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (tokens // seq, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long, device="cuda")

    def run(rows):
        for b in range(0, rows.shape[0], batch):
            x = rows[b:b + batch].to("cuda")
            model.model(input_ids=x, attention_mask=mask[: x.shape[0]], use_cache=False)
            for n in range(len(blocks)):  # the capture's host copy of every layer's routing
                recorder.ids[n].cpu(), recorder.gates[n].cpu()

    with torch.no_grad():
        run(ids[: warmup * batch])
        torch.cuda.synchronize()
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run(ids)
            torch.cuda.synchronize()
            rates.append(ids.numel() / (time.perf_counter() - t0))
        if profile:  # one more step under torch.profiler, as moesim-gpu bench-capture --profile does
            acts = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
            with torch.profiler.profile(activities=acts) as prof:
                run(ids[:batch])
                torch.cuda.synchronize()
            prof.export_chrome_trace(profile)
    recorder.remove()
    return {"transformers": transformers.__version__, "torch": torch.__version__, "attn": attn, "batch": batch,
            "seq": seq, "tokens": ids.numel(), "moe_layers": len(blocks), "tokens_per_s": rates,
            "median_tokens_per_s": statistics.median(rates), "gpu": torch.cuda.get_device_name(0),
            "experts_implementation": getattr(model.config, "_experts_implementation", None)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["make", "bench"])
    p.add_argument("dir")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--tokens", type=int, default=65536)
    p.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    p.add_argument("--json")
    p.add_argument("--profile", help="after the timed passes, one step under torch.profiler: Chrome trace to this file")
    a = p.parse_args()
    if a.what == "make":
        return make(a.dir)
    r = bench(a.dir, a.batch, a.seq, a.tokens, a.attn, profile=a.profile)
    print(f"transformers {r['transformers']} capture (attn {a.attn}), batch {a.batch} x seq {a.seq}: "
          f"median {r['median_tokens_per_s']:.0f} tokens/s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()
