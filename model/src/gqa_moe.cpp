// The forward pass shared by six architectures: decoder-only transformers with grouped-query
// attention and routed experts. Each architecture's file (mixtral.cpp, qwen3_moe.cpp, olmoe.cpp,
// qwen2_moe.cpp, gpt_oss.cpp, phimoe.cpp) reads its config.json into the switches of ModelConfig
// this graph follows; they differ only in these switches and in tensor names:
//
//   model_type  q/k norm                    router                 extras
//   mixtral     none                        softmax, renormalised  experts named w1 (gate) w3 (up) w2 (down)
//   qwen3_moe   RMSNorm per head (head_dim) softmax, norm_topk_prob dense layers (mlp_only_layers)
//   olmoe       RMSNorm over whole q and k  softmax, norm_topk_prob clip_qkv
//   qwen2_moe   none                        softmax, norm_topk_prob q/k/v biases, sigmoid-gated shared expert
//   gpt_oss     none                        biased, top-k softmax  attention sinks, fused biased experts with
//                                                                  the clamped SwiGLU (load_fused_experts)
//   phimoe      none                        sparsemixer (top-2)    LayerNorms with bias, LM-head bias, longrope
// Any of them may slide a window over some layers (ModelConfig::sliding_layer).
//
// Reference: transformers' modeling_{mixtral,qwen3_moe,olmoe,qwen2_moe,gpt_oss,phimoe}.py (v5.17);
// the parity fixtures in tests/fixtures/ pin the numbers.
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
  layers::ExpertWeights experts;           // (E, I, H) ×2, (E, H, I)
  layers::FusedExpertWeights fused;        // gpt-oss instead of `experts`
  layers::MlpWeights shared;               // Qwen2-MoE only
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
    at::Tensor positions = layers::positions_from_mask(valid);                   // (B, S)
    in.rope = layers::rope_tables(positions, c_.head_dim, c_.rope_theta, c_.rope_scaling, in.x.scalar_type());
    in.bias = layers::attention_bias(valid, in.x.scalar_type());                 // (B, 1, S, S)
    if (c_.sliding_window > 0) in.sliding_bias = layers::attention_bias(valid, in.x.scalar_type(), c_.sliding_window);
    int moe_index = 0;
    for (int l = 0; l < c_.num_layers; ++l) {
      const LayerWeights& w = layers_[l];
      if (in.x.device() != placement_.layer[l]) in.move_to(placement_.layer[l]);  // next block's device
      at::Tensor& x = in.x;                                                      // (B, S, H)
      const at::Tensor& mask = w.sliding ? in.sliding_bias : in.bias;            // (B, 1, S, S)
      x = x + attention(norm(x, w.input_norm, w.input_norm_bias), w.attention, in.rope, mask);
      at::Tensor h = norm(x, w.post_attention_norm, w.post_attention_norm_bias);  // (B, S, H)
      x = x + (w.is_moe ? moe(h, w.moe, moe_index++, l, on_routing) : layers::swiglu(h, w.dense));
    }
    if (!want_logits) return {};
    at::Tensor x = norm(in.x, ends_.final_norm, ends_.final_norm_bias);         // (B, S, H)
    return layers::linear(x, ends_.lm_head, ends_.lm_head_bias).to(at::kFloat);  // (B, S, V)
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

 private:
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
    q = layers::apply_rope(q.transpose(1, 2), rope);                            // (B, h, S, d)
    k = layers::apply_rope(k.transpose(1, 2), rope);                            // (B, g, S, d)
    v = v.view({B, S, c_.num_kv_heads, c_.head_dim}).transpose(1, 2);           // (B, g, S, d)
    at::Tensor out = layers::attention(q, k, v, bias, 1.0 / std::sqrt(static_cast<double>(c_.head_dim)),
                                       w.sinks);                                 // (B, S, h·d)
    return layers::linear(out, w.o, w.o_bias);                                  // (B, S, H)
  }

  at::Tensor moe(const at::Tensor& x, const MoeWeights& w, int moe_index, int layer,
                 const RoutingCallback& on_routing) const {
    at::Tensor flat = x.reshape({-1, c_.hidden_size});                          // (T, H)
    at::Tensor logits = layers::linear(flat, w.router, w.router_bias);          // (T, E)
    layers::Routing routing = natural_routing(logits);                          // (T, k)
    // Under a strategy the gates follow the view's rule: the chosen experts' softmax probabilities,
    // renormalised where the family renormalises. That is gpt-oss's top-k softmax exactly; for
    // sparsemixer (whose masked softmax depends on which expert came first) it is an approximation.
    const bool renormalize = c_.router == Router::kSoftmaxTopK ? c_.norm_topk_prob : true;
    routing = route({routing.router_probs, {}, false, c_.top_k, renormalize, 1.0, &routing}, moe_index, layer,
                    x.size(1), on_routing);
    at::Tensor out = c_.expert_activation == ExpertActivation::kClampedSwiGlu
                         ? layers::clamped_swiglu_experts(flat, routing, w.fused, c_.swiglu_alpha, c_.swiglu_limit)
                         : layers::moe_experts(flat, routing, w.experts);       // (T, H)
    if (w.shared_gate.defined())
      out = out + at::sigmoid(layers::linear(flat, w.shared_gate)) * layers::swiglu(flat, w.shared);
    return out.view(x.sizes());                                                 // (B, S, H)
  }

  layers::Routing natural_routing(const at::Tensor& logits) const {
    switch (c_.router) {
      case Router::kTopKSoftmax: return layers::topk_softmax(logits, c_.top_k);
      case Router::kSparseMixer: return layers::sparsemixer(logits, c_.router_jitter_noise);
      default: return layers::softmax_topk(logits, c_.top_k, c_.norm_topk_prob);
    }
  }

  // gpt-oss's experts under <prefix> ("model.layers.N.mlp.experts"), as transformers holds them:
  // gate_up_proj (E, H, 2I) gate/up interleaved, down_proj (E, I, H), and their biases. The one
  // place these tensors are read (MXFP4 checkpoints dequantize into the same shapes here).
  layers::FusedExpertWeights load_fused_experts(WeightLoader& w, const std::string& prefix) const {
    const int E = c_.num_experts, H = c_.hidden_size, I = c_.moe_intermediate_size;
    return {w.get(prefix + ".gate_up_proj", {E, H, 2 * I}), w.get(prefix + ".gate_up_proj_bias", {E, 2 * I}),
            w.get(prefix + ".down_proj", {E, I, H}), w.get(prefix + ".down_proj_bias", {E, H})};
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
      a.q = w.get(p + "self_attn.q_proj.weight", {h * d, H});
      a.k = w.get(p + "self_attn.k_proj.weight", {g * d, H});
      a.v = w.get(p + "self_attn.v_proj.weight", {g * d, H});
      a.o = w.get(p + "self_attn.o_proj.weight", {H, h * d});
      if (c_.qkv_bias) {
        a.q_bias = w.get(p + "self_attn.q_proj.bias", {h * d});
        a.k_bias = w.get(p + "self_attn.k_proj.bias", {g * d});
        a.v_bias = w.get(p + "self_attn.v_proj.bias", {g * d});
      }
      if (c_.o_bias) a.o_bias = w.get(p + "self_attn.o_proj.bias", {H});
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
        // Mixtral checkpoints on the hub name the block block_sparse_moe and its experts w1/w3/w2.
        const bool mixtral_names = w.has(p + "block_sparse_moe.gate.weight");
        const std::string m = p + (mixtral_names ? "block_sparse_moe" : "mlp");
        L.moe_prefix = m;
        L.moe.router = w.get(m + ".gate.weight", {c_.num_experts, H});
        L.moe.experts = mixtral_names
                            ? w.experts(m + ".experts", c_.num_experts, H, c_.moe_intermediate_size, "w1", "w3", "w2")
                            : w.experts(m + ".experts", c_.num_experts, H, c_.moe_intermediate_size, "gate_proj",
                                        "up_proj", "down_proj");
        if (c_.shared_expert_intermediate_size > 0) {
          L.moe.shared = w.mlp(m + ".shared_expert", H, c_.shared_expert_intermediate_size);
          L.moe.shared_gate = w.get(m + ".shared_expert_gate.weight", {1, H});
        }
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

std::unique_ptr<Network> build_gqa_moe(const ModelConfig& config, const Placement& placement,
                                          WeightLoader& weights) {
  return std::make_unique<GqaMoe>(config, placement, weights);
}

}  // namespace moesim::model
