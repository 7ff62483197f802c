// Direct all-to-all: every GPU sends to every other GPU at once, one flow per pair (NCCL's
// ncclAllToAll as grouped send/recv, DeepEP's normal kernels). The network sorts out contention.
#include "moesim/sim/algorithm.hpp"

namespace moesim::sim {

static std::vector<double> run_direct(const A2ATraffic& t, std::span<const double> ready_s, FlowNetwork& net,
                                      const A2AOptions& options) {
  const TrafficMatrix& m = t.gpu;
  auto finish_s = initial_finish_times(ready_s, options);
  run_phase(neighbour_order_messages(m, options), ready_s, 0.0, net, options, finish_s);  // freed before the run
  return finish_s;
}

// The same flows as one SimGrid parallel task per source GPU (L07 model): N activities instead of
// N(N-1). A GPU's sends progress together, like one NCCL kernel driving all its peers at one pace.
static std::vector<double> run_direct_ptask(const A2ATraffic& t, std::span<const double> ready_s,
                                            FlowNetwork& net, const A2AOptions& options) {
  const TrafficMatrix& m = t.gpu;
  auto flows = phase_flows(neighbour_order_messages(m, options), ready_s, 0.0, options);
  auto end_s = net.run_per_source_tasks(flows);
  auto finish_s = initial_finish_times(ready_s, options);
  for (std::size_t i = 0; i < flows.size(); ++i) {
    finish_s[flows[i].src] = std::max(finish_s[flows[i].src], end_s[i]);
    finish_s[flows[i].dst] = std::max(finish_s[flows[i].dst], end_s[i]);
  }
  return finish_s;
}

const A2AAlgorithm& direct_algorithm() {
  static const A2AAlgorithm a{"direct", "all pairs at once, one flow per GPU pair (NCCL grouped send/recv)",
                              &run_direct};
  return a;
}

const A2AAlgorithm& direct_ptask_algorithm() {
  static const A2AAlgorithm a{"direct-ptask",
                              "direct, one SimGrid parallel task per source GPU (needs host/model:ptask_L07)",
                              &run_direct_ptask};
  return a;
}

}  // namespace moesim::sim
