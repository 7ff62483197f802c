#pragma once
// One MoE layer's routing (tokens × k expert ids) + where each token starts + where each expert
// lives  →  how many token copies go from each GPU to each GPU, and how many tokens each expert
// replica receives (its compute, and the evidence for straggler attribution).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "moesim/sim/node_layout.hpp"
#include "moesim/sim/placement.hpp"
#include "moesim/sim/traffic_matrix.hpp"

namespace moesim::sim {

struct LayerTraffic {
  // Token copies (not bytes) from source GPU to destination GPU; the diagonal stays local.
  TrafficMatrix token_copies;
  // Token copies from each GPU to its rail peer in every *other* node, once per (token, node) however
  // many GPUs of that node hold its experts: DeepEP's RDMA stage (deepep algorithm). Filled only when
  // build_layer_traffic is given a node layout; else gpus = 0.
  TrafficMatrix node_once_copies;
  // Tokens processed by each replica: replica_tokens[expert][replica index in the placement].
  std::vector<std::vector<double>> replica_tokens;
  std::uint64_t tokens = 0;       // tokens routed
  std::uint64_t assignments = 0;  // (token, expert) pairs kept: tokens × k when nothing was dropped

  std::vector<double> tokens_on_gpu(const Placement& p) const;  // expert-token pairs each GPU computes
};

// How a step's tokens are spread over the source GPUs.
enum class TokenSpread {
  kEven,      // the batch split in equal contiguous slices, as data parallelism does
  kSequence,  // whole sequences per GPU: sequence i of the step on GPU i*G/S
};

// expert_ids: (tokens, top_k) row-major. source_gpu: per token. dedup: a token going to several
// experts on one GPU is sent there once (DeepEP); otherwise once per expert.
// kept: (tokens, top_k) 1 = pair kept, 0 = dropped by the routing strategy (trace format 1.1), or
// empty = every pair kept. A dropped pair is neither sent nor computed.
// nodes: when given, node_once_copies is filled as well (GPUs per node must divide the GPU count).
// Throws InputError naming `what` (e.g. the trace file and layer) for an expert id outside the placement.
LayerTraffic build_layer_traffic(std::span<const std::int32_t> expert_ids, int top_k,
                                 std::span<const int> source_gpu, const Placement& placement, bool dedup,
                                 const std::string& what, std::span<const std::uint8_t> kept = {},
                                 const NodeLayout* nodes = nullptr);

// Source GPU of each of `tokens` tokens under kEven.
std::vector<int> spread_evenly(std::uint64_t tokens, int gpus);
// Source GPU of each token under kSequence, from each token's sequence id (in order of appearance).
std::vector<int> spread_by_sequence(std::span<const std::int32_t> sequence_id, int gpus);

}  // namespace moesim::sim
