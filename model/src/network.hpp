#pragma once
// What every architecture builds: a network that maps token ids to logits and reports each MoE
// layer's routing through one callback. Internal to model/ (includes ATen); users see model.hpp.
#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "layers.hpp"
#include "moesim/model/config.hpp"
#include "weights.hpp"

namespace moesim::model {

// Called once per MoE layer and forward pass with the routing of all B·S positions (padding too).
using RoutingCallback = std::function<void(int moe_index, int model_layer, const layers::Routing& routing)>;

class Network {
 public:
  virtual ~Network() = default;
  // ids (B, S) int64, left-padded; valid (B, S) bool marks real tokens → logits (B, S, V) float32.
  virtual at::Tensor forward(const at::Tensor& ids, const at::Tensor& valid, const RoutingCallback& on_routing) const = 0;

  // Training (train*.cpp): every weight the forward pass reads, once each, under its checkpoint
  // name; routed experts as stacked tensors named "<prefix>.experts.gate|up|down" (E, I, H),
  // (E, I, H), (E, H, I) with <prefix> the MoE block ("model.layers.3.block_sparse_moe").
  // Empty for architectures that cannot be trained yet.
  virtual std::vector<std::pair<std::string, at::Tensor>> named_weights() const { return {}; }
};

// mixtral_family.cpp: Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE (GQA attention, softmax-routed experts).
std::unique_ptr<Network> build_mixtral_family(const ModelConfig& config, WeightLoader& weights);
// deepseek_v3.cpp: multi-head latent attention, sigmoid group-limited routing, shared experts.
std::unique_ptr<Network> build_deepseek_v3(const ModelConfig& config, WeightLoader& weights);

}  // namespace moesim::model
