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
  // (tokens, top_k) 1 = pair kept, 0 = dropped; empty if the trace has no mask (every pair kept)
  // or it was not requested.
  std::vector<std::uint8_t> kept;
  std::uint64_t tokens() const { return top_k ? expert_ids.size() / top_k : 0; }
  bool is_kept(std::size_t i) const { return kept.empty() || kept[i] != 0; }
};

struct TokenBlock {
  std::uint64_t begin = 0;
  std::vector<std::int32_t> sequence_id, position, token_id;  // token_id empty if absent
};

// Raw expert ids of tokens [begin, begin + tokens) as stored: uint8, uint16 or uint32 by width_bytes.
struct IdSlice {
  const void* data = nullptr;
  int width_bytes = 1;
  std::uint64_t begin = 0;
  std::uint64_t tokens = 0;
  int top_k = 0;
  const std::uint8_t* kept = nullptr;  // (tokens, top_k) 1 = pair kept; null = every pair kept
  // Calls f(span of the right unsigned type); lets hot loops be instantiated per width.
  template <class F>
  void visit(F&& f) const {
    std::size_t n = static_cast<std::size_t>(tokens) * static_cast<std::size_t>(top_k);
    if (width_bytes == 1) f(static_cast<const std::uint8_t*>(data), n);
    else if (width_bytes == 2) f(static_cast<const std::uint16_t*>(data), n);
    else f(static_cast<const std::uint32_t*>(data), n);
  }
};

struct ReadWhat {
  bool gates = true;
  bool router_probs = false;
  bool kept = true;  // the kept mask, where the trace has one
};

// Opening first reads the file's whole structure in a forked child (moesim/common/isolated.hpp):
// libhdf5 1.10 crashes or loops for ever on some corrupt metadata that no checksum guards (global
// heaps; every structure of superblock v0/v1 files; see docs/BAD_INPUTS.md), and such a file must
// be a one-line error, not a crash of the command that opened it. Costs one fork per open.
struct TraceOpenOptions {
  bool check_in_child = true;  // off only where a crash must surface in-process (the fuzz harness)
  // Kill the check after this long (a loop in HDF5). 0: MOESIM_TRACE_CHECK_TIMEOUT_S, else 120 s.
  double check_timeout_s = 0;
};

class TraceReader {
 public:
  explicit TraceReader(const std::filesystem::path& path, const TraceOpenOptions& options = {});
  ~TraceReader();
  TraceReader(TraceReader&&) noexcept;

  const TraceHeader& header() const;
  const std::filesystem::path& path() const;
  // step s holds tokens [step_offsets()[s], step_offsets()[s+1]); size num_steps + 1.
  const std::vector<std::uint64_t>& step_offsets() const;

  LayerBlock read_layer(int layer, std::uint64_t begin, std::uint64_t end, ReadWhat what = {}) const;
  LayerBlock read_step(int layer, std::uint64_t step, ReadWhat what = {}) const;
  // The same into `into`, reusing its buffers: a replay reads layer after layer of one size, and a
  // fresh 64 MB buffer each time (256 GPUs x 8192 tokens x top-8) is zeroed twice, by the kernel
  // and by resize, before HDF5 writes it (12 % of a 256-GPU layer's CPU, perf).
  void read_layer_into(int layer, std::uint64_t begin, std::uint64_t end, ReadWhat what, LayerBlock& into) const;
  void read_step_into(int layer, std::uint64_t step, ReadWhat what, LayerBlock& into) const;
  TokenBlock read_tokens(std::uint64_t begin, std::uint64_t end) const;

  // Calls fn on consecutive slices of one layer's expert ids in their stored integer width, without
  // conversion (the fast path for statistics), with the slice's kept mask where the trace has one.
  // Bounded memory: one slice at a time.
  void for_each_id_slice(int layer, std::uint64_t slice_tokens, const std::function<void(const IdSlice&)>& fn) const;
  // Stored width of expert ids in bytes (1, 2 or 4).
  int id_width_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moesim::traces
