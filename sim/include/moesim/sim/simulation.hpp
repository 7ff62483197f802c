#pragma once
// Runs a body against a freshly built platform in its own process (see moesim/common/isolated.hpp): creates the
// SimGrid engine, builds the platform, checks it has at least `ep_gpus` GPUs (the first ep_gpus are
// used; 0 = all of them), and measures the simulation's wall time and peak memory.
#include <chrono>
#include <functional>
#include <string>

#include "moesim/sim/flow_network.hpp"
#include "moesim/sim/replay_result.hpp"
#include "moesim/topologies/platform_source.hpp"

namespace moesim::sim {

ReplayResult run_simulation(const topologies::PlatformSource& platform, int ep_gpus,
                            const std::function<ReplayResult(FlowNetwork&)>& body);

// What the simulation process has cost so far (since it started building the platform).
struct SimulationCost {
  std::chrono::steady_clock::time_point started;
  void measure(double& cpu_s, double& wall_s, double& peak_rss_bytes) const;
};
// The same for a body with a result of its own: it returns bytes, carried back as they are.
std::string run_simulation_bytes(const topologies::PlatformSource& platform, int ep_gpus,
                                 const std::function<std::string(FlowNetwork&, const SimulationCost&)>& body);

}  // namespace moesim::sim
