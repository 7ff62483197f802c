// Pairwise exchange: N-1 rounds; in round r GPU s sends to s+r and receives from s-r (mod N), so
// every round is a permutation and no GPU receives from two senders at once. Rounds are separated by
// a barrier (the next round starts when the slowest pair of this round is done), which is what makes
// the algorithm immune to incast and slow on skewed traffic.
#include <algorithm>

#include "moesim/sim/algorithm.hpp"

namespace moesim::sim {

static std::vector<double> run_pairwise(const A2ATraffic& t, std::span<const double> ready_s, FlowNetwork& net,
                                        const A2AOptions& options) {
  const TrafficMatrix& m = t.gpu;
  const int n = m.gpus;
  auto finish_s = initial_finish_times(ready_s, options);
  double barrier_s = 0;  // the first round starts at each GPU's own ready time
  std::vector<Message> round;
  // Round 0, with a modelled local copy, is each GPU's copy to itself (as MPI's pairwise exchange
  // copies its own block first).
  for (int r = options.local_copy ? 0 : 1; r < n; ++r) {
    round.clear();
    for (int s = 0; s < n; ++s)
      if (m.at(s, (s + r) % n) > 0) round.push_back({s, (s + r) % n, m.at(s, (s + r) % n)});
    barrier_s = run_phase(round, ready_s, barrier_s, net, options, finish_s);
  }
  return finish_s;
}

const A2AAlgorithm& pairwise_algorithm() {
  static const A2AAlgorithm a{"pairwise", "N-1 rounds of permutations (s -> s+r), a barrier between rounds",
                              &run_pairwise};
  return a;
}

}  // namespace moesim::sim
