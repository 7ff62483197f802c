// Hierarchical all-to-all (Tutel 2DH, DeepEP's internode kernels, NCCL PXN): first move data inside
// the node over NVLink to the GPU on the destination's rail (same local index), then one flow per
// node pair and rail over the NICs. Each NIC carries few large flows instead of many small ones.
//
//   node A: GPU(A,i) ──nvlink──> GPU(A,j) ──rail j NIC──> GPU(B,j) on node B
//
// Phase 1 also carries the node's own GPU-to-GPU traffic. A barrier separates the phases.
#include <algorithm>

#include "moesim/sim/algorithm.hpp"

namespace moesim::sim {

static std::vector<double> run_hierarchical(const A2ATraffic& t, std::span<const double> ready_s,
                                            FlowNetwork& net, const A2AOptions& options) {
  const TrafficMatrix& m = t.gpu;
  const int n = m.gpus;
  const int per_node = std::max(1, net.platform().gpus_per_node);
  const auto& node = net.platform().node_of_gpu;
  auto local = [&](int g) { return g % per_node; };
  auto gpu_of = [&](int node_index, int local_index) { return node_index * per_node + local_index; };

  // Phase 1: GPU (A,i) -> GPU (A,j): its own traffic to (A,j) plus everything it has for rail j elsewhere.
  TrafficMatrix nvlink = TrafficMatrix::zeros(n);
  TrafficMatrix rail = TrafficMatrix::zeros(n);
  for (int s = 0; s < n; ++s)
    for (int d = 0; d < n; ++d) {
      if (m.at(s, d) <= 0 || (s == d && !options.local_copy)) continue;
      if (node[s] == node[d]) {  // the local copy (s == d) too: it runs beside the NVLink phase
        nvlink.at(s, d) += m.at(s, d);
      } else {
        int relay = gpu_of(node[s], local(d));  // the GPU of s's node on d's rail
        if (relay != s && relay < n) nvlink.at(s, relay) += m.at(s, d);
        rail.at(relay < n ? relay : s, d) += m.at(s, d);
      }
    }

  auto finish_s = initial_finish_times(ready_s, options);
  double barrier_s = run_phase(neighbour_order_messages(nvlink, options), ready_s, 0.0, net, options, finish_s);
  run_phase(neighbour_order_messages(rail, options), ready_s, barrier_s, net, options, finish_s);
  return finish_s;
}

const A2AAlgorithm& hierarchical_algorithm() {
  static const A2AAlgorithm a{"hierarchical",
                              "NVLink to the destination's rail inside the node, then one flow per node pair and rail",
                              &run_hierarchical};
  return a;
}

}  // namespace moesim::sim
