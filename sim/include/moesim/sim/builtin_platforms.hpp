#pragma once
// Small platforms built in code, for closed-form tests, benchmarks and quick runs without a
// platform file (`--platform switch:8` on the command line). Platform files (YAML / SimGrid XML)
// are topologies/' job; these two shapes exist because their answers can be worked out by hand.
//
//   switch:                               cluster:
//   GPU0 ─link─┐                          node 0: GPU0 ─nvlink─┐              ┌─nic─ GPU0 ...
//   GPU1 ─link─┼─ non-blocking switch             GPU1 ─nvlink─┼─ NVSwitch   │
//   GPU2 ─link─┘                                               └ GPUi ─nic─ non-blocking fabric ─ nodes
#include <string>

#include "moesim/topologies/simgrid_platform.hpp"

namespace moesim::sim {

inline constexpr double kDefaultLinkBps = 50e9;        // 400 Gb/s NIC, one direction
inline constexpr double kDefaultNvlinkBps = 450e9;     // H100 NVLink4, 18 links, one direction
inline constexpr double kDefaultLatency_s = 1e-6;      // one-way GPU -> GPU over the NIC fabric
inline constexpr double kDefaultNvlinkLatency_s = 0.5e-6;

struct SwitchPlatformSpec {
  int gpus = 2;
  double link_Bps = kDefaultLinkBps;  // each GPU's full-duplex link to the switch, one direction
  double latency_s = kDefaultLatency_s;  // one-way GPU -> GPU (half on each of the two links)
};

struct ClusterPlatformSpec {
  int nodes = 2;
  int gpus_per_node = 2;
  double nvlink_Bps = kDefaultNvlinkBps;
  double nvlink_latency_s = kDefaultNvlinkLatency_s;  // one-way GPU -> GPU inside a node
  double nic_Bps = kDefaultLinkBps;                   // per GPU (one NIC per GPU, rail-style)
  double nic_latency_s = kDefaultLatency_s;           // one-way GPU -> GPU across nodes
};

// Both set SimGrid's flow model for RDMA/NVLink fabrics (CM02, no TCP cross-traffic, no TCP window)
// and must therefore be called before any other zone exists in the engine.
topologies::SimgridPlatform build_switch_platform(const SwitchPlatformSpec& spec);
// Routes are listed per GPU pair (a Full zone): meant for up to a few hundred GPUs.
topologies::SimgridPlatform build_cluster_platform(const ClusterPlatformSpec& spec);

// What --platform names: "switch:GPUS[:LINK_Bps[:LATENCY_s]]", "cluster:NODES:GPUS_PER_NODE", or a file.
struct PlatformSource {
  std::string text;  // as given
  enum class Kind { kFile, kSwitch, kCluster } kind = Kind::kFile;
  SwitchPlatformSpec switch_spec;
  ClusterPlatformSpec cluster_spec;
};
PlatformSource parse_platform_source(const std::string& text);

// Builds the platform into the process's SimGrid engine (which must exist and hold no zone yet).
topologies::SimgridPlatform build_platform(const PlatformSource& source);

// SimGrid's flow-level settings for NVLink/RDMA fabrics (toolchain notes, pitfall 6).
void configure_flow_model();

}  // namespace moesim::sim
