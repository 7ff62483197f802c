// Fabric -> SimGrid zones, two levels deep so that SimGrid resolves a route with three table
// lookups (measured: 4 us per route at 1024 GPUs, against 9 us for one nested star zone per tier):
//
//   fabric (Full)  one zoneRoute per pair of nodes: the scale-out links between their NICs' leaves
//     ├─ node0 (Full)  GPUs + router node0/gw; routes GPU<->GPU (NVLink/mesh) and GPU<->gw (NIC)
//     ├─ node1 (Full)
//     ...
// A single switch needs no pairwise table: the root is then a Star zone (node -> switch -> node).
// Storage is nodes² zone routes + g² routes per node: 262k routes for 4096 GPUs in 512 nodes,
// never the N² = 16.7M GPU pairs.
//
// Every link is created in the root zone before any child zone exists: SimGrid 3.32 checks a new
// link's name against every zone's links, which is quadratic when links are spread over 500 zones.
//
// Links: every physical link is split-duplex (full-duplex cables: each direction its own capacity).
// Switches are FATPIPE links that carry the switch latency: a non-blocking switch limits no flow
// but its per-port links, and a FATPIPE is never shared.
#include "moesim/topologies/simgrid_platform.hpp"

#include <fmt/format.h>
#include <simgrid/kernel/resource/NetworkModelIntf.hpp>
#include <simgrid/s4u.hpp>
#include <xbt/log.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <sstream>
#include <unordered_set>

#include "moesim/common/error.hpp"
#include "moesim/topologies/fabric.hpp"
#include "moesim/topologies/platform_spec.hpp"
#include "moesim/topologies/topology_checks.hpp"
#include "simgrid_xml_check.hpp"

namespace sg4 = simgrid::s4u;
using Direction = sg4::LinkInRoute::Direction;

namespace moesim::topologies {
namespace {

// GPUs only run flows in moesim (compute is a duration in sim/), so their speed is a placeholder.
constexpr double kGpuHostFlops = 1e12;

void configure_network_model_once(double bandwidth_factor, double latency_factor, bool size_dependent_factor = false) {
  // LV08 (SimGrid's default) models TCP over Ethernet: latency x13.01, bandwidth x0.97, cross-traffic
  // of ACKs, a 4 MiB TCP window. None of that holds for NVLink or RDMA NICs: CM02 is the plain
  // max-min fluid model (time = latency + bytes / fair-share bandwidth), and the factors become the
  // user's calibration (1 = nominal).
  xbt_log_control_set("xbt_cfg.thresh:warning");  // one INFO line per setting below is noise for moesim users
  sg4::Engine::set_config("network/model:CM02");
  sg4::Engine::set_config("network/crosstraffic:0");
  sg4::Engine::set_config("network/TCP-gamma:0");
  // SimGrid refuses a bandwidth-factor setting together with a factor callback (and 3.32 reads the
  // setting as one number only): a size-dependent factor is installed as a callback instead.
  if (!size_dependent_factor) sg4::Engine::set_config(fmt::format("network/bandwidth-factor:{}", bandwidth_factor));
  sg4::Engine::set_config(fmt::format("network/latency-factor:{}", latency_factor));
  // SimGrid 3.32's default lazy update re-solves only the links it marks modified and can give flows
  // more than a link carries on skewed all-to-alls (sim/README.md has a 4-GPU case); the full update
  // is exact max-min at about the same cost.
  sg4::Engine::set_config("network/optim:Full");
  // Solver settings for experiments ("maxmin/precision:1e-6 network/optim:Lazy") come last and win.
  if (const char* extra = std::getenv("MOESIM_SIMGRID_CFG")) {
    std::istringstream words(extra);
    for (std::string w; words >> w;) sg4::Engine::set_config(w);
  }
}

// calibration.bandwidth_factors: SimGrid asks for each communication's factor by its size. CM02
// multiplies the flow's bound by it (factor x the narrowest link of its route,
// NetworkCm02Model::comm_action_set_bounds); the links are then shared max-min as usual, so a
// capped small message leaves the rest of the link to the others.
void install_size_dependent_factor(const CalibrationSpec& calibration, sg4::NetZone* zone) {
  if (calibration.bandwidth_factors.empty()) return;
  zone->get_network_model()->set_bw_factor_cb(
      [calibration](double size, const sg4::Host*, const sg4::Host*, const std::vector<sg4::Link*>&,
                    const std::unordered_set<sg4::NetZone*>&) { return calibration.bandwidth_factor_for(size); });
}

// Creates the SimGrid links of the fabric and answers "which link is this edge / switch".
class LinkTable {
 public:
  LinkTable(const Fabric& f, const NodeSpec& node)
      : f_(f), edge_link_(f.links.size(), nullptr), switch_link_(f.vertices.size(), nullptr), port_sums_(port_bandwidth_sums(f)),
        duplex_Bps_(node.duplex_bandwidth_Bps), flow_Bps_(node.flow_bandwidth_Bps),
        copy_Bps_(node.local_copy_bandwidth_Bps) {}

  void create_all(sg4::NetZone* zone) {
    for (std::size_t e = 0; e < f_.links.size(); ++e) create_edge(static_cast<int>(e), zone);
    create_duplex_caps(zone);
    create_copy_links(zone);
    for (std::size_t v = 0; v < f_.vertices.size(); ++v)
      if (f_.vertices[v].kind == VertexKind::nvswitch || f_.vertices[v].kind == VertexKind::switch_group)
        create_switch(static_cast<int>(v), zone);
  }

  void create_edge(int index, sg4::NetZone* zone) {
    const FabricLink& l = f_.links[static_cast<std::size_t>(index)];
    if (l.failed || l.bandwidth_Bps == kUnlimitedBps) return;  // a route never lists it
    sg4::SplitDuplexLink* link = zone->create_split_duplex_link(l.name, l.bandwidth_Bps);
    link->set_latency(l.latency_s)->seal();
    edge_link_[static_cast<std::size_t>(index)] = link;
  }

  // node.duplex_bandwidth: one SHARED link per GPU that its outgoing and its incoming flows both
  // cross, so that send + receive together never exceed it.
  void create_duplex_caps(sg4::NetZone* zone) {
    if (duplex_Bps_ <= 0) return;
    for (int g = 0; g < f_.gpus; ++g)
      duplex_link_.push_back(zone->create_link(f_.vertices[static_cast<std::size_t>(g)].name + "/duplex", duplex_Bps_)
                                 ->set_sharing_policy(sg4::Link::SharingPolicy::SHARED)
                                 ->set_latency(0)
                                 ->seal());
  }
  void append_duplex(int gpu, std::vector<sg4::LinkInRoute>& route) const {
    if (!duplex_link_.empty()) route.emplace_back(duplex_link_[static_cast<std::size_t>(gpu)]);
  }

  // node.local_copy_bandwidth: the all-to-all's diagonal is a copy inside the GPU. NCCL moves it in
  // the same kernel as the peers' data (a send/recv with peer == rank: src/device/sendrecv.h copies
  // the send buffer into the receive buffer with the channel's threads), so it is a flow of its own on
  // the GPU's self route: its copy link, then the duplex link it shares with the GPU's other traffic.
  void create_copy_links(sg4::NetZone* zone) {
    if (copy_Bps_ <= 0) return;
    for (int g = 0; g < f_.gpus; ++g)
      copy_link_.push_back(zone->create_link(f_.vertices[static_cast<std::size_t>(g)].name + "/copy", copy_Bps_)
                               ->set_sharing_policy(sg4::Link::SharingPolicy::SHARED)
                               ->set_latency(0)
                               ->seal());
  }
  bool copies_locally() const { return !copy_link_.empty(); }
  void self_route(int gpu, std::vector<sg4::LinkInRoute>& route) const {
    route.clear();
    route.emplace_back(copy_link_[static_cast<std::size_t>(gpu)]);
    append_duplex(gpu, route);
  }

  void create_switch(int vertex, sg4::NetZone* zone) {
    const FabricVertex& v = f_.vertices[static_cast<std::size_t>(vertex)];
    // A non-blocking switch without latency and without a per-flow cap changes no flow's time (its
    // FATPIPE bounds a flow at the sum of all ports, above the flow's own port), yet SimGrid's lmm
    // rescans every flow on it at each event: O(flows^2) on a switch:N backplane. Left out.
    bool caps_flows = v.kind == VertexKind::nvswitch && flow_Bps_ > 0;
    if (v.latency_s == 0 && !caps_flows) return;
    double backplane_Bps = port_sums_[static_cast<std::size_t>(vertex)];  // a FATPIPE caps each flow, never the sum
    // node.nvswitch.flow_bandwidth: the NVSwitch's FATPIPE is where every GPU -> GPU flow of the
    // node passes once, and a FATPIPE bounds each flow without sharing: a per-flow limit.
    if (v.kind == VertexKind::nvswitch && flow_Bps_ > 0) backplane_Bps = std::min(backplane_Bps, flow_Bps_);
    if (backplane_Bps <= 0) backplane_Bps = 1;
    switch_link_[static_cast<std::size_t>(vertex)] = zone->create_link(v.name, backplane_Bps)
                                                         ->set_sharing_policy(sg4::Link::SharingPolicy::FATPIPE)
                                                         ->set_latency(v.latency_s)
                                                         ->seal();
  }

  // Edge traversed from vertex `from`: UP from its a-end, DOWN from its b-end.
  void append_edge(int index, int from, std::vector<sg4::LinkInRoute>& route) const {
    append_edge(index, f_.links[static_cast<std::size_t>(index)].a == from, route);
  }
  void append_edge(int index, bool up, std::vector<sg4::LinkInRoute>& route) const {
    if (const sg4::SplitDuplexLink* link = edge_link_[static_cast<std::size_t>(index)])
      route.emplace_back(link, up ? Direction::UP : Direction::DOWN);
  }
  void append(const std::vector<RouteHop>& hops, std::vector<sg4::LinkInRoute>& route) const {
    route.clear();
    for (const RouteHop& h : hops) {
      if (h.switch_vertex >= 0) append_switch(h.switch_vertex, route);
      else append_edge(h.link, h.up, route);
    }
  }
  void append_switch(int vertex, std::vector<sg4::LinkInRoute>& route) const {
    if (const sg4::Link* link = switch_link_[static_cast<std::size_t>(vertex)]) route.emplace_back(link);
  }

 private:
  const Fabric& f_;
  std::vector<sg4::SplitDuplexLink*> edge_link_;
  std::vector<sg4::Link*> switch_link_;
  std::vector<double> port_sums_;
  double duplex_Bps_ = 0, flow_Bps_ = 0, copy_Bps_ = 0;
  std::vector<sg4::Link*> duplex_link_;  // per GPU, empty without node.duplex_bandwidth
  std::vector<sg4::Link*> copy_link_;    // per GPU, empty without node.local_copy_bandwidth
};

[[noreturn]] void unroutable(const PlatformSpec& spec, const Fabric& f, int a, int b) {
  throw InputError(located(spec.file, fmt::format("no route from {} to {} (a failed link disconnects them)",
                                                  f.vertices[static_cast<std::size_t>(a)].name,
                                                  f.vertices[static_cast<std::size_t>(b)].name)));
}

// One node: a Full zone with its GPUs, its NVSwitch/mesh/NIC links and a gateway standing for the leaf.
std::pair<sg4::NetZone*, simgrid::kernel::routing::NetPoint*> build_node_zone(const PlatformSpec& spec,
                                                                               const Fabric& f, int n,
                                                                               sg4::NetZone* parent,
                                                                               LinkTable& links,
                                                                               SimgridPlatform& out) {
  const int g = spec.node.gpus;
  sg4::NetZone* zone = sg4::create_full_zone(fmt::format("node{}", n));
  if (parent) zone->set_parent(parent);
  else links.create_all(zone);  // a single node is the root zone: its links live in it
  std::vector<simgrid::kernel::routing::NetPoint*> gpu_points;
  for (int i = 0; i < g; ++i) {
    sg4::Host* host = zone->create_host(f.vertices[static_cast<std::size_t>(n * g + i)].name, kGpuHostFlops)->seal();
    out.gpus[static_cast<std::size_t>(n * g + i)] = host;
    gpu_points.push_back(host->get_netpoint());
  }
  const int leaf = parent ? f.group_vertex[static_cast<std::size_t>(f.group_of_node(n))] : -1;
  NodeRoutes router(f, n, leaf);
  std::vector<RouteHop> hops;
  std::vector<sg4::LinkInRoute> route;
  for (int i = 0; i < g; ++i)
    for (int j = i + 1; j < g; ++j) {
      if (!router.route(n * g + i, n * g + j, hops)) unroutable(spec, f, n * g + i, n * g + j);
      links.append(hops, route);
      links.append_duplex(n * g + i, route);
      links.append_duplex(n * g + j, route);
      zone->add_route(gpu_points[static_cast<std::size_t>(i)], gpu_points[static_cast<std::size_t>(j)], nullptr,
                      nullptr, route, true);
    }
  if (links.copies_locally())
    for (int i = 0; i < g; ++i) {
      links.self_route(n * g + i, route);
      zone->add_route(gpu_points[static_cast<std::size_t>(i)], gpu_points[static_cast<std::size_t>(i)], nullptr,
                      nullptr, route, false);
    }
  simgrid::kernel::routing::NetPoint* gateway = nullptr;
  if (parent) {
    gateway = zone->create_router(fmt::format("node{}/gw", n));
    for (int i = 0; i < g; ++i) {
      if (!router.route(n * g + i, leaf, hops)) unroutable(spec, f, n * g + i, leaf);
      links.append(hops, route);
      links.append_duplex(n * g + i, route);
      zone->add_route(gpu_points[static_cast<std::size_t>(i)], gateway, nullptr, nullptr, route, true);
    }
  }
  zone->seal();
  return {zone, gateway};
}

void fill_figures(const PlatformSpec& spec, const Fabric& f, SimgridPlatform& out) {
  const int n_gpus = spec.gpu_count();
  out.name = spec.name;
  out.gpus_per_node = spec.node.gpus;
  out.node_count = spec.nodes;
  out.node_of_gpu.resize(static_cast<std::size_t>(n_gpus));
  out.egress_Bps.assign(static_cast<std::size_t>(n_gpus), 0);
  out.scaleout_egress_Bps.assign(static_cast<std::size_t>(n_gpus), 0);
  for (int gpu = 0; gpu < n_gpus; ++gpu) out.node_of_gpu[static_cast<std::size_t>(gpu)] = gpu / spec.node.gpus;
  // Scale-out: the GPU's share of its NIC (and no more than its PCIe link).
  if (spec.nodes > 1)
    for (int gpu = 0; gpu < n_gpus; ++gpu) {
      int n = gpu / spec.node.gpus, k = (gpu % spec.node.gpus) / spec.gpus_per_nic();
      const FabricLink& nic = f.link(fmt::format("node{}/nic{}", n, k));
      double share = nic.failed ? 0 : nic.bandwidth_Bps / spec.gpus_per_nic();
      const FabricLink& pcie = f.link(fmt::format("node{}/gpu{}/pcie", n, gpu % spec.node.gpus));
      share = pcie.failed ? 0 : std::min(share, pcie.bandwidth_Bps);
      out.scaleout_egress_Bps[static_cast<std::size_t>(gpu)] = share;
    }
  // Intra-node: the GPU's own NVLinks or mesh links. Egress = both, since a GPU drives them at once.
  // A node of one GPU has no peer behind its NVSwitch: its egress is its NIC alone (switch:N).
  out.intra_node_egress_Bps.assign(static_cast<std::size_t>(n_gpus), 0);
  for (const FabricLink& l : spec.node.gpus > 1 ? f.links : std::vector<FabricLink>{}) {
    if (l.failed || l.bandwidth_Bps == kUnlimitedBps) continue;
    if (f.vertices[static_cast<std::size_t>(l.b)].kind == VertexKind::nic) continue;  // pcie: counted above
    if (l.a < n_gpus) out.intra_node_egress_Bps[static_cast<std::size_t>(l.a)] += l.bandwidth_Bps;
    if (l.b < n_gpus) out.intra_node_egress_Bps[static_cast<std::size_t>(l.b)] += l.bandwidth_Bps;
  }
  for (int gpu = 0; gpu < n_gpus; ++gpu)
    out.egress_Bps[static_cast<std::size_t>(gpu)] =
        out.intra_node_egress_Bps[static_cast<std::size_t>(gpu)] + out.scaleout_egress_Bps[static_cast<std::size_t>(gpu)];
  if (spec.node.duplex_bandwidth_Bps > 0)  // one direction alone never exceeds the duplex cap either
    for (double& e : out.egress_Bps) e = std::min(e, spec.node.duplex_bandwidth_Bps);
  out.ingress_Bps = out.egress_Bps;  // every link is full duplex with equal directions
  out.local_copy_Bps = spec.node.local_copy_bandwidth_Bps;
  out.duplex_Bps = spec.node.duplex_bandwidth_Bps;
  out.intra_node_latency_s = spec.node.latency_s;
  if (spec.nodes > 1) out.inter_node_latency_s = worst_inter_node_latency_s(spec, f);
}

std::string describe_calibration(const CalibrationSpec& c) {
  std::string source = c.source.empty() ? "nominal" : c.source;
  if (c.bandwidth_factor == 1 && c.latency_factor == 1 && c.bandwidth_factors.empty())
    return c.source.empty() ? "nominal (no calibration)" : source;
  std::string text = fmt::format("{}: bandwidth x{:g}, latency x{:g}", source, c.bandwidth_factor, c.latency_factor);
  if (!c.bandwidth_factors.empty())
    text += fmt::format(", bandwidth factor by message size ({} points, x{:g} at {:.0f} B ... x{:g} at {:.0f} B)",
                        c.bandwidth_factors.size(), c.bandwidth_factors.front().factor,
                        c.bandwidth_factors.front().message_bytes, c.bandwidth_factors.back().factor,
                        c.bandwidth_factors.back().message_bytes);
  return text;
}

}  // namespace

void configure_network_model(double bandwidth_factor, double latency_factor) {
  configure_network_model_once(bandwidth_factor, latency_factor);
}

SimgridPlatform build_simgrid_platform(const PlatformSpec& spec, sg4::Engine& engine) {
  (void)engine;  // the engine singleton owns the zones; taking it makes the precondition visible
  Fabric f = build_fabric(spec);
  TopologyReport report = check_topology(spec, f, {false});  // throws InputError if a GPU pair is unroutable
  configure_network_model_once(spec.calibration.bandwidth_factor, spec.calibration.latency_factor,
                               !spec.calibration.bandwidth_factors.empty());

  SimgridPlatform out;
  out.gpus.resize(static_cast<std::size_t>(spec.gpu_count()));
  LinkTable links(f, spec.node);
  const bool single_node = spec.nodes == 1 || spec.scale_out.topology == ScaleOutTopology::none;
  const bool star = spec.scale_out.topology == ScaleOutTopology::single_switch;
  sg4::NetZone* root = single_node ? nullptr : star ? sg4::create_star_zone("fabric") : sg4::create_full_zone("fabric");
  if (single_node) {
    sg4::NetZone* zone = build_node_zone(spec, f, 0, nullptr, links, out).first;
    install_size_dependent_factor(spec.calibration, zone);
  } else {
    install_size_dependent_factor(spec.calibration, root);
    links.create_all(root);
    std::vector<std::pair<sg4::NetZone*, simgrid::kernel::routing::NetPoint*>> nodes;
    for (int n = 0; n < spec.nodes; ++n) nodes.push_back(build_node_zone(spec, f, n, root, links, out));
    std::vector<sg4::LinkInRoute> route;
    if (star) {
      // node -> switch -> node: the switch's FATPIPE on the way up (deduplicated by the star).
      links.append(scale_out_route(spec, f, 0, 0), route);
      for (auto [zone, gw] : nodes) root->add_route(zone->get_netpoint(), nullptr, gw, nullptr, route, true);
    } else {
      for (int a = 0; a < spec.nodes; ++a)
        for (int b = a + 1; b < spec.nodes; ++b) {
          links.append(scale_out_route(spec, f, a, b), route);
          auto [za, gwa] = nodes[static_cast<std::size_t>(a)];
          auto [zb, gwb] = nodes[static_cast<std::size_t>(b)];
          root->add_route(za->get_netpoint(), zb->get_netpoint(), gwa, gwb, route, true);
        }
    }
    root->seal();
  }
  fill_figures(spec, f, out);
  if (!spec.calibration.bandwidth_factors.empty())
    out.bandwidth_factor_of_bytes = [calibration = spec.calibration](double bytes) {
      return calibration.bandwidth_factor_for(bytes);
    };
  out.bisection_Bps = report.bisection_Bps;
  out.calibration = describe_calibration(spec.calibration);
  out.nominal = spec.calibration.nominal();
  return out;
}

}  // namespace moesim::topologies

// ---- SimGrid XML files, accepted as they are ---------------------------------------------------
namespace moesim::topologies {
namespace {

// "gpu2" < "gpu10": digit runs compare as numbers, so GPU indices follow the names users wrote.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      std::size_t i_end = a.find_first_not_of("0123456789", i), j_end = b.find_first_not_of("0123456789", j);
      if (i_end == std::string::npos) i_end = a.size();
      if (j_end == std::string::npos) j_end = b.size();
      std::string_view da(a.data() + i, i_end - i), db(b.data() + j, j_end - j);
      while (da.size() > 1 && da.front() == '0') da.remove_prefix(1);
      while (db.size() > 1 && db.front() == '0') db.remove_prefix(1);
      if (da.size() != db.size()) return da.size() < db.size();
      if (da != db) return da < db;
      i = i_end, j = j_end;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i, ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

// The link of the route a -> b nearest to `a` (from_source) or to `b` that is shared by the flows
// crossing it (SHARED, not a FATPIPE, which bounds each flow alone), with the route's latency. What a
// GPU can inject (receive) is the sum of these links over its routes: a bound that holds whatever
// the rest of the route (a degraded link at a peer lowers that peer's figure, not this GPU's).
struct EndLink {
  const sg4::Link* link = nullptr;
  double latency_s = 0;
};
EndLink shared_end_link(const sg4::Host* a, const sg4::Host* b, bool from_source) {
  std::vector<sg4::Link*> links;
  double latency_s = 0;
  a->route_to(b, links, &latency_s);
  if (!from_source) std::reverse(links.begin(), links.end());
  for (const sg4::Link* l : links)
    if (l->get_sharing_policy() != sg4::Link::SharingPolicy::FATPIPE) return {l, latency_s};
  return {links.empty() ? nullptr : links.front(), latency_s};
}

// Sum of the distinct end links' bandwidths.
double sum_distinct(std::vector<const sg4::Link*> links) {
  std::sort(links.begin(), links.end());
  links.erase(std::unique(links.begin(), links.end()), links.end());
  double total = 0;
  for (const sg4::Link* l : links)
    if (l) total += l->get_bandwidth();
  return total;
}

SimgridPlatform load_simgrid_xml(const std::filesystem::path& file, sg4::Engine& engine) {
  // The same model as our YAML platforms. SimGrid gives settings made in code precedence over a
  // <config> tag in the file (it logs "already defined by user"): documented in platforms/README.md.
  configure_network_model_once(1, 1);
  xbt_log_control_set("surf_parse.thresh:warning");  // its "already defined by user" INFO: documented instead
  check_simgrid_xml(file, engine);  // SimGrid crashes or aborts on some bad files: refuse them first
  try {
    engine.load_platform(file.string());
  } catch (const std::exception& e) {
    throw InputError(located(file, fmt::format("SimGrid could not load this platform: {}", e.what())));
  }
  std::vector<sg4::Host*> hosts = engine.get_all_hosts();
  if (hosts.empty()) throw InputError(located(file, "the platform has no host (GPUs are the hosts of the file)"));
  std::sort(hosts.begin(), hosts.end(),
            [](const sg4::Host* a, const sg4::Host* b) { return natural_less(a->get_name(), b->get_name()); });

  SimgridPlatform out;
  out.name = file.stem().string();
  out.calibration = "as the SimGrid XML file gives it";
  out.gpus = hosts;
  std::unordered_map<const sg4::NetZone*, int> node_of_zone;
  std::vector<std::vector<int>> members;
  for (std::size_t g = 0; g < hosts.size(); ++g) {
    auto [it, added] = node_of_zone.emplace(hosts[g]->get_englobing_zone(), static_cast<int>(members.size()));
    if (added) members.emplace_back();
    members[static_cast<std::size_t>(it->second)].push_back(static_cast<int>(g));
    out.node_of_gpu.push_back(it->second);
  }
  out.node_count = static_cast<int>(members.size());
  out.gpus_per_node = static_cast<int>(members.front().size());
  const std::size_t n = hosts.size();
  out.egress_Bps.assign(n, 0);
  out.intra_node_egress_Bps.assign(n, 0);
  out.scaleout_egress_Bps.assign(n, 0);
  out.ingress_Bps.assign(n, 0);
  // Per GPU: the shared links next to it on its routes to every GPU of its node, and on its route to
  // (from) a GPU of the next node (a NIC serves all remote peers alike).
  for (std::size_t g = 0; g < n; ++g) {
    const auto& mine = members[static_cast<std::size_t>(out.node_of_gpu[g])];
    std::vector<const sg4::Link*> out_links, in_links;
    for (int peer : mine) {
      if (peer == static_cast<int>(g)) continue;
      EndLink e = shared_end_link(hosts[g], hosts[static_cast<std::size_t>(peer)], true);
      out_links.push_back(e.link);
      in_links.push_back(shared_end_link(hosts[static_cast<std::size_t>(peer)], hosts[g], false).link);
      out.intra_node_latency_s = std::max(out.intra_node_latency_s, e.latency_s);
    }
    out.intra_node_egress_Bps[g] = sum_distinct(out_links);
    double intra_ingress_Bps = sum_distinct(in_links);
    double scaleout_ingress_Bps = 0;
    if (members.size() > 1) {
      const auto& next = members[static_cast<std::size_t>(out.node_of_gpu[g] + 1) % members.size()];
      const sg4::Host* remote = hosts[static_cast<std::size_t>(next.front())];
      EndLink e = shared_end_link(hosts[g], remote, true);
      out.scaleout_egress_Bps[g] = e.link ? e.link->get_bandwidth() : 0;
      const sg4::Link* in = shared_end_link(remote, hosts[g], false).link;
      scaleout_ingress_Bps = in ? in->get_bandwidth() : 0;
      out.inter_node_latency_s = std::max(out.inter_node_latency_s, e.latency_s);
    }
    out.egress_Bps[g] = out.intra_node_egress_Bps[g] + out.scaleout_egress_Bps[g];
    out.ingress_Bps[g] = intra_ingress_Bps + scaleout_ingress_Bps;
  }
  return out;
}

}  // namespace

SimgridPlatform load_simgrid_platform(const std::filesystem::path& file, sg4::Engine& engine) {
  if (file.extension() == ".xml") {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) throw InputError(located(file, "no such file"));
    return load_simgrid_xml(file, engine);
  }
  return build_simgrid_platform(load_platform_spec(file), engine);
}

}  // namespace moesim::topologies
