#pragma once
// Where each expert lives: expert -> one or more (GPU, share) replicas. A token routed to an expert
// with several replicas goes to one of them; shares say how the expert's tokens are split.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace moesim::sim {

struct Replica {
  int gpu = 0;
  double share = 1.0;  // fraction of the expert's tokens this replica serves; shares of an expert sum to 1
};

struct Placement {
  std::string kind;  // contiguous, strided, file, eplb
  int num_experts = 0;
  int num_gpus = 0;
  std::vector<std::vector<Replica>> replicas;  // per expert, at least one

  std::vector<int> experts_on_gpu(int gpu) const;
};

// Experts [g*E/G, (g+1)*E/G) on GPU g: the usual expert-parallel layout.
Placement contiguous_placement(int num_experts, int num_gpus);
// Expert e on GPU e mod G.
Placement strided_placement(int num_experts, int num_gpus);
// JSON {"experts": [[gpu, ...], ...]} (one list per expert; replicas share equally) or
// {"experts": [[[gpu, share], ...], ...]}; or CSV lines "expert,gpu[,share]".
Placement load_placement(const std::filesystem::path& file, int num_experts, int num_gpus);
// DeepSeek's EPLB (github.com/deepseek-ai/EPLB): give `redundant` extra replicas one at a time to the
// expert with the highest load per replica, then pack the E+R replicas onto GPUs, heaviest first, each
// onto the least-loaded GPU that still has a free slot ((E+R)/G slots per GPU).
Placement eplb_placement(std::span<const double> expert_loads, int num_gpus, int redundant);

}  // namespace moesim::sim
