#pragma once
// Reads a trace v1 file. Opening validates the whole structure (format, version, datasets, shapes)
// and throws moesim::InputError with one line naming the file and the problem. Data are read in
// slices, so memory stays bounded by what the caller asks for, not by the file size.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "moesim/traces/trace_header.hpp"

namespace moesim::traces {

// Routing of tokens [begin, begin + tokens()) of one MoE layer.
struct LayerBlock {
  int layer = 0;
  int top_k = 0;
  std::uint64_t begin = 0;
  std::vector<std::int32_t> expert_ids;  // (tokens, top_k)
  std::vector<float> gates;              // (tokens, top_k); empty if not requested
  std::vector<float> router_probs;       // (tokens, num_experts); empty if not requested or absent
  std::uint64_t tokens() const { return top_k ? expert_ids.size() / top_k : 0; }
};

struct TokenBlock {
  std::uint64_t begin = 0;
  std::vector<std::int32_t> sequence_id, position, token_id;  // token_id empty if absent
};

struct ReadWhat {
  bool gates = true;
  bool router_probs = false;
};

class TraceReader {
 public:
  explicit TraceReader(const std::filesystem::path& path);
  ~TraceReader();
  TraceReader(TraceReader&&) noexcept;

  const TraceHeader& header() const;
  const std::filesystem::path& path() const;
  // step s holds tokens [step_offsets()[s], step_offsets()[s+1]); size num_steps + 1.
  const std::vector<std::uint64_t>& step_offsets() const;

  LayerBlock read_layer(int layer, std::uint64_t begin, std::uint64_t end, ReadWhat what = {}) const;
  LayerBlock read_step(int layer, std::uint64_t step, ReadWhat what = {}) const;
  TokenBlock read_tokens(std::uint64_t begin, std::uint64_t end) const;

  // Calls fn(ids, tokens, top_k) on consecutive slices of one layer's expert ids (native width
  // widened to uint16, the fastest path for statistics). Bounded memory: one slice at a time.
  void for_each_id_slice(int layer, std::uint64_t slice_tokens,
                         const std::function<void(const std::uint16_t* ids, std::uint64_t tokens, int top_k)>& fn) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moesim::traces
