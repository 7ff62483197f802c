// Whole clusters of EP groups (ep_groups.hpp): every group's dispatch flows in one simulation, then
// every group's combine flows in another, over the platform's shared fabric; group 0 alone as the
// reference.
#include "moesim/sim/ep_groups.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "moesim/common/error.hpp"
#include "moesim/sim/simulation.hpp"
#include "moesim/sim/summary.hpp"

namespace moesim::sim {

EpLayout parse_ep_layout(const std::string& name) {
  if (name == "packed") return EpLayout::kPacked;
  if (name == "spread") return EpLayout::kSpread;
  throw InputError(fmt::format("unknown EP group layout '{}' (known: packed, spread)", name));
}

const char* to_string(EpLayout layout) { return layout == EpLayout::kSpread ? "spread" : "packed"; }

std::vector<int> ep_group_members(int gpus, int gpus_per_node, int ep_size, EpLayout layout) {
  if (ep_size < 1 || gpus % ep_size != 0)
    throw InputError(fmt::format("--ep-size {} does not divide the {} GPUs into whole groups", ep_size, gpus));
  std::vector<int> members(static_cast<std::size_t>(gpus));
  if (layout == EpLayout::kPacked || gpus_per_node <= 1 || gpus % gpus_per_node != 0) {
    for (int g = 0; g < gpus; ++g) members[g] = g;
    if (layout == EpLayout::kPacked) return members;
    if (gpus_per_node > 1)
      throw InputError(fmt::format("--ep-layout spread needs whole nodes: {} GPUs in nodes of {}", gpus, gpus_per_node));
    return members;  // one GPU per node already
  }
  // Spread: order (local index, node): every node's GPU 0 (rail 0), then every node's GPU 1, ...
  const int nodes = gpus / gpus_per_node;
  std::size_t i = 0;
  for (int local = 0; local < gpus_per_node; ++local)
    for (int node = 0; node < nodes; ++node) members[i++] = node * gpus_per_node + local;
  return members;
}

namespace {

// Group k's messages of matrix m (G x G, the trace's GPUs), its local GPU i playing the trace's GPU
// (i + k) mod G; each source's peers in neighbour order (as the direct algorithm), platform ids.
void append_group_messages(const TrafficMatrix& m, std::span<const int> members, int k, const A2AOptions& options,
                           std::vector<Message>& out) {
  const int g_size = m.gpus;
  const int* group = members.data() + static_cast<std::size_t>(k) * g_size;
  for (int i = 0; i < g_size; ++i)
    for (int d = options.local_copy ? 0 : 1; d < g_size; ++d) {
      const int j = (i + d) % g_size;
      const double bytes = m.at((i + k) % g_size, (j + k) % g_size);
      if (bytes > 0) out.push_back({group[i], group[j], bytes});
    }
}

// One phase of every group as one simulation: ready_s per platform GPU (absolute within the layer);
// returns per platform GPU when it is done (ready + launch for a GPU without traffic).
std::vector<double> run_groups_phase(FlowNetwork& net, const TrafficMatrix& m, std::span<const int> members, int groups,
                                     std::span<const double> ready_s, const A2AOptions& options) {
  std::vector<Message> messages;
  for (int k = 0; k < groups; ++k) append_group_messages(m, members, k, options, messages);
  // As ReplayEngine::simulate: the phase starts on a fresh origin at its first ready time.
  double first = std::numeric_limits<double>::infinity();
  for (int k = 0; k < groups; ++k)
    for (int i = 0; i < m.gpus; ++i) first = std::min(first, ready_s[members[static_cast<std::size_t>(k) * m.gpus + i]]);
  std::vector<double> relative(ready_s.size());
  for (std::size_t g = 0; g < ready_s.size(); ++g) relative[g] = std::max(0.0, ready_s[g] - first);
  net.begin_phase();
  auto finish = initial_finish_times(relative, options);
  run_phase(messages, relative, 0.0, net, options, finish);
  for (double& f : finish) f += first;
  return finish;
}

}  // namespace

EpLayerTimes simulate_ep_layer(FlowNetwork& net, const LayerWork& w, std::span<const int> members, int ep_size,
                               int groups, const A2AOptions& options) {
  if (w.dispatch.gpus != ep_size) throw std::logic_error("EP layer: the layer's GPU count is not the group size");
  const std::size_t n = static_cast<std::size_t>(net.gpus());
  std::vector<double> start(n, 0.0);
  auto dispatch_done = run_groups_phase(net, w.dispatch, members, groups, start, options);
  std::vector<double> combine_ready = dispatch_done;
  if (!w.compute_s.empty())
    for (int k = 0; k < groups; ++k)
      for (int i = 0; i < ep_size; ++i)
        combine_ready[members[static_cast<std::size_t>(k) * ep_size + i]] += w.compute_s[(i + k) % ep_size];
  auto combine_done = run_groups_phase(net, w.combine, members, groups, combine_ready, options);
  EpLayerTimes t;
  for (int k = 0; k < groups; ++k) {
    double d = 0, c = 0, l = 0;
    for (int i = 0; i < ep_size; ++i) {
      const int g = members[static_cast<std::size_t>(k) * ep_size + i];
      d = std::max(d, dispatch_done[g] - start[g]);
      c = std::max(c, combine_done[g] - combine_ready[g]);
      l = std::max(l, combine_done[g]);
    }
    t.dispatch_s.push_back(d);
    t.combine_s.push_back(c);
    t.layer_s.push_back(l);
  }
  return t;
}

EpGroupsResult replay_ep_groups(const std::filesystem::path& trace, const topologies::PlatformSource& platform,
                                const TraceReplayOptions& topt, const ReplayOptions& options,
                                const EpGroupsOptions& groups_options) {
  const int ep_size = groups_options.ep_size;
  if (options.algorithm->run != direct_algorithm().run)
    throw InputError(fmt::format("--ep-size runs every group's flows in one simulation: --algorithm direct only (got {})",
                                 options.algorithm->name));
  if (!options.start_offsets.empty())
    throw InputError("--ep-size: --start-offsets is not supported (every group's GPUs start at 0)");
  std::string bytes = run_simulation_bytes(platform, topt.ep_gpus, [&](FlowNetwork& net, const SimulationCost& cost) {
    const int gpus = net.gpus();
    EpGroupsResult r;
    r.platform = net.platform().name;
    r.gpus = gpus;
    r.ep_size = ep_size;
    r.groups = gpus / std::max(1, ep_size);
    r.layout = to_string(groups_options.layout);
    r.members = ep_group_members(gpus, net.platform().gpus_per_node, ep_size, groups_options.layout);
    net.set_engine(options.engine);
    net.set_fluid_merge(options.fluid_merge);
    r.engine = to_string(net.engine());
    r.settings.calibration = net.platform().calibration;
    r.settings.nominal_platform = net.platform().nominal;
    r.settings.fluid_merge = options.fluid_merge;
    A2AOptions a2a = options.a2a;
    a2a.local_copy = net.platform().local_copy_Bps > 0;
    r.settings.local_copy = a2a.local_copy;
    TraceReplayOptions group_topt = topt;
    group_topt.ep_gpus = ep_size;
    const std::uint64_t flows_before = net.flows_simulated();
    for_each_trace_layer(trace, ep_size, group_topt, options, 0, r.settings, [&](const LayerWork& w, const LayerTraffic&) {
      EpGroupsResult::Layer layer;
      layer.step = w.step;
      layer.layer = w.layer;
      layer.together = simulate_ep_layer(net, w, r.members, ep_size, r.groups, a2a);
      layer.alone = simulate_ep_layer(net, w, r.members, ep_size, 1, a2a);
      r.layers.push_back(std::move(layer));
    });
    r.flows_simulated = net.flows_simulated() - flows_before;
    cost.measure(r.sim_cpu_s, r.sim_wall_s, r.sim_peak_rss_bytes);
    // Across the process boundary as JSON (small: a few numbers per group and layer).
    nlohmann::json j = {{"platform", r.platform}, {"engine", r.engine}, {"layout", r.layout}, {"gpus", r.gpus},
                        {"ep_size", r.ep_size}, {"groups", r.groups}, {"members", r.members},
                        {"flows", r.flows_simulated}, {"cpu_s", r.sim_cpu_s}, {"wall_s", r.sim_wall_s},
                        {"rss", r.sim_peak_rss_bytes}};
    j["settings"] = settings_json(r.settings);
    auto times = [](const EpLayerTimes& t) {
      return nlohmann::json{{"dispatch_s", t.dispatch_s}, {"combine_s", t.combine_s}, {"layer_s", t.layer_s}};
    };
    j["layers"] = nlohmann::json::array();
    for (const auto& l : r.layers)
      j["layers"].push_back({{"step", l.step}, {"layer", l.layer}, {"together", times(l.together)}, {"alone", times(l.alone)}});
    return j.dump();
  });
  auto j = nlohmann::json::parse(bytes);
  EpGroupsResult r;
  r.platform = j["platform"];
  r.engine = j["engine"];
  r.layout = j["layout"];
  r.gpus = j["gpus"];
  r.ep_size = j["ep_size"];
  r.groups = j["groups"];
  r.members = j["members"].get<std::vector<int>>();
  r.flows_simulated = j["flows"];
  r.sim_cpu_s = j["cpu_s"];
  r.sim_wall_s = j["wall_s"];
  r.sim_peak_rss_bytes = j["rss"];
  const auto& s = j["settings"];
  r.settings.dispatch_bytes_per_token = s["dispatch_bytes_per_token"];
  r.settings.combine_bytes_per_token = s["combine_bytes_per_token"];
  r.settings.hidden_size = s["hidden_size"];
  r.settings.placement = s["placement"];
  r.settings.calibration = s["calibration"];
  r.settings.nominal_platform = s["nominal_platform"];
  r.settings.local_copy = s["local_copy"];
  r.settings.fluid_merge = s["fluid_merge"];
  auto times = [](const nlohmann::json& t) {
    return EpLayerTimes{t["dispatch_s"].get<std::vector<double>>(), t["combine_s"].get<std::vector<double>>(),
                        t["layer_s"].get<std::vector<double>>()};
  };
  for (const auto& l : j["layers"]) {
    EpGroupsResult::Layer layer;
    layer.step = l["step"];
    layer.layer = l["layer"];
    layer.together = times(l["together"]);
    layer.alone = times(l["alone"]);
    r.layers.push_back(std::move(layer));
  }
  return r;
}

namespace {

struct GroupFigures {
  Percentiles dispatch_s, combine_s, layer_s;
};

GroupFigures figures(const EpGroupsResult& r, int k, bool alone) {
  std::vector<double> d, c, l;
  for (const auto& layer : r.layers) {
    const EpLayerTimes& t = alone ? layer.alone : layer.together;
    d.push_back(t.dispatch_s[k]);
    c.push_back(t.combine_s[k]);
    l.push_back(t.layer_s[k]);
  }
  return {percentiles(d), percentiles(c), percentiles(l)};
}

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

}  // namespace

nlohmann::json to_json(const EpGroupsResult& r) {
  nlohmann::json j;
  j["platform"] = r.platform;
  j["settings"] = settings_json(r.settings);
  j["settings"].update({{"gpus", r.gpus},
                        {"ep_size", r.ep_size},
                        {"groups", r.groups},
                        {"layout", r.layout},
                        {"engine", r.engine},
                        {"algorithm", "direct"},
                        {"group_traffic", "the trace's layer for G GPUs, group k rotated by k (local GPU i = trace GPU (i+k) mod G)"}});
  j["population"] = "per group: P99 over (step, layer) of the group's all-to-all time (largest per-GPU finish - own "
                    "start among its GPUs) and layer time; slowdown = together / group 0 alone";
  j["layers"] = r.layers.size();
  const GroupFigures alone = figures(r, 0, true);
  j["alone"] = {{"group", 0},
                {"dispatch_p99_s", alone.dispatch_s.p99},
                {"combine_p99_s", alone.combine_s.p99},
                {"layer_p99_s", alone.layer_s.p99}};
  nlohmann::json groups = nlohmann::json::array();
  double worst = 0, sum = 0;
  for (int k = 0; k < r.groups; ++k) {
    const GroupFigures f = figures(r, k, false);
    const double slowdown = ratio(f.layer_s.p99, alone.layer_s.p99);
    worst = std::max(worst, slowdown);
    sum += slowdown;
    nlohmann::json members(std::vector<int>(r.members.begin() + static_cast<std::ptrdiff_t>(k) * r.ep_size,
                                            r.members.begin() + static_cast<std::ptrdiff_t>(k + 1) * r.ep_size));
    groups.push_back({{"group", k},
                      {"gpus", members},
                      {"dispatch_p99_s", f.dispatch_s.p99},
                      {"combine_p99_s", f.combine_s.p99},
                      {"layer_p99_s", f.layer_s.p99},
                      {"layer_mean_s", f.layer_s.mean},
                      {"slowdown_vs_alone", slowdown}});
  }
  j["groups"] = groups;
  j["slowdown_vs_alone"] = {{"max", worst}, {"mean", r.groups > 0 ? sum / r.groups : 0.0}};
  j["simulation"] = {{"flows", r.flows_simulated},
                     {"wall_s", r.sim_wall_s},
                     {"cpu_s", r.sim_cpu_s},
                     {"peak_rss_bytes", r.sim_peak_rss_bytes}};
  return j;
}

std::string human_report(const EpGroupsResult& r) {
  auto us = [](double s) { return fmt::format("{:.2f}", s * 1e6); };
  std::string out = fmt::format("platform {} | {} GPUs as {} EP groups of {} ({}) | algorithm direct | engine {} | {} layers\n",
                                r.platform, r.gpus, r.groups, r.ep_size, r.layout, r.engine, r.layers.size());
  out += fmt::format("bytes per token: dispatch {:g}, combine {:g} (hidden size {}) | placement {} (per group)\n",
                     r.settings.dispatch_bytes_per_token, r.settings.combine_bytes_per_token, r.settings.hidden_size,
                     r.settings.placement);
  out += fmt::format("calibration: {}\n", r.settings.calibration);
  if (r.settings.fluid_merge > 0)
    out += fmt::format("APPROXIMATE: --fluid-merge {:g} (error against the exact engine in sim/README.md)\n",
                       r.settings.fluid_merge);
  out += "group k replays the trace rotated by k; times per group as in sim/README.md (slowest GPU, finish - own "
         "start); P99 over layers; slowdown = layer P99 together / group 0's alone\n\n";
  out += fmt::format("{:<8} {:>16} {:>15} {:>13} {:>9}\n", "group", "dispatch P99 us", "combine P99 us",
                     "layer P99 us", "slowdown");
  const GroupFigures alone = figures(r, 0, true);
  out += fmt::format("{:<8} {:>16} {:>15} {:>13} {:>9}\n", "0 alone", us(alone.dispatch_s.p99), us(alone.combine_s.p99),
                     us(alone.layer_s.p99), "1.000");
  // Many groups: the first and last few, and the slowest.
  int slowest = 0;
  double slowest_l = -1;
  for (int k = 0; k < r.groups; ++k) {
    const double l = figures(r, k, false).layer_s.p99;
    if (l > slowest_l) slowest_l = l, slowest = k;
  }
  for (int k = 0; k < r.groups; ++k) {
    if (r.groups > 8 && k >= 4 && k < r.groups - 2 && k != slowest) continue;
    const GroupFigures f = figures(r, k, false);
    out += fmt::format("{:<8} {:>16} {:>15} {:>13} {:>9.3f}{}\n", k, us(f.dispatch_s.p99), us(f.combine_s.p99),
                       us(f.layer_s.p99), ratio(f.layer_s.p99, alone.layer_s.p99), k == slowest ? "  (slowest)" : "");
  }
  out += fmt::format("simulation: {} flows, {:.2f} s CPU, {:.0f} MB peak\n", r.flows_simulated, r.sim_cpu_s,
                     r.sim_peak_rss_bytes / 1e6);
  return out;
}

}  // namespace moesim::sim
