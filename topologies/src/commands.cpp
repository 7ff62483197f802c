// moesim topo inspect | export: what a platform file describes, checked, as a table or JSON;
// and the same platform written as SimGrid XML.
#include "moesim/topologies/commands.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simgrid/s4u.hpp>

#include <algorithm>
#include <iostream>

#include "moesim/common/atomic_file.hpp"
#include "moesim/common/error.hpp"
#include "moesim/topologies/fabric.hpp"
#include "moesim/topologies/platform_source.hpp"
#include "moesim/topologies/platform_spec.hpp"
#include "moesim/topologies/simgrid_platform.hpp"
#include "moesim/topologies/simgrid_xml.hpp"
#include "moesim/topologies/topology_checks.hpp"

namespace moesim::topologies {
namespace {

std::string human_Bps(double Bps) {
  if (Bps >= 1e12) return fmt::format("{:.4g} TB/s", Bps / 1e12);
  if (Bps >= 1e9) return fmt::format("{:.4g} GB/s", Bps / 1e9);
  return fmt::format("{:.4g} MB/s", Bps / 1e6);
}
std::string human_s(double s) {
  if (s >= 1e-3) return fmt::format("{:.4g} ms", s * 1e3);
  if (s >= 1e-6) return fmt::format("{:.4g} us", s * 1e6);
  return fmt::format("{:.4g} ns", s * 1e9);
}

// A spec (switch:N, cluster:N:G), a path, or a preset name when no such file exists.
PlatformSource platform_argument(const std::string& given) {
  PlatformSource source = parse_platform_source(given);
  if (!source.spec) cli::require_file(resolve_platform_path(given));
  return source;
}

struct InspectOptions {
  std::string file;
  bool json = false;
  bool links = false;
  bool no_hops = false;
};

nlohmann::json report_json(const PlatformSpec& spec, const Fabric& f, const TopologyReport& r, bool links) {
  const ScaleOutShape& s = f.shape;
  nlohmann::json j = {
      {"name", spec.name},
      {"file", spec.file.string()},
      {"gpus", r.gpus},
      {"nodes", r.nodes},
      {"gpus_per_node", spec.node.gpus},
      {"intra_node", {{"fabric", to_string(spec.node.fabric)}, {"links", spec.node.links},
                      {"link_bandwidth_Bps", spec.node.link_bandwidth_Bps}, {"latency_s", spec.node.latency_s}}},
      {"scale_out", {{"topology", to_string(spec.scale_out.topology)},
                     {"tiers", spec.scale_out.tiers.size()},
                     {"switch_radix", spec.scale_out.switch_radix},
                     {"leaf_groups", s.groups},
                     {"nodes_per_group", s.nodes_per_group},
                     {"leaf_down_ports", s.leaf_down_ports},
                     {"leaf_up_ports", s.leaf_up_ports},
                     {"pods", s.pods},
                     {"top_switches", s.spines},
                     {"capacity_nic_ports", s.capacity_nic_ports}}},
      {"switches", r.switches},
      {"switch_vertices", r.switch_vertices},
      {"links", r.links},
      {"link_edges", r.link_edges},
      {"failed_links", r.failed_links},
      {"connected", r.unroutable_pairs == 0},
      {"unroutable_pairs", r.unroutable_pairs},
      {"injection_Bps", {{"min", r.min_injection_Bps}, {"max", r.max_injection_Bps}}},
      {"scaleout_injection_Bps", {{"min", r.min_scaleout_injection_Bps}, {"max", r.max_scaleout_injection_Bps}}},
      {"bisection_Bps", r.bisection_Bps},
      {"bisection_closed_form_Bps", r.bisection_closed_form_Bps},
      {"oversubscription", r.oversubscription},
      {"calibration", {{"bandwidth_factor", spec.calibration.bandwidth_factor},
                       {"latency_factor", spec.calibration.latency_factor},
                       {"source", spec.calibration.source},
                       {"nominal", spec.calibration.nominal()}}},
      {"duplex_bandwidth_Bps", spec.node.duplex_bandwidth_Bps > 0 ? nlohmann::json(spec.node.duplex_bandwidth_Bps) : nlohmann::json(nullptr)},
      {"flow_bandwidth_Bps", spec.node.flow_bandwidth_Bps > 0 ? nlohmann::json(spec.node.flow_bandwidth_Bps) : nlohmann::json(nullptr)},
      {"local_copy_bandwidth_Bps", spec.node.local_copy_bandwidth_Bps > 0 ? nlohmann::json(spec.node.local_copy_bandwidth_Bps) : nlohmann::json(nullptr)},
  };
  nlohmann::json factors = nlohmann::json::array();
  for (const BandwidthFactorPoint& p : spec.calibration.bandwidth_factors)
    factors.push_back({{"message_bytes", p.message_bytes}, {"factor", p.factor}});
  j["calibration"]["bandwidth_factors"] = factors;
  if (r.hops_computed)
    j["hops"] = {{"diameter", r.diameter_hops}, {"mean", r.mean_hops}, {"max_latency_s", r.max_latency_s}};
  if (links) {
    nlohmann::json list = nlohmann::json::array();
    for (const FabricLink& l : f.links)
      list.push_back({{"name", l.name},
                      {"from", f.vertices[static_cast<std::size_t>(l.a)].name},
                      {"to", f.vertices[static_cast<std::size_t>(l.b)].name},
                      {"bandwidth_Bps", l.bandwidth_Bps == kUnlimitedBps ? nlohmann::json(nullptr) : nlohmann::json(l.bandwidth_Bps)},
                      {"latency_s", l.latency_s},
                      {"parallel", l.parallel},
                      {"failed", l.failed}});
    j["link_list"] = list;
  }
  return j;
}

void print_report(const PlatformSpec& spec, const Fabric& f, const TopologyReport& r, bool links) {
  const ScaleOutShape& s = f.shape;
  const NodeSpec& node = spec.node;
  fmt::print("platform      {}  ({})\n", spec.name, spec.file.string());
  if (!spec.description.empty()) fmt::print("              {}\n", spec.description);
  fmt::print("GPUs          {} = {} node{} x {}\n", r.gpus, r.nodes, r.nodes > 1 ? "s" : "", node.gpus);
  fmt::print("intra-node    {}: {} x {} per {}, {} GPU->GPU\n", to_string(node.fabric), node.links,
             human_Bps(node.link_bandwidth_Bps), node.fabric == IntraNodeFabric::nvswitch ? "GPU" : "GPU pair",
             human_s(node.latency_s));
  if (spec.nodes > 1) {
    fmt::print("NICs          {} per node, {} each, {} per traversal\n", node.nics, human_Bps(node.nic_bandwidth_Bps),
               human_s(node.nic_latency_s));
    const ScaleOutSpec& so = spec.scale_out;
    if (so.topology == ScaleOutTopology::single_switch)
      fmt::print("scale-out     single_switch\n");
    else
      fmt::print("scale-out     {}, {} tiers, radix {}: {} {} of {} nodes ({} down / {} up ports){}, {} top switches\n",
                 to_string(so.topology), so.tiers.size(), so.switch_radix, s.groups,
                 so.topology == ScaleOutTopology::rail_optimized ? "rail groups" : "leaves", std::min(s.nodes_per_group, spec.nodes),
                 s.leaf_down_ports, s.leaf_up_ports,
                 s.pods > 0 ? fmt::format(", {} pods of {} {}", s.pods, s.leaves_per_pod,
                                          so.topology == ScaleOutTopology::rail_optimized ? "rail groups" : "leaves")
                            : "",
                 s.spines);
  }
  fmt::print("switches      {} physical ({} graph vertices)\n", r.switches, r.switch_vertices);
  fmt::print("links         {} physical ({} graph edges), {} failed\n", r.links, r.link_edges, r.failed_links);
  long long pairs = static_cast<long long>(r.gpus) * (r.gpus - 1);
  if (r.unroutable_pairs == 0) fmt::print("connectivity  all {} GPU pairs routable\n", pairs);
  else fmt::print("connectivity  {} of {} GPU pairs UNROUTABLE\n", r.unroutable_pairs, pairs);
  if (r.hops_computed)
    fmt::print("hops          diameter {}, mean {:.2f}; longest path latency {}\n", r.diameter_hops, r.mean_hops,
               human_s(r.max_latency_s));
  fmt::print("injection     {} per GPU intra-node", human_Bps(r.min_injection_Bps));
  if (r.max_injection_Bps != r.min_injection_Bps) fmt::print(" (up to {})", human_Bps(r.max_injection_Bps));
  if (spec.nodes > 1) fmt::print(", {} per GPU scale-out", human_Bps(r.min_scaleout_injection_Bps));
  fmt::print("\n");
  std::string closed = r.bisection_closed_form_Bps > 0
                           ? fmt::format(" (closed form {}: {})", human_Bps(r.bisection_closed_form_Bps),
                                         std::abs(r.bisection_Bps - r.bisection_closed_form_Bps) <=
                                                 1e-6 * r.bisection_closed_form_Bps
                                             ? "match"
                                             : "MISMATCH")
                           : "";
  fmt::print("bisection     {}{}", human_Bps(r.bisection_Bps), closed);
  if (spec.nodes > 1) fmt::print(", oversubscription {:.2f}:1", r.oversubscription);
  fmt::print("\n");
  std::vector<std::string> limits;
  if (node.duplex_bandwidth_Bps > 0) limits.push_back(fmt::format("send + receive {} per GPU", human_Bps(node.duplex_bandwidth_Bps)));
  if (node.flow_bandwidth_Bps > 0) limits.push_back(fmt::format("{} per GPU->GPU flow", human_Bps(node.flow_bandwidth_Bps)));
  if (node.local_copy_bandwidth_Bps > 0) limits.push_back(fmt::format("local copy {} per GPU", human_Bps(node.local_copy_bandwidth_Bps)));
  if (!limits.empty()) fmt::print("limits        {}\n", fmt::join(limits, "; "));
  fmt::print("calibration   {}\n", spec.calibration.nominal() ? "nominal (datasheet figures, not measured)"
                                                             : "measured: " + spec.calibration.source);
  if (spec.calibration.bandwidth_factor != 1 || spec.calibration.latency_factor != 1)
    fmt::print("calibration   bandwidth x{:g}, latency x{:g}\n", spec.calibration.bandwidth_factor,
               spec.calibration.latency_factor);
  if (const auto& t = spec.calibration.bandwidth_factors; !t.empty())
    fmt::print("calibration   bandwidth factor by message size: {} points, x{:g} at {:.0f} B ... x{:g} at {:.0f} B\n", t.size(),
               t.front().factor, t.front().message_bytes, t.back().factor, t.back().message_bytes);
  if (links) {
    fmt::print("\n{:<28} {:<24} {:<20} {:>12} {:>10} {:>5}\n", "link", "from", "to", "bandwidth", "latency", "x");
    for (const FabricLink& l : f.links)
      fmt::print("{:<28} {:<24} {:<20} {:>12} {:>10} {:>5}{}\n", l.name, f.vertices[static_cast<std::size_t>(l.a)].name,
                 f.vertices[static_cast<std::size_t>(l.b)].name,
                 l.bandwidth_Bps == kUnlimitedBps ? "unlimited" : human_Bps(l.bandwidth_Bps), human_s(l.latency_s),
                 l.parallel, l.failed ? "  FAILED" : "");
  }
}

// SimGrid XML files: what SimGrid itself can tell (GPUs, nodes, route bandwidths).
int inspect_xml(const std::filesystem::path& file, bool json) {
  int argc = 1;
  char name[] = "moesim";
  char* argv[] = {name, nullptr};
  simgrid::s4u::Engine engine(&argc, argv);
  SimgridPlatform p = load_simgrid_platform(file, engine);
  if (json) {
    cli::print_json({{"name", p.name}, {"file", file.string()}, {"format", "simgrid-xml"}, {"gpus", p.gpus.size()},
                     {"nodes", p.node_count}, {"gpus_per_node", p.gpus_per_node},
                     {"intra_node_egress_Bps", p.intra_node_egress_Bps}, {"scaleout_egress_Bps", p.scaleout_egress_Bps},
                     {"intra_node_latency_s", p.intra_node_latency_s}, {"inter_node_latency_s", p.inter_node_latency_s}});
    return kExitOk;
  }
  fmt::print("platform      {}  (SimGrid XML)\n", file.string());
  fmt::print("GPUs          {} hosts in {} zones ({} in the first)\n", p.gpus.size(), p.node_count, p.gpus_per_node);
  fmt::print("GPU 0         intra-zone route {} / {}, inter-zone route {} / {}\n", human_Bps(p.intra_node_egress_Bps[0]),
             human_s(p.intra_node_latency_s), human_Bps(p.scaleout_egress_Bps[0]), human_s(p.inter_node_latency_s));
  return kExitOk;
}

int run_inspect(const InspectOptions& o) {
  PlatformSource source = platform_argument(o.file);
  if (is_simgrid_xml(source)) return inspect_xml(resolve_platform_path(source.text), o.json);
  PlatformSpec spec = load_spec(source);
  Fabric fabric = build_fabric(spec);
  CheckOptions check;
  check.hops = !o.no_hops;
  TopologyReport report = analyse_topology(spec, fabric, check);
  if (o.json) cli::print_json(report_json(spec, fabric, report, o.links));
  else print_report(spec, fabric, report, o.links);
  check_topology(spec, fabric, {false});  // a disconnected platform is bad input: exit 2 after the report
  return kExitOk;
}

struct ExportOptions {
  std::string file;
  std::string xml_out;
};

int run_export(const ExportOptions& o) {
  PlatformSource source = platform_argument(o.file);
  if (is_simgrid_xml(source)) throw InputError(located(source.text, "already a SimGrid XML file"));
  PlatformSpec spec = load_spec(source);
  Fabric fabric = build_fabric(spec);
  check_topology(spec, fabric, {false});
  std::string xml = to_simgrid_xml(spec, fabric);
  if (o.xml_out == "-") std::cout << xml;
  else write_file_atomically(o.xml_out, xml);
  return kExitOk;
}

}  // namespace

void register_commands(cli::Commands& commands, CLI::App& app) {
  CLI::App* topo = commands.add_group(app, "topo", "Platform files: check, inspect, export");

  auto inspect = std::make_shared<InspectOptions>();
  CLI::App* cmd = commands.add(*topo, "inspect",
                               "Check a platform file and report GPUs, switches, links, routability, hops and "
                               "bisection bandwidth",
                               "moesim topo inspect platforms/fat-tree-256.yaml   (or a preset name: moesim topo inspect dgx-h100-8gpu;\n"
                               "  a spec: moesim topo inspect switch:8:50e9:1e-6, moesim topo inspect cluster:2:4)",
                               [inspect] { return run_inspect(*inspect); });
  cmd->add_option("file", inspect->file, "Platform file (.yaml, or SimGrid .xml), preset name, switch:GPUS[:LINK_Bps[:LATENCY_s]] or cluster:NODES:GPUS_PER_NODE")->required();
  cli::add_json_flag(cmd, inspect->json);
  cmd->add_flag("--links", inspect->links, "List every link with its bandwidth and latency (names for link_overrides)");
  cmd->add_flag("--no-hops", inspect->no_hops, "Skip the all-pairs hop count (O(GPUs x links))");

  auto exp = std::make_shared<ExportOptions>();
  CLI::App* ex = commands.add(*topo, "export", "Write a platform file as a SimGrid XML platform",
                              "moesim topo export fat-tree-256 --simgrid-xml fat-tree-256.xml",
                              [exp] { return run_export(*exp); });
  ex->add_option("file", exp->file, "Platform file (.yaml), preset name, switch:... or cluster:... spec")->required();
  ex->add_option("--simgrid-xml", exp->xml_out, "Output XML file ('-' for stdout)")->required();
}

}  // namespace moesim::topologies
