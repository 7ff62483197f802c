#include "moesim/sim/layer_traffic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "moesim/common/error.hpp"

namespace moesim::sim {

std::vector<double> LayerTraffic::tokens_on_gpu(const Placement& p) const {
  std::vector<double> out(p.num_gpus, 0.0);
  for (int e = 0; e < p.num_experts; ++e)
    for (std::size_t r = 0; r < p.replicas[e].size(); ++r) out[p.replicas[e][r].gpu] += replica_tokens[e][r];
  return out;
}

std::vector<int> spread_evenly(std::uint64_t tokens, int gpus) {
  std::vector<int> out(tokens);
  for (std::uint64_t t = 0; t < tokens; ++t) out[t] = static_cast<int>(t * static_cast<std::uint64_t>(gpus) / tokens);
  return out;
}

std::vector<int> spread_by_sequence(std::span<const std::int32_t> sequence_id, int gpus) {
  // Rank sequences by first appearance so that the split does not depend on the id values.
  std::unordered_map<std::int32_t, int> rank;
  std::vector<int> seq_rank(sequence_id.size());
  for (std::size_t t = 0; t < sequence_id.size(); ++t) {
    auto [it, inserted] = rank.try_emplace(sequence_id[t], static_cast<int>(rank.size()));
    seq_rank[t] = it->second;
  }
  std::int64_t sequences = static_cast<std::int64_t>(rank.size());
  std::vector<int> out(sequence_id.size());
  for (std::size_t t = 0; t < sequence_id.size(); ++t)
    out[t] = static_cast<int>(static_cast<std::int64_t>(seq_rank[t]) * gpus / sequences);
  return out;
}

// One copy of the token from `src` to its rail peer in each other node that any of `dest` lies in.
static void add_once_per_node(std::span<const int> dest, int src, const NodeLayout& nodes, std::vector<int>& scratch,
                              TrafficMatrix& node_once) {
  scratch.clear();
  for (int d : dest)
    if (nodes.node_of(d) != nodes.node_of(src)) scratch.push_back(nodes.node_of(d));
  std::sort(scratch.begin(), scratch.end());
  scratch.erase(std::unique(scratch.begin(), scratch.end()), scratch.end());
  for (int node : scratch) node_once.at(src, nodes.rail_peer(src, node)) += 1.0;
}

LayerTraffic build_layer_traffic(std::span<const std::int32_t> expert_ids, int top_k,
                                 std::span<const int> source_gpu, const Placement& placement, bool dedup,
                                 const std::string& what, std::span<const std::uint8_t> kept,
                                 const NodeLayout* nodes) {
  const int gpus = placement.num_gpus;
  LayerTraffic lt;
  lt.token_copies = TrafficMatrix::zeros(gpus);
  if (nodes) {
    if (gpus % nodes->gpus_per_node != 0)
      throw InputError(fmt::format("{}: {} GPUs do not fill whole nodes of {} GPUs: a token's rail peer in another "
                                   "node must exist (give --gpus a multiple of {})",
                                   what, gpus, nodes->gpus_per_node, nodes->gpus_per_node));
    lt.node_once_copies = TrafficMatrix::zeros(gpus);
  }
  lt.replica_tokens.resize(placement.num_experts);
  for (int e = 0; e < placement.num_experts; ++e) lt.replica_tokens[e].assign(placement.replicas[e].size(), 0.0);
  lt.tokens = top_k > 0 ? expert_ids.size() / top_k : 0;
  if (source_gpu.size() != lt.tokens)
    throw std::logic_error("build_layer_traffic: one source GPU per token expected");
  if (!kept.empty() && kept.size() != expert_ids.size())
    throw std::logic_error("build_layer_traffic: one kept flag per (token, expert) slot expected");

  // Smooth weighted round robin per expert: deterministic, and replica r gets share_r of the tokens.
  std::vector<std::vector<double>> credit(placement.num_experts);
  for (int e = 0; e < placement.num_experts; ++e) credit[e].assign(placement.replicas[e].size(), 0.0);
  auto pick_replica = [&](int e) {
    auto& c = credit[e];
    const auto& reps = placement.replicas[e];  // two or more: single replicas are in only_gpu
    std::size_t best = 0;
    for (std::size_t r = 0; r < reps.size(); ++r) {
      c[r] += reps[r].share;
      if (c[r] > c[best]) best = r;
    }
    c[best] -= 1.0;
    return best;
  };

  // Experts with one replica (all of them without redundant experts) in flat arrays: the loop below
  // runs once per (token, expert) pair, 16.8 M times a layer at 256 GPUs, and skips two indirections.
  std::vector<int> only_gpu(placement.num_experts, -1);
  std::vector<std::uint64_t> only_tokens(placement.num_experts, 0);
  for (int e = 0; e < placement.num_experts; ++e)
    if (placement.replicas[e].size() == 1) only_gpu[e] = placement.replicas[e][0].gpu;

  // The GPU that computes pair i (of token t), or -1 if the routing strategy dropped the pair.
  auto destination = [&](std::uint64_t t, std::size_t i) -> int {
    const std::int32_t e = expert_ids[i];
    if (e < 0 || e >= placement.num_experts)
      throw InputError(fmt::format("{}: token {} is routed to expert {}, but the placement has experts 0..{} "
                                   "(does the trace match the model and --experts?)",
                                   what, t, e, placement.num_experts - 1));
    if (!kept.empty() && !kept[i]) return -1;  // dropped: only the residual carries the token
    if (const int g = only_gpu[e]; g >= 0) {
      ++only_tokens[e];
      return g;
    }
    const std::size_t r = pick_replica(e);
    lt.replica_tokens[e][r] += 1.0;
    return placement.replicas[e][r].gpu;
  };

  // Count each run of tokens from one source GPU per destination GPU (a row of 32-bit counters)
  // and add the touched counters to the matrix row once per run; with dedup a GPU remembers the
  // last token sent to it. One increment per (token, expert) pair instead of a sort of the
  // token's destinations and a scattered double add per copy: build_layer_traffic was 17 % of a
  // 64-layer 256-GPU replay (perf). Replicas are picked token by token, in token order.
  std::vector<std::uint32_t> run_count(gpus, 0);
  std::vector<std::uint64_t> last_token(dedup ? gpus : 0, 0);  // token + 1
  std::vector<int> touched, dest, dest_nodes;                   // dest: the token's GPUs (nodes only)
  auto flush_run = [&](int src) {
    for (int g : touched) {
      lt.token_copies.at(src, g) += static_cast<double>(run_count[g]);
      run_count[g] = 0;
    }
    touched.clear();
  };
  std::uint64_t run_copies = 0;
  for (std::uint64_t t = 0; t < lt.tokens; ++t) {
    const int src = source_gpu[t];
    // A run's counters must not wrap: flush before the run could pass 2^32 - 1 copies.
    if (t > 0 && (src != source_gpu[t - 1] || run_copies > std::numeric_limits<std::uint32_t>::max() - top_k)) {
      flush_run(source_gpu[t - 1]);
      run_copies = 0;
    }
    dest.clear();
    for (int j = 0; j < top_k; ++j) {
      const int g = destination(t, t * top_k + j);
      if (g < 0) continue;
      ++lt.assignments;
      if (nodes) dest.push_back(g);
      if (dedup) {
        if (last_token[g] == t + 1) continue;
        last_token[g] = t + 1;
      }
      if (run_count[g]++ == 0) touched.push_back(g);
      ++run_copies;
    }
    if (nodes) add_once_per_node(dest, src, *nodes, dest_nodes, lt.node_once_copies);
  }
  if (lt.tokens > 0) flush_run(source_gpu[lt.tokens - 1]);
  for (int e = 0; e < placement.num_experts; ++e)
    if (only_gpu[e] >= 0) lt.replica_tokens[e][0] = static_cast<double>(only_tokens[e]);
  return lt;
}

}  // namespace moesim::sim
