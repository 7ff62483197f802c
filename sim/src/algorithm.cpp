#include "moesim/sim/algorithm.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "moesim/common/error.hpp"

namespace moesim::sim {

const std::vector<A2AAlgorithm>& all_algorithms() {
  static const std::vector<A2AAlgorithm> algorithms = {direct_algorithm(), pairwise_algorithm(),
                                                        hierarchical_algorithm(), direct_ptask_algorithm()};
  return algorithms;
}

const A2AAlgorithm& find_algorithm(const std::string& name) {
  std::string known;
  for (const auto& a : all_algorithms()) {
    if (a.name == name) return a;
    known += (known.empty() ? "" : ", ") + a.name;
  }
  throw InputError(fmt::format("unknown all-to-all algorithm '{}' (known: {})", name, known));
}

std::vector<double> gpu_finish_times(std::span<const Flow> flows, std::span<const double> flow_finish_s,
                                     std::span<const double> ready_s, double launch_latency_s) {
  std::vector<double> finish(ready_s.size());
  for (std::size_t g = 0; g < ready_s.size(); ++g) finish[g] = ready_s[g] + launch_latency_s;
  for (std::size_t i = 0; i < flows.size(); ++i) {
    finish[flows[i].src] = std::max(finish[flows[i].src], flow_finish_s[i]);
    finish[flows[i].dst] = std::max(finish[flows[i].dst], flow_finish_s[i]);
  }
  return finish;
}

}  // namespace moesim::sim
