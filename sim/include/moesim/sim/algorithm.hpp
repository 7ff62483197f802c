#pragma once
// An all-to-all algorithm turns a traffic matrix into flows on the platform and says when each GPU
// is done. One algorithm per file in src/algorithms/, each registered here by name with a one-line
// description (`moesim replay --help` lists them).
#include <span>
#include <string>
#include <vector>

#include "moesim/sim/flow_network.hpp"
#include "moesim/sim/traffic_matrix.hpp"

namespace moesim::sim {

struct A2AOptions {
  double launch_latency_s = 0;         // kernel launch / collective setup, once per all-to-all
  double per_message_overhead_s = 0;   // software cost of issuing one message; a GPU issues its messages one after another
};

// ready_s[g]: when GPU g may start sending (phase-relative). Returns, per GPU, when it has sent and
// received everything (phase-relative); a GPU with no traffic is done at ready_s[g] + launch latency.
using A2AFunction = std::vector<double> (*)(const TrafficMatrix& m, std::span<const double> ready_s, FlowNetwork& net,
                                            const A2AOptions& options);

struct A2AAlgorithm {
  std::string name;
  std::string description;
  A2AFunction run;
};

const A2AAlgorithm& direct_algorithm();        // algorithms/direct.cpp
const A2AAlgorithm& pairwise_algorithm();      // algorithms/pairwise.cpp
const A2AAlgorithm& hierarchical_algorithm();  // algorithms/hierarchical.cpp
const A2AAlgorithm& direct_ptask_algorithm();  // algorithms/direct.cpp

const std::vector<A2AAlgorithm>& all_algorithms();
// Throws InputError listing the known names.
const A2AAlgorithm& find_algorithm(const std::string& name);

// Shared by the algorithms: when each GPU is done, given flows and their finish times.
std::vector<double> gpu_finish_times(std::span<const Flow> flows, std::span<const double> flow_finish_s,
                                     std::span<const double> ready_s, double launch_latency_s);

}  // namespace moesim::sim
