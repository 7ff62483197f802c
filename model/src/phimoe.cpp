// Phi-3.5-MoE (microsoft/Phi-3.5-MoE-instruct), as transformers' modeling_phimoe.py runs it at
// inference (v5.17):
//   norms       LayerNorm with weight and bias (eps = rms_norm_eps), before attention, before the
//               experts and at the end
//   attention   q/k/v/o biased when attention_bias; a sliding window on every layer when sliding_window
//   RoPE        longrope: short_factor while the batch's largest position + 1 ≤
//               original_max_position_embeddings, long_factor beyond, cos/sin × short_mscale or
//               long_mscale (PhimoeRotaryEmbedding; the longrope attention factor where they are absent)
//   router      sparsemixer, top-2 only (layers::sparsemixer); no jitter at inference
//   LM head     biased when lm_head_bias
// Experts are Mixtral's (block_sparse_moe.experts.E.w1 / w3 / w2). Forward pass: gqa_moe.cpp.
#include <fmt/format.h>

#include "config_fields.hpp"

namespace moesim::model {

namespace {

// PhimoeRotaryEmbedding multiplies cos/sin by short_mscale or long_mscale from the RoPE dict when
// the dict gives them (Phi-3.5-MoE's does), else by the longrope attention factor.
void parse_phimoe_mscale(const ConfigFields& f, ModelConfig& c) {
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const json& j = f.raw();
    if (!j.contains(key) || !j[key].is_object()) continue;
    const ConfigFields r = f.nested(j[key]);
    c.rope_scaling.short_mscale = r.get<double>("short_mscale", c.rope_scaling.short_mscale);
    c.rope_scaling.long_mscale = r.get<double>("long_mscale", c.rope_scaling.long_mscale);
    return;
  }
}

}  // namespace

void parse_phimoe_config(const ConfigFields& f, ModelConfig& c) {
  parse_common(f, c, 1e-5, 1e6);
  if (c.rope_scaling.type != RopeType::kDefault && c.rope_scaling.type != RopeType::kLongRope)
    f.fail("phimoe: only default and longrope RoPE are supported (PhimoeRotaryEmbedding's mscale rule for other "
           "types is not implemented)");
  if (c.rope_scaling.type == RopeType::kLongRope) parse_phimoe_mscale(f, c);
  c.norm = Norm::kLayerNorm;
  c.intermediate_size = c.moe_intermediate_size = f.positive("intermediate_size");
  parse_topk(f, c, {"num_local_experts", "num_experts"});
  if (c.top_k != 2)
    f.fail(fmt::format("num_experts_per_tok = {} is not supported (sparsemixer always picks 2 experts)", c.top_k));
  c.router = Router::kSparseMixer;
  c.router_jitter_noise = f.get<double>("router_jitter_noise", 0.01);
  if (!(c.router_jitter_noise >= 0)) f.fail("field 'router_jitter_noise' must be ≥ 0");
  c.moe_layer.assign(c.num_layers, true);
  c.qkv_bias = c.o_bias = f.get<bool>("attention_bias", false);
  c.lm_head_bias = f.get<bool>("lm_head_bias", false);
  parse_sliding_window_everywhere(f, c);
}

}  // namespace moesim::model
