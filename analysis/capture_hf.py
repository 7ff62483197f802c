#!/usr/bin/env python3
"""Routing capture from a Hugging Face transformers model, written as a moesim trace (format v1,
traces/FORMAT.md) with h5py: the Python twin of `moesim capture`, for users who run models in Python.

    python3 analysis/capture_hf.py --model DIR --ids-file ids.txt --batch 8 --seq 512 --out trace.h5
    python3 analysis/capture_hf.py --model DIR --text-file doc.txt --device cuda --dtype bfloat16 ...

The token stream is cut exactly as `moesim capture` cuts it: sequences of --seq tokens (the last one
shorter), --batch sequences per step (one forward pass), shorter sequences left-padded with an
attention mask and position ids counting from 0 at the first real token. A forward pre-hook on each
MoE block's experts module records the expert ids and gate weights that transformers really hands to
its experts (transformers ≥ 5: experts(hidden, top_k_index, top_k_weights)); with older layouts the
router ("gate") output is used. Rows are written with the largest gate first, as format v1 asks.
Needs torch, transformers, h5py, numpy (the GPU machine has them; nothing is downloaded).
"""
import argparse
import datetime
import os
import re
import sys

import h5py
import numpy as np
import torch
import transformers


def read_ids(path):
    """Token ids separated by whitespace or commas, as moesim's --ids-file reads them."""
    text = open(path).read()
    ids = [int(t) for t in re.split(r"[\s,]+", text) if t]
    if not ids or min(ids) < 0:
        sys.exit(f"{path}: expected non-negative token ids separated by spaces, commas or newlines")
    return ids


def moe_blocks(model):
    """(model layer index, block) of every layer whose MLP routes tokens to experts."""
    out = []
    for i, layer in enumerate(model.model.layers):
        mlp = getattr(layer, "mlp", None) or getattr(layer, "block_sparse_moe", None)
        if mlp is not None and hasattr(mlp, "experts") and hasattr(mlp, "gate"):
            out.append((i, mlp))
    return out


class RoutingRecorder:
    """Hooks that keep, per MoE layer, the (tokens, k) expert ids and gate weights of the last pass."""

    def __init__(self, blocks, top_k):
        self.top_k, self.ids, self.gates, self.handles = top_k, {}, {}, []
        for n, (_, block) in enumerate(blocks):
            if isinstance(block.experts, torch.nn.ModuleList):  # transformers 4: the router's own output
                self.handles.append(block.gate.register_forward_hook(self._gate_hook(n)))
            else:
                self.handles.append(block.experts.register_forward_pre_hook(self._experts_hook(n), with_kwargs=True))

    def _experts_hook(self, n):
        def hook(_module, args, kwargs):
            idx = args[1] if len(args) > 1 else kwargs["top_k_index"]
            w = args[2] if len(args) > 2 else kwargs["top_k_weights"]
            self.ids[n], self.gates[n] = idx.reshape(-1, idx.shape[-1]), w.reshape(-1, w.shape[-1]).float()
        return hook

    def _gate_hook(self, n):
        def hook(_module, _args, output):
            outs = output if isinstance(output, tuple) else (output,)
            ints = [o for o in outs if not o.is_floating_point()]
            if ints:  # (logits, weights, ids)
                floats = [o for o in outs if o.is_floating_point() and o.shape[-1] == ints[0].shape[-1]]
                self.ids[n], self.gates[n] = ints[0], floats[0].float()
            else:  # plain logits: softmax top-k, the Mixtral rule
                probs = torch.softmax(outs[0].float(), dim=-1)
                w, idx = torch.topk(probs, self.top_k, dim=-1)
                self.ids[n], self.gates[n] = idx, w / w.sum(-1, keepdim=True)
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


class TraceFile:
    """Format v1 written step by step into extendible chunked datasets (as moesim's TraceWriter)."""

    CHUNK = 65536

    def __init__(self, path, attrs, model_layers, num_experts, top_k):
        self.path, self.tmp = path, f"{path}.partial-{os.getpid()}"
        self.f = h5py.File(self.tmp, "w")
        self.attrs, self.k, self.offsets, self.tokens = attrs, top_k, [0], 0
        id_type = np.uint8 if num_experts <= 256 else np.uint16 if num_experts <= 65536 else np.uint32
        z = dict(compression="gzip", compression_opts=1, shuffle=True)

        def ds(name, dtype, cols=None, **kw):
            shape, maxshape = ((0,), (None,)) if cols is None else ((0, cols), (None, cols))
            chunks = (self.CHUNK,) if cols is None else (self.CHUNK, cols)
            return self.f.create_dataset(name, shape=shape, maxshape=maxshape, dtype=dtype, chunks=chunks, **kw)

        self.token_sets = {n: ds(f"tokens/{n}", np.int32, **z) for n in ("sequence_id", "position", "token_id")}
        self.layers = []
        for l, model_layer in enumerate(model_layers):
            g = self.f.create_group(f"layers/{l}")
            g.attrs["model_layer"] = np.int64(model_layer)
            self.layers.append((ds(f"layers/{l}/expert_ids", id_type, top_k), ds(f"layers/{l}/gate_weights", np.float32, top_k, **z)))

    @staticmethod
    def _append(d, rows):
        n = d.shape[0]
        d.resize(n + rows.shape[0], axis=0)
        d[n:] = rows

    def append_step(self, sequence_id, position, token_id, layer_ids, layer_gates):
        for name, rows in (("sequence_id", sequence_id), ("position", position), ("token_id", token_id)):
            self._append(self.token_sets[name], np.asarray(rows, np.int32))
        for (ids_d, gates_d), ids, gates in zip(self.layers, layer_ids, layer_gates):
            self._append(ids_d, ids.astype(ids_d.dtype))
            self._append(gates_d, gates.astype(np.float32))
        self.tokens += len(sequence_id)
        self.offsets.append(self.tokens)

    def close(self):
        self.f.create_dataset("steps/offsets", data=np.asarray(self.offsets, np.uint64))
        a = self.f.attrs
        a["format"], a["version"] = "moesim-trace", np.int64(1)
        for key, val in self.attrs.items():
            a[key] = np.int64(val) if isinstance(val, (int, np.integer)) else str(val)
        a["num_tokens"], a["num_steps"] = np.int64(self.tokens), np.int64(len(self.offsets) - 1)
        a["has_token_ids"], a["has_router_probs"] = np.int64(1), np.int64(0)
        self.f.close()
        os.replace(self.tmp, self.path)


def steps(ids, batch, seq_len):
    """Steps of up to `batch` sequences of up to `seq_len` tokens, as moesim capture cuts them."""
    step_tokens = batch * seq_len
    for begin in range(0, len(ids), step_tokens):
        chunk = ids[begin:begin + step_tokens]
        yield [chunk[s:s + seq_len] for s in range(0, len(chunk), seq_len)]


def left_padded(seqs, pad_id, device):
    S = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), S), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, s in enumerate(seqs):
        ids[b, S - len(s):] = torch.tensor(s)
        mask[b, S - len(s):] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), pos.to(device)


def load_model(path, device, dtype):
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), attn_implementation="eager")
    return model.to(device).eval()


def capture(model, ids, batch, seq_len, out, attrs, device):
    cfg = model.config
    blocks = moe_blocks(model)
    if not blocks:
        sys.exit(f"{attrs['model']}: no MoE layers found (model_type {cfg.model_type})")
    top_k = cfg.num_experts_per_tok
    num_experts = getattr(cfg, "num_local_experts", None) or getattr(cfg, "n_routed_experts", None) or cfg.num_experts
    attrs = dict(attrs, architecture=cfg.model_type, num_layers=len(blocks), num_experts=num_experts, top_k=top_k,
                 hidden_size=cfg.hidden_size)
    recorder = RoutingRecorder(blocks, top_k)
    trace = TraceFile(out, attrs, [i for i, _ in blocks], num_experts, top_k)
    pad_id = cfg.pad_token_id if cfg.pad_token_id is not None else 0
    sequence = 0
    with torch.no_grad():
        for seqs in steps(ids, batch, seq_len):
            input_ids, mask, pos = left_padded(seqs, pad_id, device)
            model.model(input_ids=input_ids, attention_mask=mask, position_ids=pos, use_cache=False)
            real = mask.reshape(-1).nonzero().reshape(-1)  # real tokens, sequence by sequence
            layer_ids, layer_gates = [], []
            for n in range(len(blocks)):
                w = recorder.gates[n].index_select(0, real)
                order = torch.argsort(w, dim=-1, descending=True, stable=True)  # largest gate first
                layer_ids.append(recorder.ids[n].index_select(0, real).gather(1, order).cpu().numpy())
                layer_gates.append(w.gather(1, order).cpu().numpy())
            sid = [sequence + b for b, s in enumerate(seqs) for _ in s]
            trace.append_step(sid, [p for s in seqs for p in range(len(s))], [t for s in seqs for t in s],
                              layer_ids, layer_gates)
            sequence += len(seqs)
    recorder.remove()
    trace.close()
    return trace.tokens, len(trace.offsets) - 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example: python3 analysis/capture_hf.py --model model/default --ids-file ids.txt "
                                       "--batch 4 --seq 256 --out hf.h5")
    p.add_argument("--model", required=True, help="Hugging Face model directory (config.json + safetensors)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ids-file", help="token ids separated by spaces, commas or newlines")
    src.add_argument("--text-file", help="text, tokenized with the model directory's HF tokenizer (BOS added)")
    p.add_argument("--tokens", type=int, default=0, help="capture at most this many tokens (0 = all)")
    p.add_argument("--batch", type=int, default=8, help="sequences per step (one forward pass)")
    p.add_argument("--seq", type=int, default=512, help="tokens per sequence")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("-o", "--out", required=True, help="output trace (.h5)")
    a = p.parse_args()
    if a.batch <= 0 or a.seq <= 0:
        sys.exit("--batch and --seq must be positive")
    if a.ids_file:
        ids, dataset, tokenizer = read_ids(a.ids_file), f"ids:{a.ids_file}", "none (pre-tokenized ids)"
    else:
        tok = transformers.AutoTokenizer.from_pretrained(a.model)
        ids, dataset, tokenizer = tok(open(a.text_file).read())["input_ids"], f"text:{a.text_file}", a.model
    if a.tokens > 0:
        ids = ids[:a.tokens]
    model = load_model(a.model, a.device, a.dtype)
    if max(ids) >= model.config.vocab_size:
        sys.exit(f"{a.ids_file or a.text_file}: token id {max(ids)} is outside the vocabulary [0, {model.config.vocab_size})")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    attrs = dict(model=a.model, dataset=dataset, tokenizer=tokenizer, routing_strategy="topk",
                 created_by="analysis/capture_hf.py " + " ".join(sys.argv[1:]), created_at=now)
    tokens, n_steps = capture(model, ids, a.batch, a.seq, a.out, attrs, a.device)
    print(f"{a.out}: {tokens} tokens in {n_steps} steps, transformers {transformers.__version__}, {a.device} {a.dtype}")


if __name__ == "__main__":
    main()
