// gpt-oss (openai/gpt-oss-20b, gpt-oss-120b), as transformers' modeling_gpt_oss.py runs it (v5.17):
//   attention   q/k/v/o biased; a learned logit per head ("sinks") joins every softmax and is
//               dropped after it; layers alternate sliding-window and full attention (layer_types)
//   RoPE        YaRN (rope_parameters, truncate false on the hub)
//   router      logits = x · Wᵀ + b; the top-k logits, softmax over those k only
//   experts     fused: gate_up_proj (E, H, 2I) with gate and up INTERLEAVED along the last axis
//               (gate = [..., 0::2], up = [..., 1::2]) plus gate_up_proj_bias (E, 2I); down_proj
//               (E, I, H) plus down_proj_bias (E, H); the clamped SwiGLU
//                 gate = min(gate, limit), up = clamp(up, ±limit), out = (up + 1) · gate · σ(α · gate)
//               with α = 1.702 and limit = 7.0
// Forward pass: gqa_moe.cpp.
#include <fmt/format.h>

#include "config_fields.hpp"

namespace moesim::model {

namespace {
// GptOssExperts hard-codes both; the MXFP4 kernels read config.swiglu_limit, the eager path does not.
constexpr double kSwigluAlpha = 1.702;
constexpr double kSwigluLimit = 7.0;
}  // namespace

void parse_gpt_oss_config(const ConfigFields& f, ModelConfig& c) {
  // GptOssConfig's default rope is YaRN (factor 32 over 4096 positions); every config.json on the hub
  // spells it out, and one without it would silently read as unscaled RoPE here.
  if (!f.raw().contains("rope_parameters") && !f.raw().contains("rope_scaling"))
    f.fail("missing field 'rope_parameters' (gpt-oss's default YaRN scaling is not assumed)");
  parse_common(f, c, 1e-5, 150000.0);
  c.intermediate_size = c.moe_intermediate_size = f.positive("intermediate_size");
  parse_topk(f, c, {"num_local_experts", "num_experts"});
  c.router = Router::kTopKSoftmax;
  c.router_bias = true;
  c.norm_topk_prob = true;  // the k gates are a softmax: they sum to 1
  c.moe_layer.assign(c.num_layers, true);
  c.qkv_bias = c.o_bias = true;  // GptOssConfig sets attention_bias = True whatever config.json says
  c.attention_sinks = true;
  c.expert_activation = ExpertActivation::kClampedSwiGlu;
  c.swiglu_alpha = kSwigluAlpha;
  c.swiglu_limit = f.get<double>("swiglu_limit", kSwigluLimit);
  if (c.swiglu_limit != kSwigluLimit)
    f.fail(fmt::format("swiglu_limit = {} is not supported (transformers' GptOssExperts clamps at {} whatever the "
                       "config says)", c.swiglu_limit, kSwigluLimit));
  parse_layer_types(f, c);
}

}  // namespace moesim::model
