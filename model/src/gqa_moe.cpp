// The forward pass shared by the architectures that are decoder-only transformers with grouped-query
// attention and routed experts. Each architecture's file (mixtral.cpp, qwen3_moe.cpp, olmoe.cpp,
// qwen2_moe.cpp, glm4_moe.cpp, ernie4_5_moe.cpp, granitemoe.cpp, gpt_oss.cpp, phimoe.cpp) reads its
// config.json into the switches of ModelConfig this graph follows; they differ only in these
// switches and in tensor names:
//
//   model_type    q/k norm                    router                               extras
//   mixtral       none                        softmax top-k, renormalised          experts named w1 (gate) w3 (up) w2 (down)
//   qwen3_moe     RMSNorm per head (head_dim) softmax top-k, norm_topk_prob       dense layers (mlp_only_layers)
//   olmoe         RMSNorm over whole q and k  softmax top-k, norm_topk_prob (no)  clip_qkv
//   qwen2_moe     none                        softmax top-k, norm_topk_prob (no)  q/k/v biases, sigmoid-gated shared expert
//   glm4_moe      RMSNorm per head (optional) sigmoid, bias, groups, scaled       partial rotary, q/k/v biases, shared experts, dense first layers
//   ernie4_5_moe  none                        softmax, bias for selection          interleaved RoPE, biases (use_bias), shared experts, dense layers
//   granitemoe    none                        softmax top-k, renormalised          muP multipliers; experts fused as input_linear/output_linear
//   gpt_oss       none                        biased, top-k then softmax           attention sinks, fused biased experts with the
//                                                                                  clamped SwiGLU (load_fused_experts)
//   phimoe        none                        sparsemixer (top-2)                  LayerNorms with bias, LM-head bias, longrope
// Any of them may slide a window over some layers (ModelConfig::sliding_layer).
//
// Reference: transformers' modeling_{mixtral,qwen3_moe,olmoe,qwen2_moe,glm4_moe,ernie4_5_moe,
// granitemoe,gpt_oss,phimoe}.py (v5.17); the parity fixtures in tests/fixtures/ pin the numbers.
#include <fmt/format.h>

#include "network.hpp"

namespace moesim::model {
namespace {

struct AttentionWeights {
  at::Tensor q, k, v, o;                   // (h·d, H), (g·d, H), (g·d, H), (H, h·d)
  at::Tensor q_bias, k_bias, v_bias, o_bias;  // undefined when the checkpoint has none
  at::Tensor q_norm, k_norm;               // (d) per head, or (h·d)/(g·d) whole; undefined without q/k norm
  at::Tensor sinks;                        // (h) gpt-oss; undefined elsewhere
};

struct MoeWeights {
  at::Tensor router;                       // (E, H)
  at::Tensor router_bias;                  // (E) gpt-oss; undefined elsewhere
  at::Tensor score_bias;                   // (E) float32, for selection only: GLM-4.5 and ERNIE 4.5
  layers::ExpertWeights experts;           // (E, I, H) ×2, (E, H, I)
  layers::FusedExpertWeights fused;        // gpt-oss instead of `experts`
  layers::MlpWeights shared;               // Qwen2-MoE (gated), GLM-4.5, ERNIE 4.5
  at::Tensor shared_gate;                  // (1, H), Qwen2-MoE only
};

struct LayerWeights {
  at::Tensor input_norm, post_attention_norm;  // (H)
  at::Tensor input_norm_bias, post_attention_norm_bias;  // (H) LayerNorm families only
  bool sliding = false;                    // attends through the sliding window
  AttentionWeights attention;
  bool is_moe = true;
  std::string moe_prefix;                  // checkpoint name of the MoE block (training saves under it)
  MoeWeights moe;
  layers::MlpWeights dense;                // layers without experts
};

class GqaMoe final : public Network {
 public:
  GqaMoe(const ModelConfig& c, const Placement& placement, WeightLoader& w) : c_(c), placement_(placement) {
    load(w);
  }

  at::Tensor forward_pass(const at::Tensor& ids, const at::Tensor& valid, const RoutingCallback& on_routing,
                          bool want_logits) const override {
    LayerInputs in;
    in.x = at::embedding(ends_.embed, ids);                                      // (B, S, H)
    if (c_.embedding_multiplier != 1.0) in.x = in.x * c_.embedding_multiplier;   // Granite
    at::Tensor positions = layers::positions_from_mask(valid);                   // (B, S)
    const int rotary_dim = c_.rotary_dim > 0 ? c_.rotary_dim : c_.head_dim;
    in.rope = layers::rope_tables(positions, rotary_dim, c_.rope_theta, c_.rope_scaling, in.x.scalar_type());
    in.bias = layers::attention_bias(valid, in.x.scalar_type());                 // (B, 1, S, S)
    if (c_.sliding_window > 0) in.sliding_bias = layers::attention_bias(valid, in.x.scalar_type(), c_.sliding_window);
    in.causal = layers::causal_without_bias(valid);
    int moe_index = 0;
    for (int l = 0; l < c_.num_layers; ++l) {
      const LayerWeights& w = layers_[l];
      if (in.x.device() != placement_.layer[l]) in.move_to(placement_.layer[l]);  // next block's device
      at::Tensor& x = in.x;                                                      // (B, S, H)
      const at::Tensor& mask = in.bias_for(w.sliding, w.attention.sinks.defined());  // (B, 1, S, S) or none
      x = x + residual(attention(norm(x, w.input_norm, w.input_norm_bias), w.attention, in.rope, mask));
      at::Tensor h = norm(x, w.post_attention_norm, w.post_attention_norm_bias);  // (B, S, H)
      x = x + residual(w.is_moe ? moe(h, w.moe, moe_index++, l, on_routing) : layers::swiglu(h, w.dense));
    }
    if (!want_logits) return {};
    at::Tensor x = norm(in.x, ends_.final_norm, ends_.final_norm_bias);         // (B, S, H)
    at::Tensor logits = layers::linear(x, ends_.lm_head, ends_.lm_head_bias);   // (B, S, V)
    if (c_.logits_scaling != 1.0) logits = logits / c_.logits_scaling;          // Granite
    return logits.to(at::kFloat);
  }

  std::vector<std::pair<std::string, at::Tensor>> named_weights() const override {
    std::vector<std::pair<std::string, at::Tensor>> out;
    auto add = [&](const std::string& name, const at::Tensor& t) {
      if (t.defined()) out.emplace_back(name, t);
    };
    add("model.embed_tokens.weight", ends_.embed);
    add("model.norm.weight", ends_.final_norm);
    add("model.norm.bias", ends_.final_norm_bias);
    if (!c_.tie_word_embeddings) add("lm_head.weight", ends_.lm_head);
    add("lm_head.bias", ends_.lm_head_bias);
    for (int l = 0; l < c_.num_layers; ++l) {
      const LayerWeights& w = layers_[l];
      const std::string p = fmt::format("model.layers.{}.", l);
      add(p + "input_layernorm.weight", w.input_norm);
      add(p + "post_attention_layernorm.weight", w.post_attention_norm);
      const AttentionWeights& a = w.attention;
      for (auto [name, t] : {std::pair{"q", &a.q}, {"k", &a.k}, {"v", &a.v}, {"o", &a.o}}) add(p + "self_attn." + name + "_proj.weight", *t);
      for (auto [name, t] : {std::pair{"q", &a.q_bias}, {"k", &a.k_bias}, {"v", &a.v_bias}, {"o", &a.o_bias}}) add(p + "self_attn." + name + "_proj.bias", *t);
      add(p + "self_attn.q_norm.weight", a.q_norm);
      add(p + "self_attn.k_norm.weight", a.k_norm);
      if (w.is_moe) {
        add(w.moe_prefix + ".gate.weight", w.moe.router);
        add(w.moe_prefix + ".experts.gate", w.moe.experts.gate);
        add(w.moe_prefix + ".experts.up", w.moe.experts.up);
        add(w.moe_prefix + ".experts.down", w.moe.experts.down);
        add(w.moe_prefix + ".shared_expert.gate_proj.weight", w.moe.shared.gate);
        add(w.moe_prefix + ".shared_expert.up_proj.weight", w.moe.shared.up);
        add(w.moe_prefix + ".shared_expert.down_proj.weight", w.moe.shared.down);
        add(w.moe_prefix + ".shared_expert_gate.weight", w.moe.shared_gate);
      } else {
        add(p + "mlp.gate_proj.weight", w.dense.gate);
        add(p + "mlp.up_proj.weight", w.dense.up);
        add(p + "mlp.down_proj.weight", w.dense.down);
      }
    }
    return out;
  }

  std::int64_t routed_expert_bytes() const override {
    std::int64_t bytes = 0;
    for (const LayerWeights& L : layers_) bytes += L.moe.experts.bytes() + L.moe.fused.bytes();
    return bytes;
  }

 private:
  // A sublayer's output before the residual add: × residual_multiplier (Granite; 1 elsewhere).
  at::Tensor residual(const at::Tensor& out) const {
    return c_.residual_multiplier == 1.0 ? out : out * c_.residual_multiplier;
  }

  // RMSNorm, or LayerNorm where the family has one (bias defined).
  at::Tensor norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) const {
    return c_.norm == Norm::kLayerNorm ? layers::layer_norm(x, weight, bias, c_.rms_norm_eps)
                                       : layers::rms_norm(x, weight, c_.rms_norm_eps);
  }

  at::Tensor attention(const at::Tensor& x, const AttentionWeights& w, const layers::RopeTables& rope,
                       const at::Tensor& bias) const {
    int64_t B = x.size(0), S = x.size(1);
    at::Tensor q = layers::linear(x, w.q, w.q_bias);                            // (B, S, h·d)
    at::Tensor k = layers::linear(x, w.k, w.k_bias);                            // (B, S, g·d)
    at::Tensor v = layers::linear(x, w.v, w.v_bias);                            // (B, S, g·d)
    if (c_.qk_norm == QkNorm::kWhole) {
      q = layers::rms_norm(q, w.q_norm, c_.rms_norm_eps);
      k = layers::rms_norm(k, w.k_norm, c_.rms_norm_eps);
    }
    if (c_.clip_qkv > 0) {
      q = q.clamp(-c_.clip_qkv, c_.clip_qkv);
      k = k.clamp(-c_.clip_qkv, c_.clip_qkv);
      v = v.clamp(-c_.clip_qkv, c_.clip_qkv);
    }
    q = q.view({B, S, c_.num_heads, c_.head_dim});                               // (B, S, h, d)
    k = k.view({B, S, c_.num_kv_heads, c_.head_dim});                            // (B, S, g, d)
    if (c_.qk_norm == QkNorm::kPerHead) {
      q = layers::rms_norm(q, w.q_norm, c_.rms_norm_eps);
      k = layers::rms_norm(k, w.k_norm, c_.rms_norm_eps);
    }
    q = q.transpose(1, 2);                                                      // (B, h, S, d)
    k = k.transpose(1, 2);                                                      // (B, g, S, d)
    if (c_.rope_interleave) {
      // ERNIE 4.5 rotates pairs (x0,x1),(x2,x3)... (its rotate_half interleaves). The same permutation
      // of q's and k's dims to halves leaves q·k unchanged, so the halves rotation serves.
      q = layers::deinterleave(q);
      k = layers::deinterleave(k);
    }
    q = layers::apply_rope(q, rope);                                            // (B, h, S, d)
    k = layers::apply_rope(k, rope);                                            // (B, g, S, d)
    v = v.view({B, S, c_.num_kv_heads, c_.head_dim}).transpose(1, 2);           // (B, g, S, d)
    const double scale = c_.attention_scale > 0 ? c_.attention_scale : 1.0 / std::sqrt(static_cast<double>(c_.head_dim));
    at::Tensor out = layers::attention(q, k, v, bias, scale, w.sinks);           // (B, S, h·d)
    return layers::linear(out, w.o, w.o_bias);                                  // (B, S, H)
  }

  at::Tensor moe(const at::Tensor& x, const MoeWeights& w, int moe_index, int layer,
                 const RoutingCallback& on_routing) const {
    at::Tensor flat = x.reshape({-1, c_.hidden_size});                          // (T, H)
    layers::Routing routing = route_tokens(flat, w);                            // (T, k)
    const bool sigmoid = c_.router == Router::kSigmoidGroupLimited;
    const double scaling = sigmoid ? c_.routed_scaling_factor : 1.0;
    at::Tensor selection_bias = w.score_bias.defined() ? w.score_bias.to(at::kFloat) : at::Tensor();
    // Under a strategy the gates follow the view's rule: the chosen experts' scores, renormalised
    // where the family renormalises. That is gpt-oss's top-k softmax exactly; for sparsemixer (whose
    // masked softmax depends on which expert came first) it is an approximation.
    const bool renormalize =
        c_.router == Router::kTopKSoftmax || c_.router == Router::kSparseMixer ? true : c_.norm_topk_prob;
    routing = route({routing.router_probs, selection_bias, sigmoid, c_.top_k, renormalize, scaling, &routing},
                    moe_index, layer, on_routing);
    at::Tensor out = c_.expert_activation == ExpertActivation::kClampedSwiGlu
                         ? layers::clamped_swiglu_experts(flat, routing, w.fused, c_.swiglu_alpha, c_.swiglu_limit)
                         : layers::moe_experts(flat, routing, w.experts);       // (T, H)
    if (w.shared_gate.defined())
      out = out + at::sigmoid(layers::linear(flat, w.shared_gate)) * layers::swiglu(flat, w.shared);
    else if (w.shared.gate.defined())
      out = out + layers::swiglu(flat, w.shared);
    return out.view(x.sizes());                                                 // (B, S, H)
  }

  // The architecture's own top-k. GLM-4.5 and ERNIE 4.5 compute their router in float32 whatever the
  // model dtype (Glm4MoeTopkRouter, Ernie4_5_MoeTopKRouter), as the bias-steered choices are close.
  layers::Routing route_tokens(const at::Tensor& flat, const MoeWeights& w) const {
    switch (c_.router) {
      case Router::kSigmoidGroupLimited: {
        at::Tensor logits = at::linear(flat.to(at::kFloat), w.router.to(at::kFloat));  // (T, E)
        return layers::sigmoid_group_limited(
            logits, w.score_bias, {c_.top_k, c_.n_group, c_.topk_group, c_.norm_topk_prob, c_.routed_scaling_factor});
      }
      case Router::kSoftmaxBiased: {
        at::Tensor logits = at::linear(flat.to(at::kFloat), w.router.to(at::kFloat));  // (T, E)
        return layers::softmax_biased_topk(logits, w.score_bias, c_.top_k, c_.moe_norm_min);
      }
      case Router::kTopKSoftmax: return layers::topk_softmax(layers::linear(flat, w.router, w.router_bias), c_.top_k);
      case Router::kSparseMixer: return layers::sparsemixer(layers::linear(flat, w.router), c_.router_jitter_noise);
      default: return layers::softmax_topk(layers::linear(flat, w.router), c_.top_k, c_.norm_topk_prob);
    }
  }

  // gpt-oss's experts under <prefix> ("model.layers.N.mlp.experts"), as transformers holds them:
  // gate_up_proj (E, H, 2I) gate/up interleaved, down_proj (E, I, H), and their biases. The one
  // place these tensors are read (MXFP4 checkpoints dequantize into the same shapes here, or stay
  // quantized under --mxfp4 keep).
  layers::FusedExpertWeights load_fused_experts(WeightLoader& w, const std::string& prefix) const {
    const int E = c_.num_experts, H = c_.hidden_size, I = c_.moe_intermediate_size;
    return {w.expert_matrices(prefix + ".gate_up_proj", {E, H, 2 * I}), w.get(prefix + ".gate_up_proj_bias", {E, 2 * I}),
            w.expert_matrices(prefix + ".down_proj", {E, I, H}), w.get(prefix + ".down_proj_bias", {E, H})};
  }

  void load(WeightLoader& w) {
    const int H = c_.hidden_size, h = c_.num_heads, g = c_.num_kv_heads, d = c_.head_dim;
    ends_ = EmbeddingAndHead::load(w, c_, placement_);
    for (int l = 0; l < c_.num_layers; ++l) {
      w.set_device(placement_.layer[l]);
      const std::string p = fmt::format("model.layers.{}.", l);
      LayerWeights L;
      L.input_norm = w.get(p + "input_layernorm.weight", {H});
      L.post_attention_norm = w.get(p + "post_attention_layernorm.weight", {H});
      if (c_.norm == Norm::kLayerNorm) {
        L.input_norm_bias = w.get(p + "input_layernorm.bias", {H});
        L.post_attention_norm_bias = w.get(p + "post_attention_layernorm.bias", {H});
      }
      L.sliding = c_.sliding_window > 0 && c_.sliding_layer[l];
      AttentionWeights& a = L.attention;
      load_gqa_projections(w, p + "self_attn.", c_, a);
      if (c_.qk_norm == QkNorm::kPerHead) {
        a.q_norm = w.get(p + "self_attn.q_norm.weight", {d});
        a.k_norm = w.get(p + "self_attn.k_norm.weight", {d});
      } else if (c_.qk_norm == QkNorm::kWhole) {
        a.q_norm = w.get(p + "self_attn.q_norm.weight", {h * d});
        a.k_norm = w.get(p + "self_attn.k_norm.weight", {g * d});
      }
      if (c_.attention_sinks) a.sinks = w.get(p + "self_attn.sinks", {h});
      L.is_moe = c_.moe_layer[l];
      if (L.is_moe && c_.expert_activation == ExpertActivation::kClampedSwiGlu) {  // gpt-oss
        L.moe_prefix = p + "mlp";
        L.moe.router = w.get(p + "mlp.router.weight", {c_.num_experts, H});
        L.moe.router_bias = w.get(p + "mlp.router.bias", {c_.num_experts});
        L.moe.fused = load_fused_experts(w, p + "mlp.experts");
      } else if (L.is_moe) {
        load_moe(w, p, L);
      } else {
        L.dense = w.mlp(p + "mlp", H, c_.intermediate_size, c_.mlp_bias);
      }
      layers_.push_back(std::move(L));
    }
  }

  void load_moe(WeightLoader& w, const std::string& p, LayerWeights& L) const {
    const int H = c_.hidden_size, E = c_.num_experts, I = c_.moe_intermediate_size;
    // Mixtral checkpoints on the hub name the block block_sparse_moe and its experts w1/w3/w2;
    // Granite's block_sparse_moe holds router.layer and the fused input_linear (gate rows, then up
    // rows: GraniteMoeMoE chunks them in that order) and output_linear.
    const bool granite_names = w.has(p + "block_sparse_moe.router.layer.weight");
    const bool mixtral_names = w.has(p + "block_sparse_moe.gate.weight");
    const std::string m = p + (granite_names || mixtral_names ? "block_sparse_moe" : "mlp");
    L.moe_prefix = m;
    if (granite_names) {
      L.moe.router = w.get(m + ".router.layer.weight", {E, H});
      L.moe.experts = w.fused_experts(m + ".input_linear.weight", m + ".output_linear.weight", E, H, I);
    } else {
      // ERNIE 4.5 keeps its router in float32 (_keep_in_fp32_modules_strict).
      L.moe.router = c_.router == Router::kSoftmaxBiased ? w.get_float32(m + ".gate.weight", {E, H})
                                                         : w.get(m + ".gate.weight", {E, H});
      L.moe.experts = mixtral_names ? w.experts(m + ".experts", E, H, I, "w1", "w3", "w2")
                                    : w.experts(m + ".experts", E, H, I, "gate_proj", "up_proj", "down_proj");
    }
    if (c_.router == Router::kSigmoidGroupLimited) L.moe.score_bias = w.get_float32(m + ".gate.e_score_correction_bias", {E});
    if (c_.router == Router::kSoftmaxBiased) {
      // Ernie4_5_MoeStatics: one group of E, under the router in transformers 5, beside it on the hub.
      const std::string hub = m + ".moe_statics.e_score_correction_bias";
      at::Tensor bias = w.get_float32(w.has(hub) ? hub : m + ".gate.moe_statics.e_score_correction_bias", {1, E});
      if (bias.defined()) L.moe.score_bias = bias.view({E});
    }
    if (c_.shared_expert_intermediate_size > 0) {
      L.moe.shared = w.mlp(m + ".shared_expert", H, c_.shared_expert_intermediate_size);
      L.moe.shared_gate = w.get(m + ".shared_expert_gate.weight", {1, H});
    }
    if (c_.n_shared_experts > 0) L.moe.shared = w.mlp(m + ".shared_experts", H, I * c_.n_shared_experts, c_.mlp_bias);
  }

  ModelConfig c_;
  Placement placement_;
  EmbeddingAndHead ends_;
  std::vector<LayerWeights> layers_;
};

}  // namespace

std::unique_ptr<Network> build_gqa_moe(const ModelConfig& config, const Placement& placement,
                                          WeightLoader& weights) {
  return std::make_unique<GqaMoe>(config, placement, weights);
}

}  // namespace moesim::model
