// Granite MoE (ibm-granite/granite-3.0-1b-a400m, granite-3.1-3b-a800m, PowerMoE-3b): a Mixtral-like
// graph with muP multipliers: embeddings × embedding_multiplier, every attention and MoE output ×
// residual_multiplier before its residual add, attention_multiplier as the softmax scale (in place of
// 1/sqrt(head_dim)), logits ÷ logits_scaling. The router (block_sparse_moe.router.layer) takes the
// top-k logits and softmaxes over those k, the same as renormalising the chosen softmax scores; the
// experts are stored fused, input_linear (E, 2I, H) and output_linear (E, H, I). head_dim is always
// hidden_size / num_attention_heads. Reference: transformers' modeling_granitemoe.py (v5.17).
// Forward pass: gqa_moe.cpp.
#include <fmt/format.h>

#include "config_fields.hpp"

namespace moesim::model {

void parse_granitemoe_config(const ConfigFields& f, ModelConfig& c) {
  parse_common(f, c, 1e-6, 10000.0);
  if (c.hidden_size % c.num_heads != 0)
    f.fail(fmt::format("hidden_size = {} must be divisible by num_attention_heads = {}", c.hidden_size, c.num_heads));
  c.head_dim = c.hidden_size / c.num_heads;  // GraniteMoeAttention ignores any head_dim field
  const std::string position = f.get<std::string>("position_embedding_type", "rope");
  if (position != "rope") f.fail(fmt::format("position_embedding_type '{}' is not supported (only 'rope')", position));
  c.intermediate_size = c.moe_intermediate_size = f.positive("intermediate_size");
  parse_topk(f, c, {"num_local_experts", "num_experts"});
  c.norm_topk_prob = true;  // softmax over the k chosen logits
  c.moe_layer.assign(c.num_layers, true);
  c.qkv_bias = c.o_bias = f.get<bool>("attention_bias", false);
  auto positive_number = [&](const char* key) {
    const double v = f.get<double>(key, 1.0);
    if (!(v > 0)) f.fail(fmt::format("field '{}' = {} must be positive", key, v));
    return v;
  };
  c.embedding_multiplier = positive_number("embedding_multiplier");
  c.residual_multiplier = positive_number("residual_multiplier");
  c.attention_scale = positive_number("attention_multiplier");
  c.logits_scaling = positive_number("logits_scaling");
}

}  // namespace moesim::model
