// Qwen2-MoE (Qwen/Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B): biases on q/k/v, no renormalisation by
// default, and a shared expert (shared_expert_intermediate_size wide) that sees every token, its
// output scaled by sigmoid(x · shared_expert_gate). Forward pass: gqa_moe.cpp.
#include "config_fields.hpp"

namespace moesim::model {

void parse_qwen2_moe_config(const ConfigFields& f, ModelConfig& c) {
  parse_common(f, c, 1e-6, 10000.0);
  c.intermediate_size = f.non_negative("intermediate_size", 0);
  c.moe_intermediate_size = f.positive("moe_intermediate_size");
  c.shared_expert_intermediate_size = f.non_negative("shared_expert_intermediate_size", 0);
  parse_topk(f, c, {"num_experts", "num_local_experts"});
  c.norm_topk_prob = f.get<bool>("norm_topk_prob", false);
  c.qkv_bias = f.get<bool>("qkv_bias", true);  // Qwen2MoeAttention: q, k, v biased, o_proj never
  parse_sparse_layers(f, c);
  parse_qwen_sliding_window(f, c, /*reads_max_window_layers=*/true);
}

}  // namespace moesim::model
