#include "moesim/sim/builtin_platforms.hpp"

#include <fmt/format.h>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Host.hpp>
#include <simgrid/s4u/Link.hpp>
#include <simgrid/s4u/NetZone.hpp>

#include <stdexcept>

#include "moesim/common/error.hpp"
#include "moesim/topologies/platform_spec.hpp"

namespace moesim::sim {
namespace sg4 = simgrid::s4u;
using Dir = sg4::LinkInRoute::Direction;

// GPU hosts compute nothing in SimGrid (expert compute is modelled in closed form), but a host
// needs a speed: 1 Tflop/s is an arbitrary placeholder.
static constexpr double kHostSpeed_flops = 1e12;

void configure_flow_model() {
  // CM02 is plain max-min bandwidth sharing with latency; LV08's TCP corrections (latency ×13.01,
  // bandwidth ×0.97, TCP-gamma window, cross-traffic of ACKs) do not hold for NVLink or RDMA.
  sg4::Engine::set_config("network/model:CM02");
  sg4::Engine::set_config("network/crosstraffic:0");
  sg4::Engine::set_config("network/TCP-gamma:0");
}

static void check_positive(double v, const char* what) {
  if (!(v > 0)) throw InputError(fmt::format("platform: {} must be > 0, got {}", what, v));
}

topologies::SimgridPlatform build_switch_platform(const SwitchPlatformSpec& spec) {
  if (spec.gpus < 1) throw InputError(fmt::format("platform: switch needs >= 1 GPU, got {}", spec.gpus));
  check_positive(spec.link_Bps, "link bandwidth");
  if (spec.latency_s < 0) throw InputError("platform: latency must be >= 0");
  configure_flow_model();
  // A star zone routes src -> dst over src's link (up) then dst's link (down): exactly a
  // non-blocking switch with one full-duplex port per GPU.
  auto* zone = sg4::create_star_zone("switch");
  topologies::SimgridPlatform p;
  p.name = fmt::format("switch:{}", spec.gpus);
  p.gpus_per_node = 1;
  for (int g = 0; g < spec.gpus; ++g) {
    auto* host = zone->create_host(fmt::format("gpu{}", g), kHostSpeed_flops);
    auto* link = zone->create_split_duplex_link(fmt::format("port{}", g), spec.link_Bps)->set_latency(spec.latency_s / 2);
    link->seal();
    zone->add_route(host->get_netpoint(), nullptr, nullptr, nullptr, {sg4::LinkInRoute(link, Dir::UP)}, true);
    p.gpus.push_back(host);
    p.node_of_gpu.push_back(g);
    p.egress_Bps.push_back(spec.link_Bps);
    p.ingress_Bps.push_back(spec.link_Bps);
    p.scaleout_egress_Bps.push_back(spec.link_Bps);
  }
  zone->seal();
  p.intra_node_latency_s = spec.latency_s;
  p.inter_node_latency_s = spec.latency_s;
  return p;
}

topologies::SimgridPlatform build_cluster_platform(const ClusterPlatformSpec& spec) {
  if (spec.nodes < 1 || spec.gpus_per_node < 1)
    throw InputError(fmt::format("platform: cluster needs >= 1 node and >= 1 GPU per node, got {}:{}", spec.nodes,
                                 spec.gpus_per_node));
  check_positive(spec.nvlink_Bps, "NVLink bandwidth");
  check_positive(spec.nic_Bps, "NIC bandwidth");
  configure_flow_model();
  auto* zone = sg4::create_full_zone("cluster");
  topologies::SimgridPlatform p;
  p.name = fmt::format("cluster:{}:{}", spec.nodes, spec.gpus_per_node);
  p.gpus_per_node = spec.gpus_per_node;
  const int n = spec.nodes * spec.gpus_per_node;
  std::vector<sg4::Link*> nvlink(n), nic(n);
  for (int g = 0; g < n; ++g) {
    p.gpus.push_back(zone->create_host(fmt::format("node{}-gpu{}", g / spec.gpus_per_node, g % spec.gpus_per_node),
                                       kHostSpeed_flops));
    p.node_of_gpu.push_back(g / spec.gpus_per_node);
    nvlink[g] = zone->create_split_duplex_link(fmt::format("nvlink{}", g), spec.nvlink_Bps)
                    ->set_latency(spec.nvlink_latency_s / 2)
                    ->seal();
    nic[g] = zone->create_split_duplex_link(fmt::format("nic{}", g), spec.nic_Bps)->set_latency(spec.nic_latency_s / 2)->seal();
    p.egress_Bps.push_back(spec.nvlink_Bps);
    p.ingress_Bps.push_back(spec.nvlink_Bps);
    p.scaleout_egress_Bps.push_back(spec.nodes > 1 ? spec.nic_Bps : 0.0);
  }
  // Inside a node: NVLink up, NVSwitch, NVLink down. Across nodes: the GPU's own NIC (rail) up, a
  // non-blocking fabric, the destination GPU's NIC down.
  for (int s = 0; s < n; ++s)
    for (int d = 0; d < n; ++d) {
      if (s == d) continue;
      bool same_node = p.node_of_gpu[s] == p.node_of_gpu[d];
      auto& links = same_node ? nvlink : nic;
      zone->add_route(p.gpus[s]->get_netpoint(), p.gpus[d]->get_netpoint(), nullptr, nullptr,
                      {sg4::LinkInRoute(links[s], Dir::UP), sg4::LinkInRoute(links[d], Dir::DOWN)}, false);
    }
  zone->seal();
  p.intra_node_latency_s = spec.nvlink_latency_s;
  p.inter_node_latency_s = spec.nodes > 1 ? spec.nic_latency_s : 0.0;
  return p;
}

static double parse_number(const std::string& text, const std::string& field, const std::string& whole) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(field, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != field.size())
    throw InputError(fmt::format("--platform {}: '{}' is not a number (expected {})", whole, field, text));
  return v;
}

PlatformSource parse_platform_source(const std::string& text) {
  PlatformSource src;
  src.text = text;
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (true) {
    auto colon = text.find(':', pos);
    parts.push_back(text.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  if (parts[0] == "switch") {
    src.kind = PlatformSource::Kind::kSwitch;
    if (parts.size() < 2 || parts.size() > 4)
      throw InputError(fmt::format("--platform {}: expected switch:GPUS[:LINK_Bps[:LATENCY_s]]", text));
    src.switch_spec.gpus = static_cast<int>(parse_number("a GPU count", parts[1], text));
    if (parts.size() > 2) src.switch_spec.link_Bps = parse_number("bytes/s", parts[2], text);
    if (parts.size() > 3) src.switch_spec.latency_s = parse_number("seconds", parts[3], text);
  } else if (parts[0] == "cluster") {
    src.kind = PlatformSource::Kind::kCluster;
    if (parts.size() != 3) throw InputError(fmt::format("--platform {}: expected cluster:NODES:GPUS_PER_NODE", text));
    src.cluster_spec.nodes = static_cast<int>(parse_number("a node count", parts[1], text));
    src.cluster_spec.gpus_per_node = static_cast<int>(parse_number("a GPU count", parts[2], text));
  }
  return src;
}

}  // namespace moesim::sim

namespace moesim::sim {

topologies::SimgridPlatform build_platform(const PlatformSource& source) {
  switch (source.kind) {
    case PlatformSource::Kind::kSwitch: return build_switch_platform(source.switch_spec);
    case PlatformSource::Kind::kCluster: return build_cluster_platform(source.cluster_spec);
    case PlatformSource::Kind::kFile: break;
  }
  // A YAML or SimGrid XML file, or a preset name from platforms/: topologies/ owns those.
  auto path = topologies::resolve_platform_path(source.text);
  return topologies::load_simgrid_platform(path, *sg4::Engine::get_instance());
}

}  // namespace moesim::sim
