#pragma once
// What training and evaluation need from a model beyond MoeModel: the Network itself (logits stay
// on the device), its weights as trainable tensors, fresh random weights for a config, and
// checkpoints written in the layout the loader reads (Hugging Face hub names). Internal (ATen).
#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "moesim/model/config.hpp"
#include "network.hpp"

namespace moesim::model {

using NamedWeights = std::vector<std::pair<std::string, at::Tensor>>;


struct LoadedNetwork {
  ModelConfig config;
  std::unique_ptr<Network> network;
  at::Device device{at::kCPU};
  NamedWeights weights;  // network->named_weights(); requires_grad when loaded trainable
};

// Loads DIR (config.json + safetensors) like MoeModel::load, but hands out the Network. With
// `trainable`, weights are float32 leaves with requires_grad (InputError for architectures the
// trainer does not handle yet, and for mxfp4 "keep": training needs float weights).
LoadedNetwork load_network(const std::filesystem::path& dir, const std::string& device, const std::string& dtype,
                           bool trainable, const std::string& mxfp4 = "dequantize");

// InputError naming `config` unless the architecture table marks the config's model_type trainable.
void require_trainable(const ModelConfig& config, const std::filesystem::path& config_file);

// Random initial weights for a config (Mixtral family): normal(0, std) matrices, unit norms, zero
// biases, named as Network::named_weights() names them. Uses (and advances) ATen's CPU generator.
NamedWeights init_weights(const ModelConfig& config, double std);

// Writes weights as one model.safetensors in the hub layout (experts one tensor each:
// block_sparse_moe.experts.<e>.w1|w3|w2 for Mixtral, mlp.experts.<e>.gate_proj|up_proj|down_proj
// otherwise), converted to dtype, atomically.
void save_weights(const std::filesystem::path& file, const NamedWeights& weights, at::ScalarType dtype);

}  // namespace moesim::model
