// ERNIE 4.5 MoE (baidu/ERNIE-4.5-21B-A3B-PT, ERNIE-4.5-300B-A47B-PT): grouped-query attention with
// RoPE rotating interleaved pairs (x0,x1),(x2,x3)...; MoE on layers moe_layer_start_index ..
// moe_layer_end_index every moe_layer_interval-th, dense MLPs elsewhere; a float32 router whose softmax
// scores, plus e_score_correction_bias for selection only, pick moe_k experts, the gates renormalised
// by their sum clamped below at moe_norm_min; ungated shared experts; use_bias puts biases on q, k, v,
// o, the dense and shared MLPs and the LM head (transformers' routed experts have none).
// Reference: transformers' modeling_ernie4_5_moe.py (v5.17). Forward pass: gqa_moe.cpp.
#include <fmt/format.h>

#include "config_fields.hpp"

namespace moesim::model {

namespace {

// The first of `keys` present: transformers writes moe_num_experts / moe_k, and maps num_experts /
// num_experts_per_tok onto them (Ernie4_5_MoeConfig.attribute_map).
const char* first_present(const ConfigFields& f, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (f.raw().contains(k) && !f.raw()[k].is_null()) return k;
  f.fail(fmt::format("missing field '{}'", *keys.begin()));
}

// Layer i is MoE when (i + 1) % interval == 0 and start ≤ i ≤ end (Ernie4_5_MoeDecoderLayer); end −1
// means the last layer (Ernie4_5_MoeConfig).
void parse_moe_layers(const ConfigFields& f, ModelConfig& c) {
  const int start = f.get<int>("moe_layer_start_index", 1);
  int end = f.get<int>("moe_layer_end_index", -1);
  if (end == -1) end = c.num_layers - 1;
  const int interval = f.get<int>("moe_layer_interval", 1);
  if (interval <= 0) f.fail(fmt::format("moe_layer_interval = {} must be positive", interval));
  c.moe_layer.assign(c.num_layers, false);
  for (int i = 0; i < c.num_layers; ++i) c.moe_layer[i] = (i + 1) % interval == 0 && i >= start && i <= end;
}

}  // namespace

void parse_ernie4_5_moe_config(const ConfigFields& f, ModelConfig& c) {
  parse_common(f, c, 1e-5, 500000.0);
  c.tie_word_embeddings = f.get<bool>("tie_word_embeddings", true);  // Ernie4_5_MoeConfig's default
  c.intermediate_size = f.positive("intermediate_size");
  c.moe_intermediate_size = f.positive("moe_intermediate_size");
  const char* experts_key = first_present(f, {"moe_num_experts", "num_experts"});
  c.num_experts = f.positive(experts_key, 1 << 16);
  c.top_k = f.positive(first_present(f, {"moe_k", "num_experts_per_tok"}));
  if (c.top_k > c.num_experts)
    f.fail(fmt::format("moe_k = {} exceeds {} = {}", c.top_k, experts_key, c.num_experts));
  c.n_shared_experts = f.non_negative("moe_num_shared_experts", 2, ConfigFields::kMaxLayers);
  c.router = Router::kSoftmaxBiased;
  c.norm_topk_prob = true;
  c.moe_norm_min = f.get<double>("moe_norm_min", 1e-12);
  if (!(c.moe_norm_min >= 0)) f.fail(fmt::format("moe_norm_min = {} must be ≥ 0", c.moe_norm_min));
  c.rope_interleave = true;
  c.qkv_bias = c.o_bias = c.mlp_bias = c.lm_head_bias = f.get<bool>("use_bias", false);
  parse_moe_layers(f, c);
}

}  // namespace moesim::model
