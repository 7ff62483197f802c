// DeepSeek-V3's config.json (deepseek-ai/DeepSeek-V3 and its kind): sigmoid-routed experts in
// n_group groups of which topk_group are searched, the first first_k_dense_replace layers dense,
// multi-head latent attention's ranks and head widths (shared with DeepSeek-V2: parse_mla).
// Forward pass: deepseek_v3.cpp.
#include <fmt/format.h>

#include "config_fields.hpp"

namespace moesim::model {

void parse_mla(const ConfigFields& f, ModelConfig& c) {
  parse_common(f, c, 1e-6, 10000.0);
  c.intermediate_size = f.positive("intermediate_size");
  c.moe_intermediate_size = f.positive("moe_intermediate_size");
  parse_topk(f, c, {"n_routed_experts", "num_local_experts"});
  c.n_shared_experts = f.non_negative("n_shared_experts", 0, ConfigFields::kMaxLayers);
  c.routed_scaling_factor = f.get<double>("routed_scaling_factor", 1.0);
  c.q_lora_rank = f.non_negative("q_lora_rank", 0);
  c.kv_lora_rank = f.positive("kv_lora_rank");
  c.qk_nope_head_dim = f.positive("qk_nope_head_dim");
  c.qk_rope_head_dim = f.positive("qk_rope_head_dim");
  c.v_head_dim = f.positive("v_head_dim");
  // q_a_proj, kv_a_proj_with_mqa and o_proj carry attention_bias (q_proj, q_b, kv_b never).
  c.qkv_bias = c.o_bias = f.get<bool>("attention_bias", false);
  int first_dense = f.non_negative("first_k_dense_replace", 0, ConfigFields::kMaxLayers);
  c.moe_layer.assign(c.num_layers, false);
  for (int i = first_dense; i < c.num_layers; ++i) c.moe_layer[i] = true;
}

void parse_sigmoid_group_limited(const ConfigFields& f, ModelConfig& c) {
  c.router = Router::kSigmoidGroupLimited;
  c.norm_topk_prob = f.get<bool>("norm_topk_prob", true);
  c.routed_scaling_factor = f.get<double>("routed_scaling_factor", 1.0);
  c.n_group = f.get<int>("n_group", 1);
  c.topk_group = f.get<int>("topk_group", 1);
  if (c.n_group <= 0 || c.num_experts % c.n_group != 0)
    f.fail(fmt::format("n_group = {} must divide n_routed_experts = {}", c.n_group, c.num_experts));
  if (c.topk_group <= 0 || c.topk_group > c.n_group)
    f.fail(fmt::format("topk_group = {} must be in 1..n_group = {}", c.topk_group, c.n_group));
  if (c.num_experts / c.n_group < 2) f.fail("each expert group needs at least 2 experts (groups are scored by their top 2)");
}

void parse_deepseek_v3_config(const ConfigFields& f, ModelConfig& c) {
  parse_mla(f, c);
  parse_sigmoid_group_limited(f, c);
  c.rope_interleave = f.get<bool>("rope_interleave", true);
  c.mla_softmax_mscale = true;  // DeepseekV3Attention.scaling: × mscale² under scaled RoPE
}

}  // namespace moesim::model
