#pragma once
// Runs a body against a freshly built platform in its own process (see moesim/common/isolated.hpp): creates the
// SimGrid engine, builds the platform, checks it has at least `ep_gpus` GPUs (the first ep_gpus are
// used; 0 = all of them), and measures the simulation's wall time and peak memory.
#include <functional>

#include "moesim/sim/flow_network.hpp"
#include "moesim/sim/replay_result.hpp"
#include "moesim/topologies/platform_source.hpp"

namespace moesim::sim {

ReplayResult run_simulation(const topologies::PlatformSource& platform, int ep_gpus,
                            const std::function<ReplayResult(FlowNetwork&)>& body);

}  // namespace moesim::sim
