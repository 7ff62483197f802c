#include "moesim/topologies/simgrid_xml.hpp"

#include <fmt/format.h>

#include <vector>

namespace moesim::topologies {
namespace {

struct Hop {
  const std::string* link;
  const char* direction;  // "UP", "DOWN" or nullptr (FATPIPE)
};

class XmlWriter {
 public:
  explicit XmlWriter(const Fabric& f) : f_(f), port_sums_(port_bandwidth_sums(f)) {}
  std::string out;

  void line(int depth, const std::string& text) {
    out.append(static_cast<std::size_t>(depth) * 2, ' ');
    out += text;
    out += '\n';
  }
  void edge_link(int depth, const FabricLink& l) {
    if (l.failed || l.bandwidth_Bps == kUnlimitedBps) return;
    line(depth, fmt::format(R"(<link id="{}" bandwidth="{:.17g}Bps" latency="{:.17g}s" sharing_policy="SPLITDUPLEX"/>)",
                            l.name, l.bandwidth_Bps, l.latency_s));
  }
  void switch_link(int depth, int vertex) {
    const FabricVertex& v = f_.vertices[static_cast<std::size_t>(vertex)];
    const double backplane_Bps = port_sums_[static_cast<std::size_t>(vertex)];
    line(depth, fmt::format(R"(<link id="{}" bandwidth="{:.17g}Bps" latency="{:.17g}s" sharing_policy="FATPIPE"/>)",
                            v.name, backplane_Bps > 0 ? backplane_Bps : 1, v.latency_s));
  }
  void hops(int depth, const std::vector<Hop>& route) {
    for (const Hop& h : route)
      line(depth, h.direction ? fmt::format(R"(<link_ctn id="{}" direction="{}"/>)", *h.link, h.direction)
                              : fmt::format(R"(<link_ctn id="{}"/>)", *h.link));
  }

 private:
  const Fabric& f_;
  std::vector<double> port_sums_;
};

std::vector<Hop> to_hops(const Fabric& f, const std::vector<RouteHop>& route) {
  std::vector<Hop> out;
  for (const RouteHop& h : route) {
    if (h.switch_vertex >= 0) {
      out.push_back({&f.vertices[static_cast<std::size_t>(h.switch_vertex)].name, nullptr});
    } else {
      const FabricLink& l = f.links[static_cast<std::size_t>(h.link)];
      if (l.bandwidth_Bps != kUnlimitedBps) out.push_back({&l.name, h.up ? "UP" : "DOWN"});
    }
  }
  return out;
}

void write_node(XmlWriter& w, const PlatformSpec& spec, const Fabric& f, int n, int depth) {
  const int g = spec.node.gpus;
  const bool scale_out = spec.nodes > 1;
  const int leaf = scale_out ? f.group_vertex[static_cast<std::size_t>(f.group_of_node(n))] : -1;
  w.line(depth, fmt::format(R"(<zone id="node{}" routing="Full">)", n));
  for (int i = 0; i < g; ++i) w.line(depth + 1, fmt::format(R"(<host id="node{}/gpu{}" speed="1Tf"/>)", n, i));
  if (scale_out) w.line(depth + 1, fmt::format(R"(<router id="node{}/gw"/>)", n));
  for (const FabricLink& l : f.links) {
    const auto& va = f.vertices[static_cast<std::size_t>(l.a)];
    const auto& vb = f.vertices[static_cast<std::size_t>(l.b)];
    bool inside = va.node == n && vb.node == n;
    bool nic = scale_out && va.kind == VertexKind::nic && va.node == n;
    if (inside || nic) w.edge_link(depth + 1, l);
  }
  if (f.nvswitch_of_node[static_cast<std::size_t>(n)] >= 0) w.switch_link(depth + 1, f.nvswitch_of_node[static_cast<std::size_t>(n)]);
  NodeRoutes routes(f, n, leaf);
  std::vector<RouteHop> route;
  for (int i = 0; i < g; ++i)
    for (int j = i + 1; j < g; ++j)
      if (routes.route(n * g + i, n * g + j, route)) {
        w.line(depth + 1, fmt::format(R"(<route src="node{0}/gpu{1}" dst="node{0}/gpu{2}">)", n, i, j));
        w.hops(depth + 2, to_hops(f, route));
        w.line(depth + 1, "</route>");
      }
  for (int i = 0; i < g && scale_out; ++i)
    if (routes.route(n * g + i, leaf, route)) {
      w.line(depth + 1, fmt::format(R"(<route src="node{0}/gpu{1}" dst="node{0}/gw">)", n, i));
      w.hops(depth + 2, to_hops(f, route));
      w.line(depth + 1, "</route>");
    }
  w.line(depth, "</zone>");
}

}  // namespace

std::string to_simgrid_xml(const PlatformSpec& spec, const Fabric& f) {
  XmlWriter w(f);
  w.line(0, "<?xml version='1.0'?>");
  w.line(0, R"(<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">)");
  w.line(0, fmt::format("<!-- {}: exported by `moesim topo export --simgrid-xml` from {} -->", spec.name, spec.file.string()));
  w.line(0, R"(<platform version="4.1">)");
  // The same network model moesim configures in code (see platforms/README.md, "SimGrid model").
  w.line(1, "<config>");
  w.line(2, R"(<prop id="network/model" value="CM02"/>)");
  w.line(2, R"(<prop id="network/crosstraffic" value="0"/>)");
  w.line(2, R"(<prop id="network/TCP-gamma" value="0"/>)");
  w.line(2, fmt::format(R"(<prop id="network/bandwidth-factor" value="{:.17g}"/>)", spec.calibration.bandwidth_factor));
  w.line(2, fmt::format(R"(<prop id="network/latency-factor" value="{:.17g}"/>)", spec.calibration.latency_factor));
  w.line(1, "</config>");
  if (spec.nodes == 1) {
    write_node(w, spec, f, 0, 1);
  } else {
    w.line(1, R"(<zone id="fabric" routing="Full">)");
    for (int n = 0; n < spec.nodes; ++n) write_node(w, spec, f, n, 2);
    for (const FabricLink& l : f.links)
      if (f.vertices[static_cast<std::size_t>(l.a)].kind == VertexKind::switch_group) w.edge_link(2, l);
    for (std::size_t v = 0; v < f.vertices.size(); ++v)
      if (f.vertices[v].kind == VertexKind::switch_group) w.switch_link(2, static_cast<int>(v));
    for (int a = 0; a < spec.nodes; ++a)
      for (int b = a + 1; b < spec.nodes; ++b) {
        w.line(2, fmt::format(R"(<zoneRoute src="node{0}" dst="node{1}" gw_src="node{0}/gw" gw_dst="node{1}/gw">)", a, b));
        w.hops(3, to_hops(f, scale_out_route(spec, f, a, b)));
        w.line(2, "</zoneRoute>");
      }
    w.line(1, "</zone>");
  }
  w.line(0, "</platform>");
  return std::move(w.out);
}

}  // namespace moesim::topologies
