// Fuzzes the config.json reader (model/src/config.cpp and the per-architecture parse functions, no
// LibTorch): the bytes become DIR/config.json of a model directory. A config that loads must be one
// a forward pass can be built from: the invariants below are what the architectures index with.
#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include "fuzz_util.hpp"
#include "moesim/common/error.hpp"
#include "moesim/model/config.hpp"

namespace {
void check_invariants(const moesim::model::ModelConfig& c) {
  const bool ok = c.num_layers > 0 && c.num_experts > 0 && c.top_k >= 1 && c.top_k <= c.num_experts &&
                  c.hidden_size > 0 && c.vocab_size > 0 && c.num_heads > 0 &&
                  static_cast<int>(c.moe_layer.size()) == c.num_layers && c.n_group > 0 && c.topk_group > 0 &&
                  c.topk_group <= c.n_group &&
                  // RoPE rotates pairs of dimensions: an odd rotary width cannot be split in halves.
                  // Multi-head latent attention (DeepSeek-V2 and -V3, whatever their router) rotates
                  // qk_rope_head_dim; head_dim is not used there.
                  (c.kv_lora_rank > 0 ? c.qk_rope_head_dim : c.head_dim) % 2 == 0;
  if (!ok) std::abort();  // loaded, yet a forward pass would index out of range
  for (int layer : c.moe_layer_indices())
    if (layer < 0 || layer >= c.num_layers) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static moesim::fuzz::ScratchFile scratch("-model/config.json");
  static const bool made = std::filesystem::create_directories(scratch.path().parent_path());
  (void)made;
  const auto& path = scratch.write(data, size);
  try {
    check_invariants(moesim::model::load_config(path.parent_path()));
  } catch (const moesim::InputError& e) {
    moesim::fuzz::expect_one_line_naming(e.what(), path);
  }
  return 0;
}
