#pragma once
// A Mixtral-shaped checkpoint with random weights, written as a Hugging Face model directory
// (config.json + model.safetensors, hub tensor names). For benchmarks and tests that need a model
// of a given size or vocabulary without downloading one.
#include <cstdint>
#include <filesystem>
#include <string>

namespace moesim::model {

struct RandomMixtralSpec {
  int vocab_size = 32000;
  int hidden_size = 256;
  int intermediate_size = 512;  // per expert
  int num_layers = 4;
  int num_heads = 8;
  int num_kv_heads = 4;
  int num_experts = 8;
  int top_k = 2;
  std::string dtype = "float32";  // float32 | bfloat16
  std::uint64_t seed = 1;
};

void write_random_mixtral(const std::filesystem::path& dir, const RandomMixtralSpec& spec);

}  // namespace moesim::model
