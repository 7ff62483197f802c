// DeepSeek-V2 (deepseek-ai/DeepSeek-V2, DeepSeek-V2-Lite, DeepSeek-Coder-V2): the multi-head latent
// attention of DeepSeek-V3 (parse_mla; V2-Lite has no query low-rank path, q_lora_rank null) and
// softmax routing, as transformers' DeepseekV2Moe.route_tokens_to_experts runs it (v5.17):
//   scores = softmax(x · gate, float32)                               (T, E)
//   greedy:               the k best scores
//   group_limited_greedy: the topk_group groups with the best single score, the rest masked to 0,
//                         then the k best scores
//   gates = the chosen scores × routed_scaling_factor, never renormalised (norm_topk_prob is not read)
// RoPE is always the interleaved (complex-pair) layout; the softmax scale is 1/sqrt(qk head dim),
// without DeepSeek-V3's mscale² (DeepseekV2Attention.scaling). Forward pass: deepseek_v3.cpp.
#include <fmt/format.h>

#include "config_fields.hpp"

namespace moesim::model {

void parse_deepseek_v2_config(const ConfigFields& f, ModelConfig& c) {
  parse_mla(f, c);
  c.router = Router::kSoftmaxGroupLimited;
  // DeepseekV2MLP builds its gate/up/down projections with bias=mlp_bias; no checkpoint on the hub sets it.
  if (f.get<bool>("mlp_bias", false)) f.fail("mlp_bias = true is not supported (biased dense and shared-expert MLPs)");
  const std::string method = f.get<std::string>("topk_method", "greedy");
  if (method == "greedy") {
    c.n_group = c.topk_group = 1;  // one group holding every expert: plain top-k
  } else if (method == "group_limited_greedy") {
    c.n_group = f.positive("n_group");
    c.topk_group = f.positive("topk_group");
    if (c.num_experts % c.n_group != 0)
      f.fail(fmt::format("n_group = {} must divide n_routed_experts = {}", c.n_group, c.num_experts));
    if (c.topk_group > c.n_group) f.fail(fmt::format("topk_group = {} must be in 1..n_group = {}", c.topk_group, c.n_group));
  } else {
    f.fail(fmt::format("topk_method '{}' is not supported (DeepSeek-V2: greedy or group_limited_greedy)", method));
  }
  c.norm_topk_prob = false;
  c.rope_interleave = true;
  // DeepseekV2Moe adds shared_experts unconditionally: n_shared_experts null has no transformers model.
  if (c.n_shared_experts == 0) f.fail("missing field 'n_shared_experts' (DeepSeek-V2 always has shared experts)");
}

}  // namespace moesim::model
