#pragma once
// What `--platform` (and `moesim topo inspect|export`) names, and the one function that builds it
// into SimGrid:
//   - a YAML platform file or a preset name (platforms/), loaded by load_platform_spec();
//   - a SimGrid XML file, taken as it is;
//   - a platform spec written on the command line, for hand-checkable platforms:
//       switch:GPUS[:LINK_Bps[:LATENCY_s]]   GPUs on one non-blocking switch, one full-duplex port each
//       cluster:NODES:GPUS_PER_NODE          NVSwitch nodes, one NIC per GPU, one non-blocking switch
//     Both become a PlatformSpec, exactly what a YAML file would give, and go through the same
//     fabric, Boost.Graph checks, SimGrid builder, inspect and export as files do.
//
//   switch:                               cluster:
//   GPU0 ─port─┐                          node 0: GPU0 ─nvlink─┐              ┌─nic─ GPU0 ...
//   GPU1 ─port─┼─ non-blocking switch             GPU1 ─nvlink─┼─ NVSwitch   │
//   GPU2 ─port─┘                                               └ GPUi ─nic─ non-blocking switch ─ nodes
#include <optional>
#include <string>

#include "moesim/topologies/platform_spec.hpp"
#include "moesim/topologies/simgrid_platform.hpp"

namespace moesim::topologies {

// Defaults of the specs built in code (per direction).
inline constexpr double kDefaultPortBps = 50e9;          // 400 Gb/s NIC
inline constexpr double kDefaultPortLatency_s = 1e-6;    // GPU -> GPU over the switch, one way
inline constexpr double kDefaultNvlinkBps = 450e9;       // H100 NVLink4, 18 links
inline constexpr double kDefaultNvlinkLatency_s = 0.5e-6;

// The specs behind switch:/cluster: (the hand-checkable platforms of tests and benchmarks). Latencies
// are GPU -> GPU one way: half on the sending port or NIC, half on the receiving one.
PlatformSpec switch_platform_spec(int gpus, double port_Bps = kDefaultPortBps, double latency_s = kDefaultPortLatency_s);
PlatformSpec cluster_platform_spec(int nodes, int gpus_per_node, double nvlink_Bps = kDefaultNvlinkBps,
                                   double nvlink_latency_s = kDefaultNvlinkLatency_s, double nic_Bps = kDefaultPortBps,
                                   double nic_latency_s = kDefaultPortLatency_s);

struct PlatformSource {
  std::string text;                  // as given
  std::optional<PlatformSpec> spec;  // set for switch:/cluster:; empty for a file or preset name
};

// Throws InputError for a malformed or out-of-range spec ("--platform switch:2.7: ...").
PlatformSource parse_platform_source(const std::string& text);

// The spec behind a source that is not SimGrid XML (a spec, a YAML file or a preset).
PlatformSpec load_spec(const PlatformSource& source);
// True when the source is a SimGrid XML file (by extension).
bool is_simgrid_xml(const PlatformSource& source);

// Builds the source into the process's SimGrid engine (which must exist and hold no zone yet).
SimgridPlatform build_platform(const PlatformSource& source, simgrid::s4u::Engine& engine);

}  // namespace moesim::topologies
