#include "moesim/sim/simulation.hpp"

#include <fmt/format.h>
#include <simgrid/s4u/Engine.hpp>
#include <sys/resource.h>

#include <chrono>

#include "moesim/common/error.hpp"
#include "moesim/sim/isolated.hpp"

namespace moesim::sim {

static topologies::SimgridPlatform first_gpus(topologies::SimgridPlatform p, int n) {
  p.gpus.resize(n);
  p.node_of_gpu.resize(n);
  p.egress_Bps.resize(n);
  p.ingress_Bps.resize(n);
  p.scaleout_egress_Bps.resize(n);
  return p;
}

ReplayResult run_simulation(const PlatformSource& platform, int ep_gpus,
                            const std::function<ReplayResult(FlowNetwork&)>& body) {
  if (ep_gpus < 0) throw InputError(fmt::format("expert-parallel degree must be >= 1, got {}", ep_gpus));
  std::string bytes = run_isolated([&]() {
    auto t0 = std::chrono::steady_clock::now();
    // SimGrid reads its own flags from argv; warnings only, its INFO lines would drown the table.
    char arg0[] = "moesim";
    char arg1[] = "--log=root.thresh:warning";
    char* argv[] = {arg0, arg1, nullptr};
    int argc = 2;
    simgrid::s4u::Engine engine(&argc, argv);
    auto built = build_platform(platform);
    if (static_cast<int>(built.gpus.size()) < ep_gpus)
      throw InputError(located(platform.text, fmt::format("the platform has {} GPUs, fewer than the expert-parallel "
                                                          "degree {}",
                                                          built.gpus.size(), ep_gpus)));
    int used = ep_gpus > 0 ? ep_gpus : static_cast<int>(built.gpus.size());  // 0: the whole platform
    FlowNetwork net(first_gpus(std::move(built), used));
    ReplayResult r = body(net);
    r.sim_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    r.sim_peak_rss_bytes = static_cast<double>(ru.ru_maxrss) * 1024.0;
    return serialize(r);
  });
  return deserialize_result(bytes);
}

}  // namespace moesim::sim
