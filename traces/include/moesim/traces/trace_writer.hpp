#pragma once
// Streams a trace to disk one step at a time (bounded memory); the file appears under its final
// name only when close() succeeds, so an interrupted capture never leaves a file that looks whole.
#include <filesystem>
#include <memory>
#include <span>

#include "moesim/traces/trace_header.hpp"

namespace moesim::traces {

struct WriterOptions {
  std::uint64_t chunk_tokens = 65536;  // HDF5 chunk length along the token axis
  int gzip_level = 1;                  // 0 = no compression; applied to gates, probs, token metadata
  bool compress_expert_ids = false;    // ids barely compress and cost 5-10x read speed (toolchain notes)
};

// One step's tokens: all arrays have `tokens` entries; token_ids may be empty.
struct StepTokens {
  std::span<const std::int32_t> sequence_id;
  std::span<const std::int32_t> position;
  std::span<const std::int32_t> token_id;
};

// One MoE layer's routing for the tokens of a step, row-major.
struct LayerRouting {
  std::span<const std::int32_t> expert_ids;  // (tokens, top_k), column 0 = highest gate
  std::span<const float> gates;              // (tokens, top_k)
  std::span<const float> router_probs;       // (tokens, num_experts) or empty
  // (tokens, top_k) 1 = the pair was computed and sent, 0 = dropped (the token skipped that expert).
  // Only with header.has_kept_mask; empty there means every pair of the step was kept.
  std::span<const std::uint8_t> kept;
};

class TraceWriter {
 public:
  TraceWriter(const std::filesystem::path& path, TraceHeader header, WriterOptions options = {});
  ~TraceWriter();  // without close(), discards the temporary file
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // layers.size() == header.num_layers; every layer's arrays match tokens.sequence_id.size().
  void append_step(const StepTokens& tokens, std::span<const LayerRouting> layers);
  // A step written in parts (bounded memory for steps of millions of tokens): each part appends the
  // next tokens of the current step, end_step() closes the step. append_step = one part + end_step.
  void append_step_part(const StepTokens& tokens, std::span<const LayerRouting> layers);
  void end_step();
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moesim::traces
