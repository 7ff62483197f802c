#pragma once
// The contract between topologies/ (which owns platform files) and sim/ (which replays on them):
// a SimGrid platform built in the engine, with GPU index → host and the per-GPU figures the
// replay engine needs for its bandwidth lower bound.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace simgrid::s4u {
class Engine;
class Host;
}  // namespace simgrid::s4u

namespace moesim::topologies {

struct SimgridPlatform {
  std::vector<simgrid::s4u::Host*> gpus;  // GPU index -> host, GPU i of node n is n*gpus_per_node+i
  std::vector<int> node_of_gpu;           // node index of each GPU
  int gpus_per_node = 1;
  std::vector<double> egress_Bps;         // per GPU: the most it can inject into the fabric
                                          // (= intra_node_egress_Bps + scaleout_egress_Bps)
  std::vector<double> ingress_Bps;        // per GPU: the most it can absorb
  std::vector<double> scaleout_egress_Bps;// per GPU: NIC bandwidth towards other nodes (0 if single node)
  double intra_node_latency_s = 0;        // one-way GPU->GPU latency inside a node
  double inter_node_latency_s = 0;        // one-way GPU->GPU latency across nodes (0 if single node)
  std::string name;
  std::vector<double> intra_node_egress_Bps;  // added: per GPU, its NVLinks / mesh links summed
  int node_count = 1;                     // added: number of nodes (max(node_of_gpu)+1)
  double bisection_Bps = 0;               // added: first half of GPUs -> second half, max-flow (YAML only)
  // calibration.bandwidth_factors: the factor SimGrid's callback gives a message of this many bytes
  // (empty when the platform has none), for engines that solve the network outside SimGrid.
  std::function<double(double bytes)> bandwidth_factor_of_bytes;
  // The calibration applied, in words: "nominal (no calibration)" or the factors (replay outputs
  // record it beside the figures it shaped).
  std::string calibration = "nominal (no calibration)";
  // Not measured: calibration.source is absent or says "nominal" (replay says so once per run).
  bool nominal = true;
  // node.local_copy_bandwidth (0 = the diagonal is free) and node.duplex_bandwidth (0 = none): the
  // GPU's self route is then copy link + duplex link, and the diagonal is traffic.
  double local_copy_Bps = 0;
  double duplex_Bps = 0;
};

// Loads a platform file (our YAML, or SimGrid XML by extension .xml) and builds it into `engine`.
// Sets SimGrid's network model configuration first (see topologies/README or platforms/README.md);
// must therefore be called before any other zone exists. Throws moesim::InputError on bad input.
//
// YAML: GPU index g = node * gpus_per_node + i; host names "node{n}/gpu{i}".
// SimGrid XML: GPUs are all hosts of the file, ordered by name with digit runs compared as numbers
// (gpu2 < gpu10); the node of a GPU is the netzone holding its host (zones numbered in the order of
// their first GPU). Bandwidths are read off the route to another GPU (see simgrid_platform.cpp).
SimgridPlatform load_simgrid_platform(const std::filesystem::path& file, simgrid::s4u::Engine& engine);

struct PlatformSpec;  // moesim/topologies/platform_spec.hpp
// The same for a spec already loaded (tests, sweeps that edit a spec in memory).
SimgridPlatform build_simgrid_platform(const PlatformSpec& spec, simgrid::s4u::Engine& engine);

// CM02 without TCP corrections, then the user's calibration factors: called by both functions
// above; must run before the first netzone exists.
void configure_network_model(double bandwidth_factor, double latency_factor);

}  // namespace moesim::topologies
