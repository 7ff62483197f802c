#pragma once
// A MoE language model loaded from a Hugging Face model directory (config.json + safetensors),
// behind a LibTorch-free interface: callers pass token ids and get logits and routing back as
// plain vectors, so that only model/ pays for LibTorch headers.
//
//   auto model = moesim::model::MoeModel::load("Mixtral-8x7B-v0.1", {.device = "cuda", .dtype = "bfloat16"});
//   auto out = model->forward({{1, 415, 2936}, {1, 22557}}, &hook);   // hook sees every MoE layer
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "moesim/model/config.hpp"
#include "moesim/model/strategy.hpp"

namespace moesim::model {

// NaN or ±Inf in a model's logits, router scores or gates (a broken checkpoint, or overflow in a
// low-precision dtype): not bad input of the user's making, so it exits 1. The message names the MoE
// layer (or the logits) and the first bad position.
class NonFiniteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --device auto: the layers fill each GPU's free memory in order, the rest go to the CPU.
inline constexpr const char* kAutoDevice = "auto";

struct LoadOptions {
  // cpu, cuda, cuda:N, or a list such as "cuda:0,cuda:1" that splits the decoder layers into
  // consecutive blocks, one per device (for checkpoints larger than one GPU), or auto (kAutoDevice:
  // consecutive blocks sized by each device's free memory, the CPU last).
  std::string device = "cpu";
  std::string dtype = "float32";  // float32, bfloat16, float16
  // MXFP4 experts (gpt-oss): "dequantize" to dtype on load, or "keep" them quantized in memory and
  // dequantize each expert that receives tokens in the forward pass (a quarter of bfloat16's bytes,
  // at the cost of decoding every used expert once per forward pass). No effect on other checkpoints.
  std::string mxfp4 = "dequantize";
};

// The help text of --mxfp4, shared by every command that loads a model.
inline constexpr const char* kMxfp4OptionHelp =
    "MXFP4 experts (gpt-oss): dequantize (to --dtype on load) | keep (quantized in memory, about a quarter of "
    "bfloat16's bytes, so gpt-oss-120b fits one 80 GB GPU; each expert that receives tokens is dequantized in every "
    "forward pass, which costs time). No effect on checkpoints without MXFP4 tensors";

// One MoE layer's routing for the real (non-padding) tokens of a batch, sequence by sequence.
struct RoutingRecord {
  int moe_index = 0;    // 0..(number of MoE layers - 1)
  int model_layer = 0;  // index among all decoder layers
  std::int64_t tokens = 0;
  int top_k = 0;  // columns of expert_ids: the model's k, or more/less under expert_choice
  int num_experts = 0;
  std::vector<std::int32_t> expert_ids;  // (tokens, top_k), column 0 = largest gate; −1 = empty slot (strategy dropped it)
  std::vector<float> gates;              // (tokens, top_k), the weights the expert outputs are summed with
  std::vector<float> router_probs;       // (tokens, num_experts) when wants_router_probs(), else empty
};

// The only way routing leaves the model: called once per MoE layer per forward pass, in layer order.
class RoutingHook {
 public:
  virtual ~RoutingHook() = default;
  virtual bool wants_router_probs() const { return false; }
  virtual void on_routing(const RoutingRecord& record) = 0;
};

struct ForwardResult {
  std::int64_t batch = 0, seq_len = 0, vocab = 0;
  // Sequences are left-padded to seq_len: sequence b's token i (of n) sits at position seq_len - n + i.
  std::vector<float> logits;  // (batch, seq_len, vocab) float32; empty when not asked for
  std::vector<std::uint8_t> valid;  // (batch, seq_len) 1 for real tokens
  std::span<const float> at(std::int64_t b, std::int64_t position) const {
    return {logits.data() + (b * seq_len + position) * vocab, static_cast<std::size_t>(vocab)};
  }
};

class MoeModel {
 public:
  // Throws InputError for a bad directory, config, checkpoint (missing/unexpected tensors are
  // listed), device or dtype.
  static std::unique_ptr<MoeModel> load(const std::filesystem::path& dir, const LoadOptions& options = {});
  ~MoeModel();

  const ModelConfig& config() const;
  const LoadOptions& options() const;
  // Where the decoder layers live: "layers 0-11 on cuda:0, 12-35 on cpu".
  std::string placement() const;
  // Sequences of token ids (each non-empty, ids < vocab_size), run as one left-padded batch.
  // want_logits = false skips the LM head (routing capture needs none) and leaves logits empty.
  ForwardResult forward(const std::vector<std::vector<std::int32_t>>& sequences, RoutingHook* hook = nullptr,
                        bool want_logits = true) const;

  // Assignment strategies (strategy.hpp): from now on every MoE layer routes by `spec` (topk = the
  // model's own router). Throws InputError when the spec does not fit the model. Resets the stats.
  void set_routing_strategy(const StrategySpec& spec);
  const StrategySpec& routing_strategy() const;
  // Per MoE layer, summed over forward passes since set_routing_strategy.
  std::vector<StrategyLayerStats> routing_strategy_stats() const;

  // Bytes the routed experts' weights occupy (on all devices): with --mxfp4 keep, the MXFP4 bytes.
  std::int64_t routed_expert_bytes() const;

 private:
  struct Impl;
  explicit MoeModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace moesim::model
