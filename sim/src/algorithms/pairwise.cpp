// Pairwise exchange: N-1 rounds; in round r GPU s sends to s+r and receives from s-r (mod N), so
// every round is a permutation and no GPU receives from two senders at once. Rounds are separated by
// a barrier (the next round starts when the slowest pair of this round is done), which is what makes
// the algorithm immune to incast and slow on skewed traffic.
#include <algorithm>

#include "moesim/sim/algorithm.hpp"

namespace moesim::sim {

static std::vector<double> run_pairwise(const TrafficMatrix& m, std::span<const double> ready_s, FlowNetwork& net,
                                        const A2AOptions& options) {
  const int n = m.gpus;
  std::vector<double> finish(ready_s.begin(), ready_s.end());
  for (double& f : finish) f += options.launch_latency_s;
  double round_start = 0;  // round 1 starts at each GPU's own ready time
  for (int r = 1; r < n; ++r) {
    std::vector<Flow> flows;
    for (int s = 0; s < n; ++s) {
      int d = (s + r) % n;
      if (m.at(s, d) <= 0) continue;
      double start = std::max(round_start, ready_s[s] + options.launch_latency_s) + options.per_message_overhead_s;
      flows.push_back({s, d, m.at(s, d), start});
    }
    if (flows.empty()) continue;
    auto end = net.run(flows);
    for (std::size_t i = 0; i < flows.size(); ++i) {
      finish[flows[i].src] = std::max(finish[flows[i].src], end[i]);
      finish[flows[i].dst] = std::max(finish[flows[i].dst], end[i]);
      round_start = std::max(round_start, end[i]);
    }
  }
  return finish;
}

const A2AAlgorithm& pairwise_algorithm() {
  static const A2AAlgorithm a{"pairwise", "N-1 rounds of permutations (s -> s+r), a barrier between rounds",
                              &run_pairwise};
  return a;
}

}  // namespace moesim::sim
