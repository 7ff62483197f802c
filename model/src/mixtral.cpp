// Mixtral (mistralai/Mixtral-8x7B-v0.1 and its kind): every layer MoE, softmax over the experts,
// top-k, the k weights always renormalised to sum 1. Hub tensor names: model.layers.N.block_sparse_moe.
// {gate.weight, experts.E.w1 (gate) / w3 (up) / w2 (down).weight}. Forward pass: gqa_moe.cpp.
#include "config_fields.hpp"

namespace moesim::model {

void parse_mixtral_config(const ConfigFields& f, ModelConfig& c) {
  parse_common(f, c, 1e-5, 1e6);
  c.intermediate_size = c.moe_intermediate_size = f.positive("intermediate_size");
  parse_topk(f, c, {"num_local_experts", "num_experts"});
  c.norm_topk_prob = true;  // Mixtral always renormalises the chosen experts' weights
  c.moe_layer.assign(c.num_layers, true);
  parse_sliding_window_everywhere(f, c);  // MixtralModel: a sliding-window mask on every layer when set
}

}  // namespace moesim::model
