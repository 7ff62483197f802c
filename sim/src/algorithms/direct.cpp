// Direct all-to-all: every GPU sends to every other GPU at once, one flow per pair (NCCL's
// ncclAllToAll as grouped send/recv, DeepEP's normal kernels). The network sorts out contention.
#include "moesim/sim/algorithm.hpp"

namespace moesim::sim {

static std::vector<Flow> direct_flows(const TrafficMatrix& m, std::span<const double> ready_s,
                                      const A2AOptions& options) {
  const int n = m.gpus;
  std::vector<Flow> flows;
  for (int s = 0; s < n; ++s) {
    // A GPU issues its messages one after another, starting with its right neighbour so that GPUs
    // do not all begin with the same destination.
    int issued = 0;
    for (int k = 1; k < n; ++k) {
      int d = (s + k) % n;
      double bytes = m.at(s, d);
      if (bytes <= 0) continue;
      ++issued;
      flows.push_back({s, d, bytes, ready_s[s] + options.launch_latency_s + issued * options.per_message_overhead_s});
    }
  }
  return flows;
}

static std::vector<double> run_direct(const TrafficMatrix& m, std::span<const double> ready_s, FlowNetwork& net,
                                      const A2AOptions& options) {
  auto flows = direct_flows(m, ready_s, options);
  auto finish = net.run(flows);
  return gpu_finish_times(flows, finish, ready_s, options.launch_latency_s);
}

// The same flows as one SimGrid parallel task per source GPU (L07 model): N activities instead of
// N(N-1). A GPU's sends progress together, like one NCCL kernel driving all its peers at one pace.
static std::vector<double> run_direct_ptask(const TrafficMatrix& m, std::span<const double> ready_s,
                                            FlowNetwork& net, const A2AOptions& options) {
  auto flows = direct_flows(m, ready_s, options);
  auto finish = net.run_per_source_tasks(flows);
  return gpu_finish_times(flows, finish, ready_s, options.launch_latency_s);
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
