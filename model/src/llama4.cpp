// Llama 4 (Scout, Maverick): a GQA decoder whose layers differ in three ways, each set per layer by
// config.json (llama4_config.cpp):
//   - RoPE layers rotate q and k (complex pairs (x0, x1), (x2, x3)...), L2-normalise them after
//     (use_qk_norm, an RMSNorm without weight) and attend within chunks of attention_chunk_size
//     positions; NoPE layers (no_rope_layers[i] = 0) attend to the whole causal prefix and, with
//     attn_temperature_tuning, scale q by 1 + attn_scale · ln(1 + floor((i + 1) / floor_scale)), i the
//     column in the padded batch (as transformers does; see q_temperature).
//   - MoE layers (moe_layers) route each token to the top-k experts by raw logit, gate sigmoid(logit),
//     and the gate multiplies the expert's INPUT, not its output; a shared expert (same width) sees
//     every token and adds. The other layers are dense SwiGLU MLPs (intermediate_size_mlp).
//   - Experts are stored fused: gate_up_proj (E, H, 2I) with gate columns first, down_proj (E, I, H).
// A multimodal checkpoint (model_type "llama4") holds the same text model under "language_model.";
// its vision tower and projector are not run and their tensors are ignored.
// Reference: transformers' modeling_llama4.py (v5.17) and masking_utils.py (chunked mask); fixtures
// llama4_text and llama4.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "network.hpp"

namespace moesim::model {
namespace {

struct AttentionWeights {
  at::Tensor q, k, v, o;                      // (h·d, H), (g·d, H), (g·d, H), (H, h·d)
  at::Tensor q_bias, k_bias, v_bias, o_bias;  // attention_bias checkpoints only
};

struct LayerWeights {
  at::Tensor input_norm, post_attention_norm;  // (H)
  AttentionWeights attention;
  bool is_moe = false;
  at::Tensor router;                           // (E, H)
  layers::ExpertWeights experts;               // (E, I, H) ×2, (E, H, I)
  layers::MlpWeights shared;                   // I wide, every token
  layers::MlpWeights dense;                    // intermediate_size_mlp wide, layers without experts
};

// What every layer reads besides its weights; crosses devices with the residual stream.
struct Llama4Inputs {
  LayerInputs common;        // x, RoPE tables, causal bias (B, 1, S, S)
  at::Tensor chunked_bias;   // (B, 1, S, S) causal and same chunk; undefined without chunked layers
  at::Tensor q_temperature;  // (1, 1, S, 1) float32 NoPE layers' query scale; undefined without tuning
  void move_to(at::Device device) {
    common.move_to(device);
    if (chunked_bias.defined()) chunked_bias = chunked_bias.to(device);
    if (q_temperature.defined()) q_temperature = q_temperature.to(device);
  }
};

// Llama4TextL2Norm: x / sqrt(mean(x²) + eps) over the last dimension, in float32, no weight.
at::Tensor l2_norm(const at::Tensor& x, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  return (xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps)).to(x.scalar_type());
}

// Llama4Router: top-k of the raw logits, each chosen expert's gate sigmoid(logit) (the others get
// sigmoid(−inf) = 0). router_probs are sigmoid(logits) of every expert, the scores strategies see.
layers::Routing sigmoid_topk(const at::Tensor& logits, int k) {
  at::Tensor scores = logits.to(at::kFloat).sigmoid();    // (T, E)
  auto [top_logits, ids] = logits.to(at::kFloat).topk(k, -1);  // (T, k) largest first
  return {ids, top_logits.sigmoid(), scores, logits};
}

class Llama4 final : public Network {
 public:
  Llama4(const ModelConfig& c, const Placement& placement, WeightLoader& w) : c_(c), placement_(placement) {
    load(w);
  }

  at::Tensor forward_pass(const at::Tensor& ids, const at::Tensor& valid, const RoutingCallback& on_routing,
                          bool want_logits) const override {
    Llama4Inputs in = inputs(ids, valid);
    int moe_index = 0;
    for (int l = 0; l < c_.num_layers; ++l) {
      const LayerWeights& w = layers_[l];
      if (in.common.x.device() != placement_.layer[l]) in.move_to(placement_.layer[l]);  // next block's device
      at::Tensor& x = in.common.x;                                               // (B, S, H)
      x = x + attention(layers::rms_norm(x, w.input_norm, c_.rms_norm_eps), w.attention, l, in);
      at::Tensor h = layers::rms_norm(x, w.post_attention_norm, c_.rms_norm_eps);  // (B, S, H)
      x = x + (w.is_moe ? moe(h, w, moe_index++, l, on_routing) : layers::swiglu(h, w.dense));
    }
    if (!want_logits) return {};
    at::Tensor x = layers::rms_norm(in.common.x, ends_.final_norm, c_.rms_norm_eps);  // (B, S, H)
    return layers::linear(x, ends_.lm_head).to(at::kFloat);                          // (B, S, V)
  }

  std::int64_t routed_expert_bytes() const override {
    std::int64_t bytes = 0;
    for (const LayerWeights& L : layers_) bytes += L.experts.bytes();
    return bytes;
  }

 private:
  Llama4Inputs inputs(const at::Tensor& ids, const at::Tensor& valid) const {
    Llama4Inputs in;
    in.common.x = at::embedding(ends_.embed, ids);                              // (B, S, H)
    const at::ScalarType dtype = in.common.x.scalar_type();
    at::Tensor positions = layers::positions_from_mask(valid);                  // (B, S)
    in.common.rope = layers::rope_tables(positions, c_.head_dim, c_.rope_theta, c_.rope_scaling, dtype);
    in.common.bias = layers::attention_bias(valid, dtype);                      // (B, 1, S, S)
    if (std::find(c_.chunked_layer.begin(), c_.chunked_layer.end(), true) != c_.chunked_layer.end())
      in.chunked_bias = chunked_bias(in.common.bias, positions);
    if (c_.attn_temperature_tuning) in.q_temperature = q_temperature(ids.size(1), ids.device());
    return in;
  }

  // create_chunked_causal_mask: chunks count from each sequence's first real token (transformers
  // subtracts the left padding), so the chunk of a position is position / attention_chunk_size.
  at::Tensor chunked_bias(const at::Tensor& causal_bias, const at::Tensor& positions) const {
    at::Tensor chunk = positions.div(c_.attention_chunk_size, "floor");        // (B, S)
    at::Tensor same = chunk.unsqueeze(2).eq(chunk.unsqueeze(1)).unsqueeze(1);  // (B, 1, S, S) query i, key j
    at::Tensor masked = causal_bias.min();  // 0-dim: the causal bias's own masked value, no device sync
    return causal_bias.masked_fill(same.logical_not(), masked);
  }

  // The temperature of NoPE layers' queries: 1 + attn_scale · ln(1 + floor((i + 1) / floor_scale)).
  // Llama4TextAttention takes i from cache_position, the column of the padded batch, not the
  // token's position: a left-padded sequence's queries get the scale of `padding` positions later
  // (transformers' behaviour, followed for parity). Both agree for sequences without padding and,
  // whatever the padding, wherever the batch is shorter than floor_scale − 1 columns (8191 in the
  // released models), since every scale there is 1.
  at::Tensor q_temperature(int64_t seq_len, at::Device device) const {
    at::Tensor i = at::arange(seq_len, at::TensorOptions().dtype(at::kFloat).device(device));  // (S)
    at::Tensor scale = at::log1p(at::floor((i + 1.0) / c_.floor_scale)) * c_.attn_scale + 1.0;
    return scale.view({1, 1, seq_len, 1});                                      // (1, 1, S, 1) float32
  }

  at::Tensor attention(const at::Tensor& x, const AttentionWeights& w, int layer, const Llama4Inputs& in) const {
    const int64_t B = x.size(0), S = x.size(1), h = c_.num_heads, g = c_.num_kv_heads, d = c_.head_dim;
    at::Tensor q = layers::linear(x, w.q, w.q_bias).view({B, S, h, d}).transpose(1, 2);  // (B, h, S, d)
    at::Tensor k = layers::linear(x, w.k, w.k_bias).view({B, S, g, d}).transpose(1, 2);  // (B, g, S, d)
    at::Tensor v = layers::linear(x, w.v, w.v_bias).view({B, S, g, d}).transpose(1, 2);  // (B, g, S, d)
    const bool rope = c_.rope_layer[layer];
    if (rope) {
      // Complex pairs (x0, x1), (x2, x3)... reordered to halves for apply_rope. q and k stay in that
      // order: q·kᵀ and the L2 norm below do not depend on the order of the head dimensions.
      q = layers::apply_rope(layers::deinterleave(q), in.common.rope);
      k = layers::apply_rope(layers::deinterleave(k), in.common.rope);
      if (c_.qk_norm == QkNorm::kL2) {
        q = l2_norm(q, c_.rms_norm_eps);
        k = l2_norm(k, c_.rms_norm_eps);
      }
    } else if (in.q_temperature.defined()) {
      q = (q * in.q_temperature).to(q.scalar_type());  // the product in float32, as transformers takes it
    }
    const at::Tensor& bias = c_.chunked_layer[layer] ? in.chunked_bias : in.common.bias;
    at::Tensor out = layers::attention(q, k, v, bias, 1.0 / std::sqrt(static_cast<double>(d)));  // (B, S, h·d)
    return layers::linear(out, w.o, w.o_bias);                                   // (B, S, H)
  }

  // Llama4TextMoe: shared_expert(x) + Σ_k expert_k(x · sigmoid(logit_k)).
  at::Tensor moe(const at::Tensor& x, const LayerWeights& w, int moe_index, int layer,
                 const RoutingCallback& on_routing) const {
    at::Tensor flat = x.reshape({-1, c_.hidden_size});                          // (T, H)
    at::Tensor logits = layers::linear(flat, w.router);                         // (T, E)
    layers::Routing routing = sigmoid_topk(logits, c_.top_k);                   // (T, k)
    routing = route({routing.router_probs, {}, /*sigmoid=*/true, c_.top_k, /*renormalize=*/false, 1.0, &routing},
                    moe_index, layer, on_routing);
    at::Tensor out = layers::moe_experts(flat, routing, w.experts, layers::GateAt::kInput);  // (T, H)
    return (layers::swiglu(flat, w.shared) + out).view(x.sizes());               // (B, S, H)
  }

  // The fused experts of Llama4TextExperts as the (E, I, H) ×2 (halves of one (E, 2I, H)), (E, H, I) of moe_experts.
  layers::ExpertWeights fused_experts(WeightLoader& w, const std::string& prefix) const {
    const int E = c_.num_experts, H = c_.hidden_size, I = c_.moe_intermediate_size;
    at::Tensor gate_up = w.get(prefix + ".gate_up_proj", {E, H, 2 * I});        // x @ gate_up: gate | up
    at::Tensor down = w.get(prefix + ".down_proj", {E, I, H});                  // h @ down
    if (!gate_up.defined() || !down.defined()) return {};
    at::Tensor rows = gate_up.transpose(1, 2).contiguous();                      // (E, 2I, H): gate rows, then up rows
    return {rows.narrow(1, 0, I), rows.narrow(1, I, I), down.transpose(1, 2).contiguous(), rows};
  }

  void load(WeightLoader& w) {
    const int H = c_.hidden_size;
    // Llama4ForConditionalGeneration keeps its Llama4ForCausalLM as language_model.
    const std::string text = c_.model_type == "llama4" ? "language_model." : "";
    if (!text.empty()) {
      w.ignore_under("vision_model.");
      w.ignore_under("multi_modal_projector.");
    }
    ends_ = EmbeddingAndHead::load(w, c_, placement_, text);
    for (int l = 0; l < c_.num_layers; ++l) {
      w.set_device(placement_.layer[l]);
      const std::string p = fmt::format("{}model.layers.{}.", text, l);
      LayerWeights L;
      L.input_norm = w.get(p + "input_layernorm.weight", {H});
      L.post_attention_norm = w.get(p + "post_attention_layernorm.weight", {H});
      AttentionWeights& a = L.attention;
      load_gqa_projections(w, p + "self_attn.", c_, a);
      L.is_moe = c_.moe_layer[l];
      if (L.is_moe) {
        L.router = w.get(p + "feed_forward.router.weight", {c_.num_experts, H});
        L.experts = fused_experts(w, p + "feed_forward.experts");
        L.shared = w.mlp(p + "feed_forward.shared_expert", H, c_.shared_expert_intermediate_size);
      } else {
        L.dense = w.mlp(p + "feed_forward", H, c_.intermediate_size);
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

std::unique_ptr<Network> build_llama4(const ModelConfig& config, const Placement& placement, WeightLoader& weights) {
  return std::make_unique<Llama4>(config, placement, weights);
}

}  // namespace moesim::model
