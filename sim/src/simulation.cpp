#include "moesim/sim/simulation.hpp"

#include <fmt/format.h>
#include <simgrid/s4u/Engine.hpp>
#include <sys/resource.h>

#include <chrono>
#include <string>
#include <vector>

#include "moesim/common/error.hpp"
#include "moesim/common/isolated.hpp"

namespace moesim::sim {

static topologies::SimgridPlatform first_gpus(topologies::SimgridPlatform p, int n) {
  p.gpus.resize(n);
  p.node_of_gpu.resize(n);
  p.egress_Bps.resize(n);
  p.ingress_Bps.resize(n);
  p.scaleout_egress_Bps.resize(n);
  return p;
}

ReplayResult run_simulation(const topologies::PlatformSource& platform, int ep_gpus,
                            const std::function<ReplayResult(FlowNetwork&)>& body) {
  return deserialize_result(run_simulation_bytes(platform, ep_gpus, [&](FlowNetwork& net, const SimulationCost& cost) {
    ReplayResult r = body(net);
    cost.measure(r.sim_cpu_s, r.sim_wall_s, r.sim_peak_rss_bytes);
    return serialize(r);
  }));
}

void SimulationCost::measure(double& cpu_s, double& wall_s, double& peak_rss_bytes) const {
  wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  peak_rss_bytes = static_cast<double>(ru.ru_maxrss) * 1024.0;
  cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
          1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

std::string run_simulation_bytes(const topologies::PlatformSource& platform, int ep_gpus,
                                 const std::function<std::string(FlowNetwork&, const SimulationCost&)>& body) {
  if (ep_gpus < 0) throw InputError(fmt::format("expert-parallel degree must be >= 1, got {}", ep_gpus));
  return run_isolated([&]() {
    const SimulationCost cost{std::chrono::steady_clock::now()};
    // SimGrid reads its own flags from argv: warnings only (its INFO lines would drown the table).
    // Issuing actors (one per GPU, see flow_network.cpp) need little stack: 256 KiB instead of
    // 8 MiB keeps thousands of them within a few GB of address space. The network model is
    // configured in one place, topologies/src/simgrid_platform.cpp, when the platform is built.
    std::vector<std::string> args = {"moesim", "--log=root.thresh:warning", "--cfg=contexts/stack-size:256"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int argc = static_cast<int>(args.size());
    // Never destroyed: the process ends right after, and tearing down a large simulation (or one
    // interrupted by an error) costs time and prints a warning per flow still in flight.
    auto* engine = new simgrid::s4u::Engine(&argc, argv.data());
    auto built = topologies::build_platform(platform, *engine);
    if (static_cast<int>(built.gpus.size()) < ep_gpus)
      throw InputError(located(platform.text, fmt::format("the platform has {} GPUs, fewer than the expert-parallel "
                                                          "degree {}",
                                                          built.gpus.size(), ep_gpus)));
    int used = ep_gpus > 0 ? ep_gpus : static_cast<int>(built.gpus.size());  // 0: the whole platform
    FlowNetwork net(first_gpus(std::move(built), used));
    return body(net, cost);
  });
}

}  // namespace moesim::sim
