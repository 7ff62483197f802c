#!/usr/bin/env python3
"""The parity fixtures (tests/fixtures/<arch>/, references from transformers 5.17 on CPU float32)
run through `moesim-gpu forward` on a CUDA device in float32: the largest logit difference and the
tokens whose top-k expert set differs, per fixture, as model_tests checks them on the CPU (≤ 1e-4,
none). The GPU's own code paths (fused kernels are float32-capable, the causal flash path, the
experts' combine kernel) are what this adds to the CPU ctest.

    scripts/gpu/parity_on_gpu.py MOESIM_GPU OUT.json [--device cuda:0]
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures"
LOGIT_TOLERANCE = 1e-4  # model_tests' bar on the CPU


def check(binary, fixture, device):
    ref = load_file(str(fixture / "reference.safetensors"))
    ids, mask = ref["input_ids"], ref["attention_mask"]
    args = [binary, "forward", "--model", str(fixture), "--device", device, "--dtype", "float32"]
    for row, keep in zip(ids.tolist(), mask.tolist()):
        args += ["--ids", ",".join(str(t) for t, m in zip(row, keep) if m)]
    with tempfile.TemporaryDirectory() as tmp:
        out_path = pathlib.Path(tmp) / "out.safetensors"
        p = subprocess.run(args + ["-o", str(out_path)], capture_output=True, text=True)
        if p.returncode != 0:
            return {"fixture": fixture.name, "rc": p.returncode, "error": (p.stderr or p.stdout).strip()[-400:]}
        out = load_file(str(out_path))
    valid = mask.bool()
    logit_error = (out["logits"][valid] - ref["logits"].float()[valid]).abs().max().item()
    mismatches = tokens = 0
    for name, got in out.items():
        if not name.startswith("expert_ids."):
            continue
        want = ref["topk_ids." + name.split(".", 1)[1]].reshape(ids.numel(), -1)[valid.reshape(-1)]
        got_sets = [set(r) for r in got.tolist()]
        want_sets = [set(r) for r in want.tolist()]
        mismatches += sum(g != w for g, w in zip(got_sets, want_sets))
        tokens += len(want_sets)
    return {"fixture": fixture.name, "rc": 0, "max_logit_error": logit_error, "routing_mismatches": mismatches,
            "tokens_checked": tokens, "ok": logit_error <= LOGIT_TOLERANCE and mismatches == 0}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("binary")
    p.add_argument("out")
    p.add_argument("--device", default="cuda:0")
    a = p.parse_args()
    rows = [check(a.binary, f, a.device) for f in sorted(FIXTURES.iterdir()) if (f / "reference.safetensors").exists()]
    for r in rows:
        if r["rc"]:
            print(f"{r['fixture']:20s} FAILED rc {r['rc']}: {r['error']}")
        else:
            print(f"{r['fixture']:20s} max |logit diff| {r['max_logit_error']:.1e}  routing mismatches "
                  f"{r['routing_mismatches']}/{r['tokens_checked']}  {'ok' if r['ok'] else 'OVER'}")
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "dtype": "float32",
              "tolerance": LOGIT_TOLERANCE, "fixtures": rows}
    pathlib.Path(a.out).write_text(json.dumps(result, indent=1))
    return 0 if all(r.get("ok") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
