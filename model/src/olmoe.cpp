// OLMoE (allenai/OLMoE-1B-7B-0924): RMSNorm over the whole query and key projections (sizes
// heads·head_dim and kv_heads·head_dim, before the split into heads), top-k weights not
// renormalised (norm_topk_prob default false), optional clip_qkv. Forward pass: gqa_moe.cpp.
#include "config_fields.hpp"

namespace moesim::model {

void parse_olmoe_config(const ConfigFields& f, ModelConfig& c) {
  parse_common(f, c, 1e-5, 10000.0);
  c.intermediate_size = c.moe_intermediate_size = f.positive("intermediate_size");
  parse_topk(f, c, {"num_experts", "num_local_experts"});
  c.norm_topk_prob = f.get<bool>("norm_topk_prob", false);
  c.qk_norm = QkNorm::kWhole;
  c.qkv_bias = c.o_bias = f.get<bool>("attention_bias", false);  // OlmoeAttention: all four projections
  c.clip_qkv = f.get<double>("clip_qkv", 0.0);
  c.moe_layer.assign(c.num_layers, true);
}

}  // namespace moesim::model
