#pragma once
// The platform as a Boost graph (GPUs, NVSwitches, NICs, switch groups; links with capacity and
// latency) and what it says about routability and capacity:
//   connectivity (the GPU pairs that cannot reach each other), hop counts and diameter,
//   per-GPU injection bandwidth, bisection bandwidth (max-flow from the first half of the GPUs to
//   the second), and for trees the closed form the bisection must match.
#include <string>
#include <utility>
#include <vector>

#include "moesim/topologies/fabric.hpp"

namespace moesim::topologies {

struct TopologyReport {
  int gpus = 0, nodes = 0;
  int switches = 0;          // physical switch chips / boxes (an NVSwitch domain counts as one)
  int switch_vertices = 0;   // graph vertices standing for switches or switch groups
  int links = 0;             // physical links (NVLinks counted one by one, aggregated uplinks expanded)
  int link_edges = 0;        // graph edges
  int failed_links = 0;
  long long unroutable_pairs = 0;                    // ordered GPU pairs with no path
  std::vector<std::pair<int, int>> unroutable_examples;  // a few of them
  bool hops_computed = false;
  int diameter_hops = 0;          // most links on a shortest GPU -> GPU path
  double mean_hops = 0;           // over ordered GPU pairs
  double max_latency_s = 0;       // latency of the longest of those paths (links + switches)
  double min_injection_Bps = 0, max_injection_Bps = 0;            // GPU's own links, summed
  double min_scaleout_injection_Bps = 0, max_scaleout_injection_Bps = 0;  // its NIC share
  double bisection_Bps = 0;              // max-flow, first half of GPUs -> second half
  double bisection_closed_form_Bps = 0;  // 0 when no closed form applies
  double oversubscription = 0;           // (N/2 x scale-out injection) / bisection, multi-node only
};

struct CheckOptions {
  bool hops = true;  // all-pairs BFS: O(GPUs x links); off when only building the SimGrid platform
};

// Throws moesim::InputError "file: platform is disconnected: ..." if some GPU pair is unroutable.
TopologyReport check_topology(const PlatformSpec& spec, const Fabric& fabric, CheckOptions options = {});
// The same, reporting instead of throwing (for `inspect` of a broken file).
TopologyReport analyse_topology(const PlatformSpec& spec, const Fabric& fabric, CheckOptions options = {});

// The tree min-cut between the first and second half of the nodes from the shape alone; 0 when the
// halves do not fall on whole subtrees (an odd number of leaves, partly filled leaves).
double bisection_closed_form_Bps(const PlatformSpec& spec, const Fabric& fabric);

// Latency of the path from GPU 0 to the farthest GPU of another node (links and switches).
double worst_inter_node_latency_s(const PlatformSpec& spec, const Fabric& fabric);

}  // namespace moesim::topologies
