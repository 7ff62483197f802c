// DeepSeek-V3 and V2: multi-head latent attention (MLA), the first layers dense, then MoE layers whose
// router scores experts with a sigmoid, picks among the best expert groups using
// e_score_correction_bias for selection only, and scales the gates by routed_scaling_factor;
// shared experts see every token. DeepSeek-V2 (deepseek_v2.cpp) differs only in its router (softmax,
// greedy or group-limited by the best expert, no correction bias) and softmax scale (no mscale²).
//
// MLA per layer (shapes for one token):
//   q  = q_b(norm(q_a(x)))  or  q_proj(x)        (h, nope + rope)   nope part unrotated, rope part RoPE'd
//   kv = kv_a(x) = [c (kv_lora_rank), k_rope (rope)]   c → norm → kv_b → (h, nope + v): k_nope, value
//   k  = [k_nope, k_rope shared by all heads]
// Reference: transformers' modeling_deepseek_v3.py (v5.17); fixtures deepseek_v3 (q low-rank,
// interleaved RoPE) and deepseek_v3_plain (q_proj, non-interleaved RoPE, 2 shared experts).
#include <fmt/format.h>

#include <cmath>

#include "config_fields.hpp"
#include "network.hpp"

namespace moesim::model {
namespace {

struct MlaWeights {
  at::Tensor q_proj;                      // (h·(nope+rope), H) when q_lora_rank = 0
  at::Tensor q_a, q_a_norm, q_b;          // (r_q, H), (r_q), (h·(nope+rope), r_q) otherwise
  at::Tensor q_a_bias;                    // attention_bias checkpoints only
  at::Tensor kv_a, kv_a_bias, kv_a_norm;  // (r_kv + rope, H), (r_kv)
  at::Tensor kv_b;                        // (h·(nope+v), r_kv)
  at::Tensor o, o_bias;                   // (H, h·v)
};

struct LayerWeights {
  at::Tensor input_norm, post_attention_norm;  // (H)
  MlaWeights attention;
  bool is_moe = false;
  at::Tensor router, score_bias;               // (E, H), (E)
  layers::ExpertWeights experts;
  layers::MlpWeights shared;                   // n_shared_experts × moe_intermediate_size wide
  layers::MlpWeights dense;                    // dense layers: intermediate_size wide
};

class DeepseekV3 final : public Network {
 public:
  DeepseekV3(const ModelConfig& c, const Placement& placement, WeightLoader& w) : c_(c), placement_(placement) {
    load(w);
  }

  at::Tensor forward_pass(const at::Tensor& ids, const at::Tensor& valid, const RoutingCallback& on_routing,
                          bool want_logits) const override {
    LayerInputs in;
    in.x = at::embedding(ends_.embed, ids);                                      // (B, S, H)
    at::Tensor positions = layers::positions_from_mask(valid);                   // (B, S)
    in.rope = layers::rope_tables(positions, c_.qk_rope_head_dim, c_.rope_theta, c_.rope_scaling, in.x.scalar_type());
    in.bias = layers::attention_bias(valid, in.x.scalar_type());                 // (B, 1, S, S)
    int moe_index = 0;
    for (int l = 0; l < c_.num_layers; ++l) {
      const LayerWeights& w = layers_[l];
      if (in.x.device() != placement_.layer[l]) in.move_to(placement_.layer[l]);  // next block's device
      at::Tensor& x = in.x;                                                      // (B, S, H)
      x = x + attention(layers::rms_norm(x, w.input_norm, c_.rms_norm_eps), w.attention, in.rope, in.bias);
      at::Tensor h = layers::rms_norm(x, w.post_attention_norm, c_.rms_norm_eps);  // (B, S, H)
      x = x + (w.is_moe ? moe(h, w, moe_index++, l, on_routing) : layers::swiglu(h, w.dense));
    }
    if (!want_logits) return {};
    at::Tensor x = layers::rms_norm(in.x, ends_.final_norm, c_.rms_norm_eps);   // (B, S, H)
    return layers::linear(x, ends_.lm_head).to(at::kFloat);                     // (B, S, V)
  }

  std::int64_t routed_expert_bytes() const override {
    std::int64_t bytes = 0;
    for (const LayerWeights& L : layers_) bytes += L.experts.bytes();
    return bytes;
  }

 private:
  at::Tensor attention(const at::Tensor& x, const MlaWeights& w, const layers::RopeTables& rope,
                       const at::Tensor& bias) const {
    const int64_t B = x.size(0), S = x.size(1), h = c_.num_heads;
    const int64_t nope = c_.qk_nope_head_dim, rot = c_.qk_rope_head_dim, dv = c_.v_head_dim;
    at::Tensor q = c_.q_lora_rank > 0
                       ? layers::linear(layers::rms_norm(layers::linear(x, w.q_a, w.q_a_bias), w.q_a_norm, c_.rms_norm_eps), w.q_b)
                       : layers::linear(x, w.q_proj);                             // (B, S, h·(nope+rot))
    q = q.view({B, S, h, nope + rot}).transpose(1, 2);                            // (B, h, S, nope+rot)
    at::Tensor q_pass = q.narrow(-1, 0, nope), q_rot = q.narrow(-1, nope, rot);

    at::Tensor kv = layers::linear(x, w.kv_a, w.kv_a_bias);                       // (B, S, r_kv + rot)
    at::Tensor latent = layers::rms_norm(kv.narrow(-1, 0, c_.kv_lora_rank), w.kv_a_norm, c_.rms_norm_eps);  // (B, S, r_kv)
    at::Tensor k_rot = kv.narrow(-1, c_.kv_lora_rank, rot).view({B, 1, S, rot});  // (B, 1, S, rot)
    at::Tensor kv_heads = layers::linear(latent, w.kv_b).view({B, S, h, nope + dv}).transpose(1, 2);  // (B, h, S, nope+dv)
    at::Tensor k_pass = kv_heads.narrow(-1, 0, nope);                             // (B, h, S, nope)
    at::Tensor value = kv_heads.narrow(-1, nope, dv);                             // (B, h, S, dv)

    if (c_.rope_interleave) {  // checkpoint rows pair (x0, x1), (x2, x3)...: reorder to halves first
      q_rot = layers::deinterleave(q_rot);
      k_rot = layers::deinterleave(k_rot);
    }
    q_rot = layers::apply_rope(q_rot, rope);                                      // (B, h, S, rot)
    k_rot = layers::apply_rope(k_rot, rope).expand({B, h, S, rot});               // (B, h, S, rot)
    at::Tensor query = at::cat({q_pass, q_rot}, -1);                              // (B, h, S, nope+rot)
    at::Tensor key = at::cat({k_pass, k_rot}, -1);                                // (B, h, S, nope+rot)
    at::Tensor out = layers::attention(query, key, value, bias, softmax_scale());  // (B, S, h·dv)
    return layers::linear(out, w.o, w.o_bias);                                    // (B, S, H)
  }

  // 1/sqrt(qk head dim), and with scaled RoPE and mscale_all_dim set, × yarn_mscale(factor, mscale_all_dim)²
  // (DeepseekV3Attention.scaling): YaRN's temperature applied to the whole q·k, not only its rope part.
  double softmax_scale() const {
    double scale = 1.0 / std::sqrt(static_cast<double>(c_.qk_nope_head_dim + c_.qk_rope_head_dim));
    const RopeScaling& s = c_.rope_scaling;
    if (c_.mla_softmax_mscale && s.type != RopeType::kDefault && s.mscale_all_dim != 0) {
      const double m = yarn_mscale(s.factor, s.mscale_all_dim);
      scale *= m * m;
    }
    return scale;
  }

  at::Tensor moe(const at::Tensor& x, const LayerWeights& w, int moe_index, int layer,
                 const RoutingCallback& on_routing) const {
    at::Tensor flat = x.reshape({-1, c_.hidden_size});                           // (T, H)
    at::Tensor logits = at::linear(flat.to(at::kFloat), w.router.to(at::kFloat)); // (T, E) routing in float32
    layers::GroupLimitedOptions options{c_.top_k, c_.n_group, c_.topk_group, c_.norm_topk_prob, c_.routed_scaling_factor};
    const bool sigmoid = c_.router == Router::kSigmoidGroupLimited;             // V3; V2 routes by softmax
    layers::Routing routing = sigmoid ? layers::sigmoid_group_limited(logits, w.score_bias, options)
                                      : layers::softmax_group_limited(logits, options);  // (T, k)
    routing = route({routing.router_probs, sigmoid ? w.score_bias.to(at::kFloat) : at::Tensor(), sigmoid, c_.top_k,
                     c_.norm_topk_prob, c_.routed_scaling_factor, &routing}, moe_index, layer, on_routing);
    at::Tensor out = layers::moe_experts(flat, routing, w.experts);               // (T, H)
    if (c_.n_shared_experts > 0) out = out + layers::swiglu(flat, w.shared);
    return out.view(x.sizes());                                                   // (B, S, H)
  }

  void load(WeightLoader& w) {
    const int H = c_.hidden_size, h = c_.num_heads;
    const int qk = c_.qk_nope_head_dim + c_.qk_rope_head_dim;
    ends_ = EmbeddingAndHead::load(w, c_, placement_);
    for (int l = 0; l < c_.num_layers; ++l) {
      w.set_device(placement_.layer[l]);
      const std::string p = fmt::format("model.layers.{}.", l);
      LayerWeights L;
      L.input_norm = w.get(p + "input_layernorm.weight", {H});
      L.post_attention_norm = w.get(p + "post_attention_layernorm.weight", {H});
      MlaWeights& a = L.attention;
      if (c_.q_lora_rank > 0) {
        a.q_a = w.get(p + "self_attn.q_a_proj.weight", {c_.q_lora_rank, H});
        if (c_.qkv_bias) a.q_a_bias = w.get(p + "self_attn.q_a_proj.bias", {c_.q_lora_rank});
        a.q_a_norm = w.get(p + "self_attn.q_a_layernorm.weight", {c_.q_lora_rank});
        a.q_b = w.get(p + "self_attn.q_b_proj.weight", {h * qk, c_.q_lora_rank});
      } else {
        a.q_proj = w.get(p + "self_attn.q_proj.weight", {h * qk, H});
      }
      a.kv_a = w.get(p + "self_attn.kv_a_proj_with_mqa.weight", {c_.kv_lora_rank + c_.qk_rope_head_dim, H});
      if (c_.qkv_bias) a.kv_a_bias = w.get(p + "self_attn.kv_a_proj_with_mqa.bias", {c_.kv_lora_rank + c_.qk_rope_head_dim});
      a.kv_a_norm = w.get(p + "self_attn.kv_a_layernorm.weight", {c_.kv_lora_rank});
      a.kv_b = w.get(p + "self_attn.kv_b_proj.weight", {h * (c_.qk_nope_head_dim + c_.v_head_dim), c_.kv_lora_rank});
      a.o = w.get(p + "self_attn.o_proj.weight", {H, h * c_.v_head_dim});
      if (c_.o_bias) a.o_bias = w.get(p + "self_attn.o_proj.bias", {H});
      L.is_moe = c_.moe_layer[l];
      if (L.is_moe) {
        L.router = w.get(p + "mlp.gate.weight", {c_.num_experts, H});
        // Kept in float32 as transformers does (_keep_in_fp32_modules_strict): in bfloat16 the small
        // bias differences that decide close selections would round away. DeepSeek-V2 has none.
        if (c_.router == Router::kSigmoidGroupLimited)
          L.score_bias = w.get_float32(p + "mlp.gate.e_score_correction_bias", {c_.num_experts});
        L.experts = w.experts(p + "mlp.experts", c_.num_experts, H, c_.moe_intermediate_size, "gate_proj", "up_proj",
                              "down_proj");
        if (c_.n_shared_experts > 0)
          L.shared = w.mlp(p + "mlp.shared_experts", H, c_.moe_intermediate_size * c_.n_shared_experts);
      } else {
        L.dense = w.mlp(p + "mlp", H, c_.intermediate_size);
      }
      layers_.push_back(std::move(L));
    }
  }

  ModelConfig c_;
  Placement placement_;
  EmbeddingAndHead ends_;
  std::vector<LayerWeights> layers_;
};

}  // namespace

std::unique_ptr<Network> build_deepseek_v3(const ModelConfig& config, const Placement& placement,
                                          WeightLoader& weights) {
  return std::make_unique<DeepseekV3>(config, placement, weights);
}

}  // namespace moesim::model
