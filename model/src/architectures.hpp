#pragma once
// The one table of supported architectures (config.json `model_type`): how each reads its config,
// which forward pass builds it, and what else differs at load and training time. Every command
// that loads a model (forward, capture, eval-ppl, train, finetune, assign-eval) goes through it.
// Torch-free: the config fuzzer (tests/fuzz) links it without LibTorch.
// Adding an architecture: model/README.md, "How to add an architecture".
#include <span>
#include <string_view>

#include "config_fields.hpp"

namespace moesim::model {

// The forward passes: each a build function in its own file (network.hpp), chosen by
// build_network() (model.cpp). Several architectures share one when they differ only in
// ModelConfig switches and tensor names.
enum class Graph {
  kGqaMoe,       // gqa_moe.cpp: grouped-query attention, softmax-routed SwiGLU experts
  kDeepseekMla,  // deepseek_v3.cpp: multi-head latent attention, sigmoid group-limited routing
  kLlama4,       // llama4.cpp: NoPE and chunked-attention layers, top-1 sigmoid routing, shared expert
};

struct Architecture {
  std::string_view model_type;                      // config.json "model_type"
  void (*parse)(const ConfigFields&, ModelConfig&);  // its file's parse function
  Graph graph;
  bool trainable;            // moesim train / finetune handle it (init_weights, named_weights, save_weights)
  bool unused_extra_layers;  // checkpoint layers ≥ num_hidden_layers are skipped (DeepSeek's multi-token prediction)
};

std::span<const Architecture> architectures();
// The table's entry for model_type; InputError naming `config` and the supported types when absent.
const Architecture& find_architecture(std::string_view model_type, const std::filesystem::path& config = "config.json");

}  // namespace moesim::model
