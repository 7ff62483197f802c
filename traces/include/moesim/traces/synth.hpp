#pragma once
// Synthetic routing traces with a chosen expert-popularity model, seeded and reproducible,
// for tests, benchmarks and sweeps before (or without) a real model.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "moesim/traces/trace_writer.hpp"

namespace moesim {
class Progress;
}

namespace moesim::traces {

enum class LoadModel { kUniform, kZipf, kDirichlet, kHot };

struct SynthOptions {
  int layers = 4;
  int experts = 8;
  int top_k = 2;
  int hidden_size = 4096;
  std::uint64_t tokens = 4096;  // in total, over all steps
  std::uint64_t steps = 1;
  int seq_len = 512;            // tokens are laid out as sequences of this length
  LoadModel load = LoadModel::kUniform;
  double zipf_s = 1.0;          // popularity of rank r ∝ r^-s
  double dirichlet_alpha = 1.0; // popularity ~ Dirichlet(alpha, ..., alpha)
  std::vector<std::pair<int, double>> hot;  // expert -> share of all picks; the rest uniform
  // 0: every layer has the same popularity per expert id; 1: each layer reshuffles which expert is
  // popular (a seeded permutation) — real models differ layer to layer.
  double layer_variation = 1.0;
  // Group-limited routing (DeepSeek-V3's n_group / topk_group; DeepEP's tests/legacy/test_internode.py
  // with one group per node): experts form `groups` contiguous groups; each token first draws
  // `topk_groups` distinct groups (by their popularity mass), then its top_k experts among them.
  // 0 = no group limit.
  int groups = 0;
  int topk_groups = 0;
  std::uint64_t seed = 1;
  // Ids and gates held in memory at once: a step is drawn and written in slices of tokens this
  // size allows (all layers of a slice), so memory stays bounded whatever the trace size.
  std::uint64_t slice_bytes = std::uint64_t{64} << 20;
};

// Expert popularity (sums to 1) of one layer under the options; exposed for tests.
std::vector<double> expert_popularity(const SynthOptions& options, int layer);

void write_synthetic_trace(const std::filesystem::path& path, const SynthOptions& options,
                           const std::string& created_by, Progress* progress = nullptr,
                           WriterOptions writer_options = {});

}  // namespace moesim::traces
