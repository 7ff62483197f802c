// GLM-4.5 / GLM-4.6 (zai-org/GLM-4.5, GLM-4.5-Air): grouped-query attention whose RoPE turns only the
// first partial_rotary_factor of each head (the rest passes through), optional per-head RMSNorm on q
// and k (use_qk_norm), q/k/v biases (attention_bias; o_proj never); the first first_k_dense_replace
// layers dense, then MoE layers routed as DeepSeek-V3 routes (sigmoid scores, e_score_correction_bias
// for selection only, n_group / topk_group, norm_topk_prob, routed_scaling_factor) plus ungated
// shared experts. Checkpoint layers past num_hidden_layers are its multi-token-prediction layers.
// Reference: transformers' modeling_glm4_moe.py (v5.17). Forward pass: gqa_moe.cpp.
#include <fmt/format.h>

#include "config_fields.hpp"

namespace moesim::model {

namespace {

// Glm4MoeConfig's partial_rotary_factor: in rope_parameters (transformers 5) or at the top level.
double partial_rotary_factor(const ConfigFields& f) {
  constexpr double kGlmDefault = 0.5;
  const json& j = f.raw();
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    const ConfigFields rope = f.nested(j["rope_parameters"]);
    if (j["rope_parameters"].contains("partial_rotary_factor"))
      return rope.get<double>("partial_rotary_factor", kGlmDefault);
  }
  return f.get<double>("partial_rotary_factor", kGlmDefault);
}

}  // namespace

void parse_glm4_moe_config(const ConfigFields& f, ModelConfig& c) {
  parse_common(f, c, 1e-5, 10000.0);
  const double factor = partial_rotary_factor(f);
  // transformers: dim = int(head_dim * partial_rotary_factor), RoPE'd in the halves layout.
  c.rotary_dim = static_cast<int>(c.head_dim * factor);
  if (!(factor > 0 && factor <= 1) || c.rotary_dim < 2 || c.rotary_dim % 2 != 0)
    f.fail(fmt::format("partial_rotary_factor = {} gives {} rotary dimensions of head_dim = {} (need an even "
                       "number ≥ 2)", factor, c.rotary_dim, c.head_dim));
  c.intermediate_size = f.positive("intermediate_size");
  c.moe_intermediate_size = f.positive("moe_intermediate_size");
  parse_topk(f, c, {"n_routed_experts", "num_local_experts", "num_experts"});
  c.n_shared_experts = f.non_negative("n_shared_experts", 1, ConfigFields::kMaxLayers);
  parse_sigmoid_group_limited(f, c);
  c.qkv_bias = f.get<bool>("attention_bias", false);  // Glm4MoeAttention: q, k, v biased, o_proj never
  if (f.get<bool>("use_qk_norm", false)) c.qk_norm = QkNorm::kPerHead;
  const int first_dense = f.non_negative("first_k_dense_replace", 1, ConfigFields::kMaxLayers);
  c.moe_layer.assign(c.num_layers, false);
  for (int i = first_dense; i < c.num_layers; ++i) c.moe_layer[i] = true;
}

}  // namespace moesim::model
