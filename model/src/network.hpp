#pragma once
// What every architecture builds: a network that maps token ids to logits and reports each MoE
// layer's routing through one callback. Internal to model/ (includes ATen); users see model.hpp.
#include <ATen/ATen.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "layers.hpp"
#include "strategies/strategy.hpp"
#include "moesim/model/config.hpp"
#include "weights.hpp"

namespace moesim::model {

// Which device holds each decoder layer. Consecutive layers share a device; the embedding lives with
// the first layer and the final norm + LM head with the last, so activations cross devices only
// at layer boundaries (a model larger than one GPU, split pipeline-style over several).
struct Placement {
  std::vector<at::Device> layer;  // one per decoder layer
  // Layers split into contiguous, nearly equal blocks over `devices`.
  static Placement contiguous(const std::vector<at::Device>& devices, int num_layers);
  // Layers in order onto `devices` in order: each device takes the next layers while their bytes
  // fit its capacity, the last takes the rest. InputError when all of them together are too small.
  static Placement by_memory(const std::vector<at::Device>& devices, const std::vector<std::uint64_t>& layer_bytes,
                             const std::vector<std::uint64_t>& capacity_bytes);
  std::string describe() const;  // "layers 0-11 on cuda:0, 12-35 on cpu"
};

// Bytes each decoder layer's weights take once loaded in `dtype`, read from the checkpoint's headers
// (FP8 and MXFP4 counted dequantized, or MXFP4 as stored when kept): the embedding counts with
// layer 0 (and with the last too when the LM head is tied to it), the final norm and head with the last.
std::vector<std::uint64_t> layer_bytes(const Checkpoint& checkpoint, const ModelConfig& c, at::ScalarType dtype,
                                       bool mxfp4_kept);
// --device auto: every CUDA device in index order, each filled up to its free memory less a reserve
// for activations (10 %), then the CPU (MemAvailable) for the rest (placement.cpp).
Placement auto_placement(const std::filesystem::path& dir, const ModelConfig& c, at::ScalarType dtype, bool mxfp4_kept);

// The two ends every architecture shares: the token embedding, loaded onto the first layer's
// device, and the final norm + LM head onto the last (a tied head is the embedding, copied there).
struct EmbeddingAndHead {
  at::Tensor embed;            // (V, H)
  at::Tensor final_norm;       // (H)
  at::Tensor final_norm_bias;  // (H), LayerNorm families only (Phi-3.5-MoE)
  at::Tensor lm_head;          // (V, H)
  at::Tensor lm_head_bias;     // (V): Phi-3.5-MoE lm_head_bias, ERNIE 4.5 use_bias
  // `prefix` before the names (model.embed_tokens, model.norm, lm_head): a text model inside a
  // multimodal checkpoint (Llama 4: "language_model.").
  static EmbeddingAndHead load(WeightLoader& w, const ModelConfig& c, const Placement& placement,
                               const std::string& prefix = "");
};

// What each decoder layer reads besides its weights: the residual stream and the per-batch RoPE
// tables and attention bias. They cross to the next device together, at a block boundary.
struct LayerInputs {
  at::Tensor x;             // (B, S, H)
  layers::RopeTables rope;  // (B, S, rot)
  at::Tensor bias;          // (B, 1, S, S)
  at::Tensor sliding_bias;  // (B, 1, S, S) the same with the sliding window; undefined without one
  bool causal = false;      // no padding, on CUDA: full-attention layers pass no bias (layers::causal_without_bias)
  // The bias of a layer's attention: the sliding window's, or none where causal and sink-free.
  const at::Tensor& bias_for(bool sliding, bool sinks) const {
    static const at::Tensor none;
    return sliding ? sliding_bias : causal && !sinks ? none : bias;
  }
  void move_to(at::Device device);
};

// Called once per MoE layer and forward pass with the routing of all B·S positions (padding too),
// in layer order, after the pass (Network::forward).
using RoutingCallback = std::function<void(int moe_index, int model_layer, const layers::Routing& routing)>;

class Network {
 public:
  virtual ~Network() = default;
  // ids (B, S) int64, left-padded, on the first layer's device; valid (B, S) bool marks real tokens
  // → logits (B, S, V) float32 on the last layer's device; with want_logits false (routing capture)
  // the LM head, often the largest matmul of a small model, is skipped and the result undefined.
  // Throws NonFiniteError (exit 1) at the first MoE layer whose router scores or gates, or at logits,
  // holding NaN or ±Inf: a broken checkpoint must not become a trace or a perplexity of nan.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& valid, const RoutingCallback& on_routing,
                     bool want_logits) const;

  // Training (train*.cpp): every weight the forward pass reads, once each, under its checkpoint
  // name; routed experts as stacked tensors named "<prefix>.experts.gate|up|down" (E, I, H),
  // (E, I, H), (E, H, I) with <prefix> the MoE block ("model.layers.3.block_sparse_moe").
  // Empty for architectures that cannot be trained yet.
  virtual std::vector<std::pair<std::string, at::Tensor>> named_weights() const { return {}; }

  // Bytes the routed experts occupy in memory, over all layers and devices (MXFP4 kept quantized
  // counts its blocks and scales): what --mxfp4 keep saves, and most of a large MoE's footprint.
  virtual std::int64_t routed_expert_bytes() const = 0;

  // The one hook for assignment strategies (strategies/): where an architecture has taken its
  // router's top-k, it hands the choice to route(), which returns it unchanged without a strategy.
  void set_strategy(strategies::RoutingStrategy* strategy) { strategy_ = strategy; }

 protected:
  // Each architecture's forward pass, as forward() describes it.
  virtual at::Tensor forward_pass(const at::Tensor& ids, const at::Tensor& valid, const RoutingCallback& on_routing,
                                  bool want_logits) const = 0;

  // Where an architecture has its router's choice (view.natural): the strategy's choice (or the
  // natural one), reported through on_routing (forward() checks it finite when the pass ends).
  layers::Routing route(const strategies::RouterView& view, int moe_index, int layer,
                        const RoutingCallback& on_routing) const;

 private:
  strategies::RoutingStrategy* strategy_ = nullptr;
};

// --dtype, --device and --mxfp4 as every command spells them, parsed in one place (model.cpp).
at::ScalarType dtype_from_name(const std::string& name);              // float32, bfloat16, float16
std::vector<at::Device> devices_from_list(const std::string& list);  // cpu, cuda, cuda:N, or a comma list
Mxfp4Mode mxfp4_mode_from_name(const std::string& name);             // dequantize, keep

// config.json's architecture (architectures.cpp) built from DIR's checkpoint on `placement` in
// `dtype`: the one loader behind MoeModel::load and load_network. InputError listing every missing,
// wrong-shaped or unexpected tensor. `mxfp4`: MXFP4 experts dequantized on load or kept quantized.
std::unique_ptr<Network> build_network(const std::filesystem::path& dir, const ModelConfig& config,
                                       const Placement& placement, at::ScalarType dtype,
                                       Mxfp4Mode mxfp4 = Mxfp4Mode::kDequantize);

// The q/k/v/o projections of grouped-query attention under `prefix` ("model.layers.3.self_attn."),
// with exactly the biases config.json declares (qkv_bias, o_bias). Shared by the GQA and Llama 4
// graphs, whose attention structs both hold q, k, v, o and their *_bias members.
template <class Attention>
void load_gqa_projections(WeightLoader& w, const std::string& prefix, const ModelConfig& c, Attention& a) {
  const int H = c.hidden_size, q_rows = c.num_heads * c.head_dim, kv_rows = c.num_kv_heads * c.head_dim;
  a.q = w.get(prefix + "q_proj.weight", {q_rows, H});
  a.k = w.get(prefix + "k_proj.weight", {kv_rows, H});
  a.v = w.get(prefix + "v_proj.weight", {kv_rows, H});
  a.o = w.get(prefix + "o_proj.weight", {H, q_rows});
  if (c.qkv_bias) {
    a.q_bias = w.get(prefix + "q_proj.bias", {q_rows});
    a.k_bias = w.get(prefix + "k_proj.bias", {kv_rows});
    a.v_bias = w.get(prefix + "v_proj.bias", {kv_rows});
  }
  if (c.o_bias) a.o_bias = w.get(prefix + "o_proj.bias", {H});
}

// gqa_moe.cpp: Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, gpt-oss, Phi-3.5-MoE (GQA attention, routed experts).
std::unique_ptr<Network> build_gqa_moe(const ModelConfig& config, const Placement& placement,
                                              WeightLoader& weights);
// deepseek_v3.cpp: multi-head latent attention, sigmoid group-limited routing, shared experts.
std::unique_ptr<Network> build_deepseek_v3(const ModelConfig& config, const Placement& placement,
                                           WeightLoader& weights);

// llama4.cpp: Llama 4 (text), alone or inside its multimodal checkpoint.
std::unique_ptr<Network> build_llama4(const ModelConfig& config, const Placement& placement, WeightLoader& weights);

}  // namespace moesim::model
