// PlatformSpec -> Fabric: switch counts from the fat-tree closed forms, then every vertex and link
// with its name, bandwidth and latency, then the user's link overrides.
#include "moesim/topologies/fabric.hpp"

#include <fmt/format.h>

#include <cmath>

#include "moesim/common/error.hpp"

namespace moesim::topologies {
namespace {

int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Fills a switch's down ports in whole units (a node's NICs, or one leaf), keeping down:up exactly
// `ratio` with whole uplinks: the largest fit wins; ports left over stay unused, as in real racks.
std::string fit_ports(int radix, int unit, double ratio, int& units, int& down, int& up, const char* tier) {
  for (units = radix / unit; units >= 1; --units) {
    down = units * unit;
    double exact_up = down / ratio;
    up = static_cast<int>(std::lround(exact_up));
    if (std::abs(exact_up - up) < 1e-9 && up >= 1 && down + up <= radix) return "";
  }
  return fmt::format("k does not fit: no whole number of {}-port groups makes a {:g}:1 oversubscribed {} switch of {} ports",
                     unit, ratio, tier, radix);
}

// Tier 1 and 2 of a 3-tier network, once its groups (s.groups, each of `leaves_per_group` leaf
// switches) are known: a pod has leaf_up_ports aggregation switches, each with one port to every leaf
// of the pod, so it holds whole groups; the core joins at most `radix` pods.
std::string fit_pods(const ScaleOutSpec& so, int leaves_per_group, ScaleOutShape& s) {
  const int k = so.switch_radix;
  if (auto e = fit_ports(k, leaves_per_group, so.tiers[1].oversubscription, s.leaves_per_pod, s.agg_down_ports,
                         s.agg_up_ports, "aggregation");
      !e.empty())
    return e;
  s.pods = ceil_div(s.groups, s.leaves_per_pod);
  s.aggs = s.pods * s.leaf_up_ports;
  s.spines = ceil_div(s.aggs * s.agg_up_ports, k);
  s.capacity_nic_ports = k * s.leaves_per_pod * s.leaf_down_ports * leaves_per_group;
  return "";
}

}  // namespace

std::string scale_out_shape(const PlatformSpec& spec, ScaleOutShape& s) {
  s = ScaleOutShape{};
  const ScaleOutSpec& so = spec.scale_out;
  const int nics = spec.node.nics;
  const int nic_ports = spec.nodes * nics;
  switch (so.topology) {
    case ScaleOutTopology::none:
      return "";
    case ScaleOutTopology::single_switch:
      s.groups = 1, s.nodes_per_group = spec.nodes, s.leaf_switches = 1, s.capacity_nic_ports = nic_ports;
      s.leaf_down_ports = nic_ports;
      return "";
    case ScaleOutTopology::fat_tree: {
      const int k = so.switch_radix;
      if (auto e = fit_ports(k, nics, so.tiers[0].oversubscription, s.nodes_per_group, s.leaf_down_ports,
                             s.leaf_up_ports, "leaf");
          !e.empty())
        return e;
      s.groups = ceil_div(spec.nodes, s.nodes_per_group);
      s.leaf_switches = s.groups;
      if (so.tiers.size() == 2) {
        // Every leaf reaches every spine: at most `radix` leaves.
        s.capacity_nic_ports = k * s.leaf_down_ports;
        s.spines = ceil_div(s.groups * s.leaf_up_ports, k);
      } else {
        if (auto e = fit_pods(so, 1, s); !e.empty()) return e;
      }
      if (nic_ports > s.capacity_nic_ports)
        return fmt::format(
            "k does not fit: a {}-tier fat-tree of {}-port switches holds at most {} NIC ports, this platform has {} "
            "({} nodes x {} NICs); use more tiers or a larger switch_radix",
            so.tiers.size(), k, s.capacity_nic_ports, nic_ports, spec.nodes, nics);
      return "";
    }
    case ScaleOutTopology::rail_optimized: {
      // One leaf per rail per group of nodes; each node has one port on each of its group's rail leaves.
      const int k = so.switch_radix;
      if (auto e = fit_ports(k, 1, so.tiers[0].oversubscription, s.nodes_per_group, s.leaf_down_ports,
                             s.leaf_up_ports, "rail leaf");
          !e.empty())
        return e;
      s.groups = ceil_div(spec.nodes, s.nodes_per_group);
      s.leaf_switches = s.groups * nics;
      if (so.tiers.size() == 2) {
        // Every rail leaf reaches every spine: at most `radix` leaves, i.e. radix / rails groups.
        s.spines = ceil_div(s.leaf_switches * s.leaf_up_ports, k);
        s.capacity_nic_ports = (k / nics) * s.leaf_down_ports * nics;
      } else {
        // Pods of whole groups, all their rails (NVIDIA's SuperPOD scalable units).
        if (auto e = fit_pods(so, nics, s); !e.empty()) return e;
      }
      if (nic_ports > s.capacity_nic_ports)
        return fmt::format(
            "k does not fit: a {}-tier rail-optimized network of {}-port switches and {} rails holds at most {} NIC "
            "ports, this platform has {}; use {}a larger switch_radix",
            so.tiers.size(), k, nics, s.capacity_nic_ports, nic_ports, so.tiers.size() == 2 ? "3 tiers or " : "");
      return "";
    }
  }
  return "";
}

namespace {

class FabricBuilder {
 public:
  explicit FabricBuilder(Fabric& f) : f_(f) {}

  int vertex(std::string name, VertexKind kind, double latency_s = 0, int node = -1, int tier = -1, int switches = 0) {
    f_.vertices.push_back({std::move(name), kind, latency_s, node, tier, switches});
    return static_cast<int>(f_.vertices.size()) - 1;
  }
  void link(std::string name, int a, int b, double bandwidth_Bps, double latency_s, int parallel = 1) {
    f_.link_index.emplace(name, static_cast<int>(f_.links.size()));
    f_.links.push_back({std::move(name), a, b, bandwidth_Bps, latency_s, parallel, false});
  }

 private:
  Fabric& f_;
};

void add_nodes(const PlatformSpec& spec, Fabric& f, FabricBuilder& b) {
  const NodeSpec& node = spec.node;
  for (int n = 0; n < spec.nodes; ++n)
    for (int i = 0; i < node.gpus; ++i) b.vertex(fmt::format("node{}/gpu{}", n, i), VertexKind::gpu, 0, n);
  for (int n = 0; n < spec.nodes; ++n) {
    auto gpu = [&](int i) { return n * node.gpus + i; };
    if (node.fabric == IntraNodeFabric::nvswitch) {
      // The NVSwitch is non-blocking: it is a vertex (no capacity), and it carries the GPU->GPU latency.
      int sw = b.vertex(fmt::format("node{}/nvswitch", n), VertexKind::nvswitch, node.latency_s, n, -1, 1);
      f.nvswitch_of_node.push_back(sw);
      for (int i = 0; i < node.gpus; ++i)
        b.link(fmt::format("node{}/gpu{}/nvlink", n, i), gpu(i), sw, node.gpu_link_Bps(), 0, node.links);
    } else {
      f.nvswitch_of_node.push_back(-1);
      for (int i = 0; i < node.gpus; ++i)
        for (int j = i + 1; j < node.gpus; ++j)
          b.link(fmt::format("node{}/gpu{}-gpu{}", n, i, j), gpu(i), gpu(j), node.gpu_link_Bps(), node.latency_s,
                 node.links);
    }
    for (int k = 0; k < node.nics; ++k) f.nic_vertex.push_back(b.vertex(fmt::format("node{}/nic{}", n, k), VertexKind::nic, 0, n));
    for (int i = 0; i < node.gpus && node.nics > 0; ++i) {
      int nic = f.nic_vertex[static_cast<std::size_t>(n * node.nics + i / spec.gpus_per_nic())];
      b.link(fmt::format("node{}/gpu{}/pcie", n, i), gpu(i), nic,
             node.pcie_bandwidth_Bps > 0 ? node.pcie_bandwidth_Bps : kUnlimitedBps, 0);
    }
  }
}

void add_scale_out(const PlatformSpec& spec, Fabric& f, FabricBuilder& b) {
  const ScaleOutSpec& so = spec.scale_out;
  const ScaleOutShape& s = f.shape;
  if (so.topology == ScaleOutTopology::none) return;
  const bool rails = so.topology == ScaleOutTopology::rail_optimized;
  const bool three_tier = so.tiers.size() == 3;
  const char* group_name = so.topology == ScaleOutTopology::fat_tree ? "leaf{}" : rails ? "group{}/rails" : "switch";
  const int switches_per_group = rails ? spec.node.nics : 1;
  for (int g = 0; g < s.groups; ++g)
    f.group_vertex.push_back(b.vertex(fmt::format(fmt::runtime(group_name), g), VertexKind::switch_group,
                                      so.tiers[0].switch_latency_s, -1, 0, switches_per_group));
  // NIC -> its group's leaf: the NIC latency and the tier-0 cable on one link.
  for (int n = 0; n < spec.nodes; ++n)
    for (int k = 0; k < spec.node.nics; ++k)
      b.link(fmt::format("node{}/nic{}", n, k), f.nic_vertex[static_cast<std::size_t>(n * spec.node.nics + k)],
             f.group_vertex[static_cast<std::size_t>(f.group_of_node(n))], spec.node.nic_bandwidth_Bps,
             spec.node.nic_latency_s + so.tiers[0].link_latency_s);
  if (so.topology == ScaleOutTopology::single_switch) {
    f.top_vertex = f.group_vertex[0];
    return;
  }
  const int top_tier = three_tier ? 2 : 1;
  f.top_vertex = b.vertex(three_tier ? "core" : "spine", VertexKind::switch_group, so.tiers[top_tier].switch_latency_s,
                          -1, top_tier, s.spines);
  const int leaf_uplinks = s.leaf_up_ports * switches_per_group;
  if (!three_tier) {
    for (int g = 0; g < s.groups; ++g)
      b.link(fmt::format(fmt::runtime(rails ? "group{}/uplink" : "leaf{}/uplink"), g), f.group_vertex[static_cast<std::size_t>(g)],
             f.top_vertex, leaf_uplinks * so.port_bandwidth_Bps, so.tiers[1].link_latency_s, leaf_uplinks);
    return;
  }
  for (int p = 0; p < s.pods; ++p)
    f.pod_vertex.push_back(b.vertex(fmt::format("pod{}/agg", p), VertexKind::switch_group, so.tiers[1].switch_latency_s,
                                    -1, 1, s.leaf_up_ports));
  for (int g = 0; g < s.groups; ++g)
    b.link(fmt::format(fmt::runtime(rails ? "group{}/uplink" : "leaf{}/uplink"), g), f.group_vertex[static_cast<std::size_t>(g)],
           f.pod_vertex[static_cast<std::size_t>(g / s.leaves_per_pod)], leaf_uplinks * so.port_bandwidth_Bps,
           so.tiers[1].link_latency_s, leaf_uplinks);
  const int pod_uplinks = s.leaf_up_ports * s.agg_up_ports;  // aggs per pod x uplinks per agg
  for (int p = 0; p < s.pods; ++p)
    b.link(fmt::format("pod{}/uplink", p), f.pod_vertex[static_cast<std::size_t>(p)], f.top_vertex,
           pod_uplinks * so.port_bandwidth_Bps, so.tiers[2].link_latency_s, pod_uplinks);
}

void apply_overrides(const PlatformSpec& spec, Fabric& f) {
  for (const LinkOverride& o : spec.link_overrides) {
    auto it = f.link_index.find(o.link);
    if (it == f.link_index.end()) {
      std::vector<std::string> names;
      names.reserve(f.links.size());
      for (const auto& l : f.links) names.push_back(l.name);
      std::string hint = closest_name(o.link, names);
      throw InputError(located(o.file, o.line, o.column,
                               fmt::format("no link named '{}' on this platform{}", o.link,
                                           hint.empty() ? " (moesim topo inspect --links lists them)"
                                                        : fmt::format(" (did you mean '{}'?)", hint))));
    }
    FabricLink& l = f.links[static_cast<std::size_t>(it->second)];
    if (o.failed) l.failed = true;
    if (o.bandwidth_Bps) l.bandwidth_Bps = *o.bandwidth_Bps;
    if (o.latency_s) l.latency_s = *o.latency_s;
  }
}

}  // namespace

Fabric build_fabric(const PlatformSpec& spec) {
  Fabric f;
  f.gpus = spec.gpu_count();
  if (std::string why = scale_out_shape(spec, f.shape); !why.empty()) throw InputError(located(spec.file, why));
  FabricBuilder b(f);
  add_nodes(spec, f, b);
  add_scale_out(spec, f, b);
  apply_overrides(spec, f);
  return f;
}

std::vector<RouteHop> scale_out_route(const PlatformSpec& spec, const Fabric& f, int a, int b) {
  const ScaleOutShape& s = f.shape;
  const bool rails = spec.scale_out.topology == ScaleOutTopology::rail_optimized;
  const bool three_tier = spec.scale_out.tiers.size() == 3;
  auto uplink = [&](int g) {
    return f.link_index.at(fmt::format(fmt::runtime(rails ? "group{}/uplink" : "leaf{}/uplink"), g));
  };
  const int ga = f.group_of_node(a), gb = f.group_of_node(b);
  std::vector<RouteHop> up{{-1, f.group_vertex[static_cast<std::size_t>(ga)], true}};
  if (ga == gb) return up;  // the same leaf, crossed once
  std::vector<RouteHop> down{{-1, f.group_vertex[static_cast<std::size_t>(gb)], true}};
  up.push_back({uplink(ga), -1, true});
  down.push_back({uplink(gb), -1, false});
  const int pa = three_tier ? ga / s.leaves_per_pod : -1, pb = three_tier ? gb / s.leaves_per_pod : -1;
  if (three_tier) up.push_back({-1, f.pod_vertex[static_cast<std::size_t>(pa)], true});
  if (!three_tier || pa != pb) {
    if (three_tier) {
      up.push_back({f.link_index.at(fmt::format("pod{}/uplink", pa)), -1, true});
      down.push_back({-1, f.pod_vertex[static_cast<std::size_t>(pb)], true});
      down.push_back({f.link_index.at(fmt::format("pod{}/uplink", pb)), -1, false});
    }
    up.push_back({-1, f.top_vertex, true});
  }
  up.insert(up.end(), down.rbegin(), down.rend());
  return up;
}

std::vector<double> port_bandwidth_sums(const Fabric& f) {
  std::vector<double> sums(f.vertices.size(), 0);
  for (const FabricLink& l : f.links)
    if (l.bandwidth_Bps != kUnlimitedBps) {
      sums[static_cast<std::size_t>(l.a)] += l.bandwidth_Bps;
      sums[static_cast<std::size_t>(l.b)] += l.bandwidth_Bps;
    }
  return sums;
}

NodeRoutes::NodeRoutes(const Fabric& f, int node, int leaf) : f_(f) {
  auto local = [&](int v) { return v == leaf || (v >= 0 && f.vertices[static_cast<std::size_t>(v)].node == node); };
  for (std::size_t e = 0; e < f.links.size(); ++e) {
    const FabricLink& l = f.links[e];
    if (l.failed || !local(l.a) || !local(l.b)) continue;
    adjacency_[l.a].push_back({static_cast<int>(e), l.b});
    adjacency_[l.b].push_back({static_cast<int>(e), l.a});
  }
}

bool NodeRoutes::route(int src, int dst, std::vector<RouteHop>& out) const {
  std::unordered_map<int, std::pair<int, int>> came_from;  // vertex -> (link, previous vertex)
  std::vector<int> queue{src};
  came_from[src] = {-1, -1};
  for (std::size_t head = 0; head < queue.size() && !came_from.count(dst); ++head) {
    auto it = adjacency_.find(queue[head]);
    if (it == adjacency_.end()) continue;
    for (auto [link, next] : it->second)
      if (!came_from.count(next)) came_from[next] = {link, queue[head]}, queue.push_back(next);
  }
  if (!came_from.count(dst)) return false;
  std::vector<std::pair<int, int>> path;  // (link, from-vertex), dst back to src
  for (int v = dst; v != src; v = came_from[v].second) path.push_back(came_from[v]);
  out.clear();
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    const FabricVertex& from = f_.vertices[static_cast<std::size_t>(it->second)];
    if (it != path.rbegin() && (from.kind == VertexKind::nvswitch || from.kind == VertexKind::switch_group))
      out.push_back({-1, it->second, true});
    out.push_back({it->first, -1, f_.links[static_cast<std::size_t>(it->first)].a == it->second});
  }
  return true;
}

}  // namespace moesim::topologies
