// Qwen3-MoE (Qwen/Qwen3-30B-A3B and its kind): RMSNorm on queries and keys per head (weights of
// size head_dim shared by all heads), top-k renormalised when norm_topk_prob (default true), dense
// MLP layers where mlp_only_layers / decoder_sparse_step say so. Forward pass: gqa_moe.cpp.
#include "config_fields.hpp"

namespace moesim::model {

void parse_qwen3_moe_config(const ConfigFields& f, ModelConfig& c) {
  parse_common(f, c, 1e-6, 10000.0);
  c.intermediate_size = f.non_negative("intermediate_size", 0);
  c.moe_intermediate_size = f.positive("moe_intermediate_size");
  parse_topk(f, c, {"num_experts", "num_local_experts"});
  c.norm_topk_prob = f.get<bool>("norm_topk_prob", true);
  c.qk_norm = QkNorm::kPerHead;
  c.qkv_bias = c.o_bias = f.get<bool>("attention_bias", false);  // Qwen3MoeAttention: all four projections
  parse_sparse_layers(f, c);
  parse_qwen_sliding_window(f, c, /*reads_max_window_layers=*/false);
}

}  // namespace moesim::model
