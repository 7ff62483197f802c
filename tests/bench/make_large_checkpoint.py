#!/usr/bin/env python3
"""Random checkpoints with the real shapes, tensor names and weight formats of two hub releases, for
measuring moesim's loader at real sizes on the GPU machine (scripts/gpu/model_scale_checks.sh):

    python3 tests/bench/make_large_checkpoint.py gpt_oss_120b DIR --layers 12   # MXFP4 experts, bf16 rest
    python3 tests/bench/make_large_checkpoint.py deepseek_v3 DIR --layers 4     # FP8 128x128 blocks
    python3 tests/bench/make_large_checkpoint.py gpt_oss_120b /tmp/oss --spill-dir /dev/shm/oss --spill-after-gb 40

config.json is the release's own (openai/gpt-oss-120b, deepseek-ai/DeepSeek-V3) with num_hidden_layers
cut to --layers (default: all, 36 and 61); tensors are written in 4 GB shards with
model.safetensors.index.json, as the hub ships them. --spill-dir puts the shards after the first
--spill-after-gb GB into another folder and symlinks them into DIR (a checkpoint larger than one disk:
the whole gpt-oss-120b, 65 GB, split between /tmp and /dev/shm). Values are random but scaled so that activations stay O(1) through the layers (weights
~ N(0, 1/fan_in)); quantized tensors are drawn in their storage format on the GPU (fast) and written
as raw bytes.
"""
import argparse
import json
import math
import os

import torch
from safetensors.torch import save_file

SHARD_BYTES = 4 << 30
DEV = "cuda" if torch.cuda.is_available() else "cpu"


class ShardWriter:
    def __init__(self, out, spill_dir=None, spill_after_bytes=0):
        self.out, self.pending, self.pending_bytes, self.index, self.n = out, {}, 0, {}, 0
        self.spill_dir, self.spill_after_bytes, self.written_bytes = spill_dir, spill_after_bytes, 0

    def add(self, name, t):
        self.pending[name] = t.contiguous().cpu()
        self.pending_bytes += t.numel() * t.element_size()
        if self.pending_bytes >= SHARD_BYTES:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        self.n += 1
        fname = f"model-{self.n:05d}.safetensors"
        spill = self.spill_dir is not None and self.written_bytes >= self.spill_after_bytes
        path = os.path.join(self.spill_dir if spill else self.out, fname)
        save_file(self.pending, path, metadata={"format": "pt"})
        if spill:  # the loader opens DIR/fname, following the link
            os.symlink(os.path.abspath(path), os.path.join(self.out, fname))
        self.written_bytes += os.path.getsize(path)
        for k in self.pending:
            self.index[k] = fname
        self.pending, self.pending_bytes = {}, 0

    def close(self):
        self.flush()
        with open(os.path.join(self.out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": self.written_bytes}, "weight_map": self.index}, f)


def normal(shape, fan_in, dtype=torch.bfloat16):
    return (torch.randn(shape, device=DEV) / math.sqrt(fan_in)).to(dtype)


def fp8_weight(w, name, rows, cols, block=128):
    """A random FP8 weight of N(0, 1/cols) values: e4m3 codes of N(0, 1)·64/sqrt(cols), scale 1/64."""
    codes = (torch.randn(rows, cols, device=DEV) * 64 / math.sqrt(cols)).clamp(-448, 448).to(torch.float8_e4m3fn)
    w.add(name, codes)
    w.add(name + "_scale_inv", torch.full((-(-rows // block), -(-cols // block)), 1 / 64, device=DEV))


def mxfp4_weight(w, name, experts, rows, cols):
    """Random MXFP4 blocks: uniform e2m1 codes (RMS ~3.3), scale 2^-round(log2(3.3·sqrt(cols)))."""
    w.add(name + "_blocks", torch.randint(0, 256, (experts, rows, cols // 32, 16), dtype=torch.uint8, device=DEV))
    exponent = -round(math.log2(3.3 * math.sqrt(cols)))
    w.add(name + "_scales", torch.full((experts, rows, cols // 32), 127 + exponent, dtype=torch.uint8, device=DEV))


def gpt_oss_120b(w, layers):
    c = {"architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "vocab_size": 201088, "hidden_size": 2880,
         "intermediate_size": 2880, "num_hidden_layers": layers, "num_attention_heads": 64, "num_key_value_heads": 8,
         "head_dim": 64, "num_local_experts": 128, "num_experts_per_tok": 4, "experts_per_token": 4,
         "sliding_window": 128, "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention"
                                                for i in range(layers)],
         "rope_theta": 150000, "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
                                                "original_max_position_embeddings": 4096, "rope_type": "yarn",
                                                "truncate": False},
         "max_position_embeddings": 131072, "initial_context_length": 4096, "rms_norm_eps": 1e-05,
         "attention_bias": True, "swiglu_limit": 7.0, "tie_word_embeddings": False, "hidden_act": "silu",
         "router_aux_loss_coef": 0.9, "output_router_logits": False, "use_cache": True, "torch_dtype": "bfloat16",
         "quantization_config": {"quant_method": "mxfp4", "modules_to_not_convert": [
             "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}}
    H, I, E, h, g, d, V = 2880, 2880, 128, 64, 8, 64, 201088
    w.add("model.embed_tokens.weight", normal((V, H), 1.0))
    w.add("lm_head.weight", normal((V, H), H))
    w.add("model.norm.weight", torch.ones(H, dtype=torch.bfloat16))
    for l in range(layers):
        p = f"model.layers.{l}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            w.add(p + n + ".weight", torch.ones(H, dtype=torch.bfloat16))
        for proj, rows, cols in (("q", h * d, H), ("k", g * d, H), ("v", g * d, H), ("o", H, h * d)):
            w.add(p + f"self_attn.{proj}_proj.weight", normal((rows, cols), cols))
            w.add(p + f"self_attn.{proj}_proj.bias", torch.zeros(rows, dtype=torch.bfloat16))
        w.add(p + "self_attn.sinks", torch.zeros(h, dtype=torch.bfloat16))
        w.add(p + "mlp.router.weight", normal((E, H), H))
        w.add(p + "mlp.router.bias", torch.zeros(E, dtype=torch.bfloat16))
        mxfp4_weight(w, p + "mlp.experts.gate_up_proj", E, 2 * I, H)
        w.add(p + "mlp.experts.gate_up_proj_bias", torch.zeros(E, 2 * I, dtype=torch.bfloat16))
        mxfp4_weight(w, p + "mlp.experts.down_proj", E, H, I)
        w.add(p + "mlp.experts.down_proj_bias", torch.zeros(E, H, dtype=torch.bfloat16))
    return c


def deepseek_v3(w, layers):
    dense = min(3, layers - 1)
    c = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "vocab_size": 129280,
         "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
         "num_hidden_layers": layers, "num_attention_heads": 128, "num_key_value_heads": 128,
         "n_shared_experts": 1, "n_routed_experts": 256, "num_experts_per_tok": 8, "n_group": 8, "topk_group": 4,
         "routed_scaling_factor": 2.5, "norm_topk_prob": True, "first_k_dense_replace": dense, "moe_layer_freq": 1,
         "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128,
         "v_head_dim": 128, "topk_method": "noaux_tc", "scoring_func": "sigmoid", "rms_norm_eps": 1e-06,
         "rope_theta": 10000, "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0,
                                               "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096,
                                               "type": "yarn"},
         "max_position_embeddings": 163840, "hidden_act": "silu", "tie_word_embeddings": False,
         "attention_bias": False, "torch_dtype": "bfloat16",
         "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                 "weight_block_size": [128, 128]}}
    H, V, h = 7168, 129280, 128
    w.add("model.embed_tokens.weight", normal((V, H), 1.0))
    w.add("lm_head.weight", normal((V, H), H))
    w.add("model.norm.weight", torch.ones(H, dtype=torch.bfloat16))
    for l in range(layers):
        p = f"model.layers.{l}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            w.add(p + n + ".weight", torch.ones(H, dtype=torch.bfloat16))
        a = p + "self_attn."
        fp8_weight(w, a + "q_a_proj.weight", 1536, H)
        w.add(a + "q_a_layernorm.weight", torch.ones(1536, dtype=torch.bfloat16))
        fp8_weight(w, a + "q_b_proj.weight", h * 192, 1536)
        fp8_weight(w, a + "kv_a_proj_with_mqa.weight", 512 + 64, H)
        w.add(a + "kv_a_layernorm.weight", torch.ones(512, dtype=torch.bfloat16))
        fp8_weight(w, a + "kv_b_proj.weight", h * 256, 512)
        fp8_weight(w, a + "o_proj.weight", H, h * 128)
        if l < dense:
            for n, rows, cols in (("gate_proj", 18432, H), ("up_proj", 18432, H), ("down_proj", H, 18432)):
                fp8_weight(w, p + f"mlp.{n}.weight", rows, cols)
            continue
        w.add(p + "mlp.gate.weight", normal((256, H), H))
        w.add(p + "mlp.gate.e_score_correction_bias", torch.zeros(256))
        for e in list(range(256)) + ["shared"]:
            q = p + (f"mlp.experts.{e}." if e != "shared" else "mlp.shared_experts.")
            for n, rows, cols in (("gate_proj", 2048, H), ("up_proj", 2048, H), ("down_proj", H, 2048)):
                fp8_weight(w, q + f"{n}.weight", rows, cols)
    return c


# The releases' num_hidden_layers: the default of --layers.
FULL_LAYERS = {"gpt_oss_120b": 36, "deepseek_v3": 61}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shape", choices=sorted(FULL_LAYERS))
    ap.add_argument("dir")
    ap.add_argument("--layers", type=int, help="decoder layers (default: the release's, 36 or 61)")
    ap.add_argument("--spill-dir", help="write the shards past --spill-after-gb here, symlinked into DIR")
    ap.add_argument("--spill-after-gb", type=float, default=0.0, help="GB of shards written to DIR before spilling")
    a = ap.parse_args()
    layers = a.layers if a.layers is not None else FULL_LAYERS[a.shape]
    os.makedirs(a.dir, exist_ok=True)
    if a.spill_dir:
        os.makedirs(a.spill_dir, exist_ok=True)
    torch.manual_seed(0)
    w = ShardWriter(a.dir, a.spill_dir, int(a.spill_after_gb * 1e9))
    c = (gpt_oss_120b if a.shape == "gpt_oss_120b" else deepseek_v3)(w, layers)
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(c, f, indent=1)
    w.close()
    shards = [os.path.join(a.dir, f) for f in os.listdir(a.dir) if f.endswith(".safetensors")]
    total = sum(os.path.getsize(f) for f in shards)  # getsize follows the links
    spilled = sum(os.path.getsize(f) for f in shards if os.path.islink(f))
    where = f" ({spilled / 1e9:.1f} GB of them in {a.spill_dir})" if a.spill_dir else ""
    print(f"{a.dir}: {a.shape} x {layers} layers, {total / 1e9:.1f} GB in {w.n} shards{where}")


if __name__ == "__main__":
    main()
