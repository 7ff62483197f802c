#pragma once
// The contract between topologies/ (which owns platform files) and sim/ (which replays on them):
// a SimGrid platform built in the engine, with GPU index → host and the per-GPU figures the
// replay engine needs for its bandwidth lower bound.
#include <filesystem>
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
  std::vector<double> ingress_Bps;        // per GPU: the most it can absorb
  std::vector<double> scaleout_egress_Bps;// per GPU: NIC bandwidth towards other nodes (0 if single node)
  double intra_node_latency_s = 0;        // one-way GPU->GPU latency inside a node
  double inter_node_latency_s = 0;        // one-way GPU->GPU latency across nodes (0 if single node)
  std::string name;
};

// Loads a platform file (our YAML, or SimGrid XML by extension .xml) and builds it into `engine`.
// Sets SimGrid's network model configuration first (see topologies/README or platforms/README.md);
// must therefore be called before any other zone exists. Throws moesim::InputError on bad input.
SimgridPlatform load_simgrid_platform(const std::filesystem::path& file, simgrid::s4u::Engine& engine);

}  // namespace moesim::topologies
