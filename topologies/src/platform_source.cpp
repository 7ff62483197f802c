// --platform: a file, a preset, or a switch:/cluster: spec built in code (see platform_source.hpp).
// The specs are PlatformSpecs like a YAML file's, held to the same limits (platform_spec.hpp), so
// everything downstream (fabric, checks, SimGrid, inspect, export) has one input shape.
#include "moesim/topologies/platform_source.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <vector>

#include "moesim/common/error.hpp"

namespace moesim::topologies {
namespace {

std::vector<std::string> split_colons(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (true) {
    auto colon = text.find(':', pos);
    parts.push_back(text.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
    if (colon == std::string::npos) return parts;
    pos = colon + 1;
  }
}

[[noreturn]] void bad_spec(const std::string& text, const std::string& why) {
  throw InputError(fmt::format("--platform {}: {}", text, why));
}

// A whole number in [1, max]: "2.7" or "1e3" are refused, not truncated.
int whole_number(const std::string& field, const char* what, long max, const std::string& text) {
  long value = 0;
  auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || ptr != field.data() + field.size() || field.empty())
    bad_spec(text, fmt::format("{} must be a whole number, got '{}'", what, field));
  if (value < 1 || value > max) bad_spec(text, fmt::format("{} must be between 1 and {}, got {}", what, max, value));
  return static_cast<int>(value);
}

// A finite number (inf and nan are refused: they would give an infinite or undefined time).
double finite_number(const std::string& field, const char* what, const std::string& text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || ptr != field.data() + field.size() || field.empty())
    bad_spec(text, fmt::format("{} must be a plain number, got '{}'", what, field));
  if (!std::isfinite(value)) bad_spec(text, fmt::format("{} must be finite, got '{}'", what, field));
  return value;
}

// One non-blocking switch as the scale-out network: per-port limits only, no switch latency (the
// spec's latency is all on the ports, half on each side).
ScaleOutSpec single_switch(double port_Bps) {
  ScaleOutSpec so;
  so.topology = ScaleOutTopology::single_switch;
  so.port_bandwidth_Bps = port_Bps;
  so.tiers.push_back(TierSpec{});
  return so;
}

PlatformSpec named_spec(const std::string& text, const std::string& description) {
  PlatformSpec spec;
  spec.name = text;
  spec.file = text;  // what error messages name
  spec.description = description;
  return spec;
}

// switch:GPUS[:LINK_Bps[:LATENCY_s]]
PlatformSpec parse_switch(const std::vector<std::string>& parts, const std::string& text) {
  if (parts.size() < 2 || parts.size() > 4) bad_spec(text, "expected switch:GPUS[:LINK_Bps[:LATENCY_s]]");
  int gpus = whole_number(parts[1], "the GPU count", kMaxPlatformGpus, text);
  double port_Bps = parts.size() > 2 ? finite_number(parts[2], "the link bandwidth (bytes/s)", text) : kDefaultPortBps;
  double latency_s = parts.size() > 3 ? finite_number(parts[3], "the latency (s)", text) : kDefaultPortLatency_s;
  if (!(port_Bps > 0)) bad_spec(text, fmt::format("the link bandwidth must be > 0, got {}", parts[2]));
  if (latency_s < 0) bad_spec(text, fmt::format("the latency must be >= 0, got {}", parts[3]));
  PlatformSpec spec = switch_platform_spec(gpus, port_Bps, latency_s);
  spec.name = spec.file = text;
  return spec;
}

// cluster:NODES:GPUS_PER_NODE
PlatformSpec parse_cluster(const std::vector<std::string>& parts, const std::string& text) {
  if (parts.size() != 3) bad_spec(text, "expected cluster:NODES:GPUS_PER_NODE");
  int nodes = whole_number(parts[1], "the node count", kMaxPlatformCount, text);
  int per_node = whole_number(parts[2], "the GPUs per node", kMaxPlatformGpusPerNode, text);
  if (static_cast<long long>(nodes) * per_node > kMaxPlatformGpus)
    bad_spec(text, fmt::format("{} nodes x {} GPUs is more than {} GPUs in all", nodes, per_node, kMaxPlatformGpus));
  PlatformSpec spec = cluster_platform_spec(nodes, per_node);
  spec.name = spec.file = text;
  return spec;
}

}  // namespace

// Each GPU is a node of one GPU whose NIC is its switch port.
PlatformSpec switch_platform_spec(int gpus, double port_Bps, double latency_s) {
  PlatformSpec spec = named_spec(fmt::format("switch:{}", gpus), "GPUs on one non-blocking switch (built in code)");
  spec.nodes = gpus;
  spec.node.gpus = 1;
  spec.node.link_bandwidth_Bps = port_Bps;  // a one-GPU node's NVSwitch carries nothing
  if (gpus > 1) {
    spec.node.nics = 1;
    spec.node.nic_bandwidth_Bps = port_Bps;
    spec.node.nic_latency_s = latency_s / 2;  // paid by sender and receiver: GPU -> GPU = latency
    spec.scale_out = single_switch(port_Bps);
  }
  return spec;
}

PlatformSpec cluster_platform_spec(int nodes, int gpus_per_node, double nvlink_Bps, double nvlink_latency_s,
                                   double nic_Bps, double nic_latency_s) {
  PlatformSpec spec = named_spec(fmt::format("cluster:{}:{}", nodes, gpus_per_node),
                                 "NVSwitch nodes, one NIC per GPU, one non-blocking switch (built in code)");
  spec.nodes = nodes;
  spec.node.gpus = gpus_per_node;
  spec.node.link_bandwidth_Bps = nvlink_Bps;
  spec.node.latency_s = nvlink_latency_s;
  if (nodes > 1) {
    spec.node.nics = gpus_per_node;
    spec.node.nic_bandwidth_Bps = nic_Bps;
    spec.node.nic_latency_s = nic_latency_s / 2;
    spec.scale_out = single_switch(nic_Bps);
  }
  return spec;
}

PlatformSource parse_platform_source(const std::string& text) {
  PlatformSource source;
  source.text = text;
  auto parts = split_colons(text);
  if (parts[0] == "switch") source.spec = parse_switch(parts, text);
  else if (parts[0] == "cluster") source.spec = parse_cluster(parts, text);
  return source;
}

bool is_simgrid_xml(const PlatformSource& source) {
  return !source.spec && resolve_platform_path(source.text).extension() == ".xml";
}

PlatformSpec load_spec(const PlatformSource& source) {
  if (source.spec) return *source.spec;
  return load_platform_spec(resolve_platform_path(source.text));
}

SimgridPlatform build_platform(const PlatformSource& source, simgrid::s4u::Engine& engine) {
  if (source.spec) return build_simgrid_platform(*source.spec, engine);
  return load_simgrid_platform(resolve_platform_path(source.text), engine);
}

}  // namespace moesim::topologies
