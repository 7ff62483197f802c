// Boost.Graph checks on the Fabric: connected components for routability, BFS for hop counts,
// Boykov-Kolmogorov max-flow for the bisection bandwidth.
#include "moesim/topologies/topology_checks.hpp"

// GCC 12 at -O2 reports a false -Wmaybe-uninitialized inside Boost.Graph's edge iterators
// (boykov_kolmogorov_max_flow's constructor); it is Boost's code, not ours, so silence it here only.
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/connected_components.hpp>
#include <boost/graph/boykov_kolmogorov_max_flow.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "moesim/common/error.hpp"

namespace moesim::topologies {
namespace {

// Max-flow runs on whole bytes/s: push-relabel checks flow conservation exactly, which doubles break.
using Capacity = long long;
constexpr double kNoInjection = 1e300;
constexpr std::size_t kUnroutableExamples = 5;

struct EdgeInfo {
  int link = -1;
};
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, boost::no_property, EdgeInfo>;

Graph undirected_graph(const Fabric& f) {
  Graph g(f.vertices.size());
  for (std::size_t e = 0; e < f.links.size(); ++e)
    if (!f.links[e].failed) boost::add_edge(static_cast<std::size_t>(f.links[e].a), static_cast<std::size_t>(f.links[e].b), EdgeInfo{static_cast<int>(e)}, g);
  return g;
}

void count_components(const Fabric& f, const Graph& g, TopologyReport& r) {
  std::vector<int> component(boost::num_vertices(g));
  boost::connected_components(g, component.data());
  std::vector<long long> gpus_in(f.vertices.size(), 0);
  for (int gpu = 0; gpu < f.gpus; ++gpu) ++gpus_in[static_cast<std::size_t>(component[static_cast<std::size_t>(gpu)])];
  for (int gpu = 0; gpu < f.gpus; ++gpu)
    r.unroutable_pairs += f.gpus - gpus_in[static_cast<std::size_t>(component[static_cast<std::size_t>(gpu)])];
  for (int a = 0; a < f.gpus && r.unroutable_pairs > 0 && r.unroutable_examples.size() < kUnroutableExamples; ++a)
    for (int b = 0; b < f.gpus && r.unroutable_examples.size() < kUnroutableExamples; ++b)
      if (component[static_cast<std::size_t>(a)] != component[static_cast<std::size_t>(b)] &&
          (r.unroutable_examples.empty() || r.unroutable_examples.back().first != a))
        r.unroutable_examples.push_back({a, b});
}

// BFS from every GPU: hop counts and the latency along the BFS tree (the path SimGrid routes take).
void measure_hops(const Fabric& f, const Graph& g, TopologyReport& r) {
  const std::size_t n = boost::num_vertices(g);
  std::vector<int> hops(n);
  std::vector<double> latency(n);
  double hop_sum = 0;
  long long pairs = 0;
  for (int src = 0; src < f.gpus; ++src) {
    std::fill(hops.begin(), hops.end(), -1);
    std::vector<std::size_t> queue{static_cast<std::size_t>(src)};
    hops[static_cast<std::size_t>(src)] = 0;
    latency[static_cast<std::size_t>(src)] = 0;
    for (std::size_t head = 0; head < queue.size(); ++head) {
      std::size_t v = queue[head];
      // Leaving an intermediate switch costs its latency; GPUs never forward (they are endpoints).
      if (v != static_cast<std::size_t>(src) && static_cast<int>(v) < f.gpus) continue;
      double through = latency[v] + (v == static_cast<std::size_t>(src) ? 0 : f.vertices[v].latency_s);
      for (auto [e, end] = boost::out_edges(v, g); e != end; ++e) {
        std::size_t w = boost::target(*e, g);
        if (hops[w] >= 0) continue;
        hops[w] = hops[v] + 1;
        latency[w] = through + f.links[static_cast<std::size_t>(g[*e].link)].latency_s;
        queue.push_back(w);
      }
    }
    for (int dst = 0; dst < f.gpus; ++dst) {
      if (dst == src || hops[static_cast<std::size_t>(dst)] < 0) continue;
      r.diameter_hops = std::max(r.diameter_hops, hops[static_cast<std::size_t>(dst)]);
      r.max_latency_s = std::max(r.max_latency_s, latency[static_cast<std::size_t>(dst)]);
      hop_sum += hops[static_cast<std::size_t>(dst)];
      ++pairs;
    }
  }
  r.mean_hops = pairs > 0 ? hop_sum / static_cast<double>(pairs) : 0;
  r.hops_computed = true;
}

// Max-flow from a super source feeding GPUs [0, N/2) to a super sink fed by GPUs [N/2, N).
double max_flow_bisection_Bps(const Fabric& f) {
  if (f.gpus < 2) return 0;
  using Traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
  using FlowGraph = boost::adjacency_list<
      boost::vecS, boost::vecS, boost::directedS, boost::no_property,
      boost::property<boost::edge_capacity_t, Capacity,
                      boost::property<boost::edge_residual_capacity_t, Capacity,
                                      boost::property<boost::edge_reverse_t, Traits::edge_descriptor>>>>;
  const std::size_t source = f.vertices.size(), sink = source + 1;
  FlowGraph g(f.vertices.size() + 2);
  auto capacity = boost::get(boost::edge_capacity, g);
  auto reverse = boost::get(boost::edge_reverse, g);
  // A full-duplex link: one edge per direction, each the other's residual twin.
  // "Unlimited" (PCIe not modelled, the super source and sink): more than all links together.
  Capacity unlimited = 1;
  for (const FabricLink& l : f.links)
    if (!l.failed && l.bandwidth_Bps != kUnlimitedBps) unlimited += 2 * std::llround(l.bandwidth_Bps);
  auto add_pair = [&](std::size_t u, std::size_t v, Capacity c_uv, Capacity c_vu) {
    auto e1 = boost::add_edge(u, v, g).first;
    auto e2 = boost::add_edge(v, u, g).first;
    capacity[e1] = c_uv, capacity[e2] = c_vu;
    reverse[e1] = e2, reverse[e2] = e1;
  };
  for (const FabricLink& l : f.links) {
    if (l.failed) continue;
    Capacity c = l.bandwidth_Bps == kUnlimitedBps ? unlimited : std::llround(l.bandwidth_Bps);
    add_pair(static_cast<std::size_t>(l.a), static_cast<std::size_t>(l.b), c, c);
  }
  for (int gpu = 0; gpu < f.gpus; ++gpu) {
    if (gpu < f.gpus / 2) add_pair(source, static_cast<std::size_t>(gpu), unlimited, 0);
    else add_pair(static_cast<std::size_t>(gpu), sink, unlimited, 0);
  }
  // Boykov-Kolmogorov: Boost's push-relabel trips its own flow check on graphs with unlimited cycles.
  const std::size_t n = boost::num_vertices(g);
  std::vector<boost::default_color_type> color(n);
  std::vector<Traits::edge_descriptor> predecessor(n);
  std::vector<long> distance(n);
  return static_cast<double>(boost::boykov_kolmogorov_max_flow(
      g, capacity, boost::get(boost::edge_residual_capacity, g), reverse, predecessor.data(), color.data(),
      distance.data(), boost::get(boost::vertex_index, g), source, sink));
}


void measure_injection(const Fabric& f, TopologyReport& r) {
  std::vector<double> own(static_cast<std::size_t>(f.gpus), 0);
  for (const FabricLink& l : f.links) {
    if (l.failed || l.bandwidth_Bps == kUnlimitedBps) continue;
    if (l.a < f.gpus && f.vertices[static_cast<std::size_t>(l.b)].kind != VertexKind::nic) own[static_cast<std::size_t>(l.a)] += l.bandwidth_Bps;
    if (l.b < f.gpus) own[static_cast<std::size_t>(l.b)] += l.bandwidth_Bps;
  }
  auto [lo, hi] = std::minmax_element(own.begin(), own.end());
  r.min_injection_Bps = *lo, r.max_injection_Bps = *hi;
}

}  // namespace

double bisection_closed_form_Bps(const PlatformSpec& spec, const Fabric& f) {
  const NodeSpec& node = spec.node;
  if (spec.nodes == 1) {
    // Half the GPUs each push their whole injection into the other half.
    if (spec.node.gpus % 2 != 0) return 0;
    if (node.fabric == IntraNodeFabric::nvswitch) return (node.gpus / 2) * node.gpu_link_Bps();
    return (node.gpus / 2) * (node.gpus / 2) * node.gpu_link_Bps();  // mesh: every cross pair has its link
  }
  const ScaleOutShape& s = f.shape;
  const double node_out_Bps = node.nics * node.nic_bandwidth_Bps;
  const ScaleOutSpec& so = spec.scale_out;
  if (so.topology == ScaleOutTopology::single_switch)
    return spec.nodes % 2 == 0 ? (spec.nodes / 2) * node_out_Bps : 0;
  if (s.groups == 1) return spec.nodes % 2 == 0 ? (spec.nodes / 2) * node_out_Bps : 0;  // one leaf: NICs only
  const int leaf_uplinks = s.leaf_up_ports * (so.topology == ScaleOutTopology::rail_optimized ? node.nics : 1);
  if (spec.nodes != s.groups * s.nodes_per_group) return 0;  // partly filled leaf
  const double leaf_Bps = std::min(leaf_uplinks * so.port_bandwidth_Bps, s.nodes_per_group * node_out_Bps);
  if (so.tiers.size() == 2) return s.groups % 2 == 0 ? (s.groups / 2) * leaf_Bps : 0;
  if (s.groups != s.pods * s.leaves_per_pod || s.pods % 2 != 0) return 0;
  const double pod_Bps = std::min(s.leaf_up_ports * s.agg_up_ports * so.port_bandwidth_Bps, s.leaves_per_pod * leaf_Bps);
  return (s.pods / 2) * pod_Bps;
}

double worst_inter_node_latency_s(const PlatformSpec& spec, const Fabric& f) {
  Graph g = undirected_graph(f);
  std::vector<double> latency(f.vertices.size(), -1);
  std::vector<std::size_t> queue{0};
  latency[0] = 0;
  for (std::size_t head = 0; head < queue.size(); ++head) {
    std::size_t v = queue[head];
    if (v != 0 && static_cast<int>(v) < f.gpus) continue;
    double through = latency[v] + (v == 0 ? 0 : f.vertices[v].latency_s);
    for (auto [e, end] = boost::out_edges(v, g); e != end; ++e) {
      std::size_t w = boost::target(*e, g);
      if (latency[w] >= 0) continue;
      latency[w] = through + f.links[static_cast<std::size_t>(g[*e].link)].latency_s;
      queue.push_back(w);
    }
  }
  double worst = 0;
  for (int gpu = spec.node.gpus; gpu < f.gpus; ++gpu) worst = std::max(worst, latency[static_cast<std::size_t>(gpu)]);
  return worst;
}

TopologyReport analyse_topology(const PlatformSpec& spec, const Fabric& f, CheckOptions options) {
  TopologyReport r;
  r.gpus = f.gpus;
  r.nodes = spec.nodes;
  for (const FabricVertex& v : f.vertices)
    if (v.kind == VertexKind::nvswitch || v.kind == VertexKind::switch_group) ++r.switch_vertices, r.switches += v.switches;
  for (const FabricLink& l : f.links) {
    if (l.failed) ++r.failed_links;
    if (l.bandwidth_Bps == kUnlimitedBps) continue;
    ++r.link_edges;
    r.links += l.parallel;
  }
  Graph g = undirected_graph(f);
  count_components(f, g, r);
  if (options.hops) measure_hops(f, g, r);
  measure_injection(f, r);
  if (const double duplex = spec.node.duplex_bandwidth_Bps; duplex > 0)  // one direction alone stays under it too
    r.min_injection_Bps = std::min(r.min_injection_Bps, duplex), r.max_injection_Bps = std::min(r.max_injection_Bps, duplex);
  r.bisection_Bps = max_flow_bisection_Bps(f);
  if (spec.link_overrides.empty()) r.bisection_closed_form_Bps = bisection_closed_form_Bps(spec, f);
  if (spec.nodes > 1) {
    double lo = kNoInjection, hi = 0;
    for (int gpu = 0; gpu < f.gpus; ++gpu) {
      int n = gpu / spec.node.gpus, k = (gpu % spec.node.gpus) / spec.gpus_per_nic();
      const FabricLink& nic = f.link(fmt::format("node{}/nic{}", n, k));
      double share = nic.failed ? 0 : nic.bandwidth_Bps / spec.gpus_per_nic();
      const FabricLink& pcie = f.link(fmt::format("node{}/gpu{}/pcie", n, gpu % spec.node.gpus));
      share = pcie.failed ? 0 : std::min(share, pcie.bandwidth_Bps);
      lo = std::min(lo, share), hi = std::max(hi, share);
    }
    r.min_scaleout_injection_Bps = lo, r.max_scaleout_injection_Bps = hi;
    double demand = (spec.nodes / 2) * spec.node.nics * spec.node.nic_bandwidth_Bps;
    r.oversubscription = r.bisection_Bps > 0 ? demand / r.bisection_Bps : 0;
  }
  return r;
}

TopologyReport check_topology(const PlatformSpec& spec, const Fabric& f, CheckOptions options) {
  TopologyReport r = analyse_topology(spec, f, options);
  if (r.unroutable_pairs == 0) return r;
  auto [a, b] = r.unroutable_examples.front();
  std::string message =
      fmt::format("platform is disconnected: {} GPU pairs cannot reach each other, e.g. {} -> {}", r.unroutable_pairs,
                  f.vertices[static_cast<std::size_t>(a)].name, f.vertices[static_cast<std::size_t>(b)].name);
  // Only a failed link can disconnect a platform built from a valid spec: point at the first one.
  for (const LinkOverride& o : spec.link_overrides)
    if (o.failed) throw InputError(located(o.file, o.line, o.column, message + fmt::format(" (failed link '{}')", o.link)));
  throw InputError(located(spec.file, message));
}

}  // namespace moesim::topologies
