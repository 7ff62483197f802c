#include "moesim/sim/summary.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

namespace moesim::sim {

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    double pos = q * static_cast<double>(v.size() - 1);
    auto lo = static_cast<std::size_t>(std::floor(pos));
    std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
  };
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.max = v.back();
  p.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  return p;
}

namespace {

constexpr const char* kA2APopulation = "all-to-all instances (each: its slowest GPU's finish - own start)";
constexpr const char* kLayerPopulation = "layers (each: first dispatch start -> last combine finish, compute included)";

// Means of ratios over the instances that carry network traffic: an all-to-all with nothing to send
// has no meaningful slowdown or efficiency, and counting it as 0 would drag the mean down.
struct Ratios {
  double slowdown = 0, efficiency = 0;
  int count = 0, with_balanced = 0;
  void add(double time_s, double balanced_s, double bound_s) {
    if (!(time_s > 0)) return;
    efficiency += bound_s / time_s;
    ++count;
    if (balanced_s > 0) slowdown += time_s / balanced_s, ++with_balanced;  // none with --no-balanced
  }
  void finish(PhaseSummary& ps) const {
    ps.traffic_count = count;
    if (count > 0) ps.mean_efficiency = efficiency / count;
    if (with_balanced > 0) ps.mean_slowdown = slowdown / with_balanced;
  }
};

PhaseSummary a2a_phase_summary(const ReplayResult& r, const std::string& name, int phase /* -1: all */) {
  PhaseSummary ps;
  ps.phase = name;
  ps.population = kA2APopulation;
  std::vector<double> t, b, bound, gpu_times;
  Ratios ratios;
  const std::size_t n = static_cast<std::size_t>(r.gpus);
  for (std::size_t i = 0; i < r.a2a_rows.size(); ++i) {
    const auto& a = r.a2a_rows[i];
    if (phase >= 0 && a.phase != phase) continue;
    t.push_back(a.time_s);
    b.push_back(a.balanced_s);
    bound.push_back(a.bound_s);
    for (std::size_t g = 0; g < n && (i + 1) * n <= r.gpu_rows.size(); ++g) gpu_times.push_back(r.gpu_rows[i * n + g].time_s());
    if (a.network_bytes > 0) ratios.add(a.time_s, a.balanced_s, a.bound_s);
  }
  ps.count = static_cast<int>(t.size());
  ps.time_s = percentiles(t);
  ps.balanced_s = percentiles(b);
  ps.bound_s = percentiles(bound);
  ps.gpu_time_s = percentiles(gpu_times);
  ratios.finish(ps);
  return ps;
}

PhaseSummary layer_summary(const ReplayResult& r) {
  PhaseSummary ps;
  ps.phase = "layer";
  ps.population = kLayerPopulation;
  std::vector<double> t, b, bound;
  Ratios ratios;
  for (std::size_t i = 0; i < r.layer_rows.size(); ++i) {
    const auto& l = r.layer_rows[i];
    t.push_back(l.time_s);
    b.push_back(l.balanced_s);
    bound.push_back(l.bound_s);
    bool traffic = 2 * i + 1 < r.a2a_rows.size() &&
                   (r.a2a_rows[2 * i].network_bytes > 0 || r.a2a_rows[2 * i + 1].network_bytes > 0);
    if (traffic) ratios.add(l.time_s, l.balanced_s, l.bound_s);
  }
  ps.count = static_cast<int>(t.size());
  ps.time_s = percentiles(t);
  ps.balanced_s = percentiles(b);
  ps.bound_s = percentiles(bound);
  ratios.finish(ps);
  return ps;
}

}  // namespace

const PhaseSummary& ReplaySummary::phase(const std::string& name) const {
  for (const auto& p : phases)
    if (p.phase == name) return p;
  throw std::logic_error("no phase " + name);
}

ReplaySummary summarize(const ReplayResult& r) {
  ReplaySummary s;
  s.phases = {a2a_phase_summary(r, "dispatch", 0), a2a_phase_summary(r, "combine", 1), a2a_phase_summary(r, "all", -1),
              layer_summary(r)};
  const int n = r.gpus;
  std::vector<std::vector<double>> times(n);
  std::vector<int> straggles(n, 0);
  std::map<int, double> expert_tokens;
  for (std::size_t i = 0; i < r.a2a_rows.size(); ++i) {
    const auto& a = r.a2a_rows[i];
    s.total_a2a_s += a.time_s;
    for (int g = 0; g < n && (i + 1) * n <= r.gpu_rows.size(); ++g) times[g].push_back(r.gpu_rows[i * n + g].time_s());
    if (a.straggler_gpu >= 0 && a.straggler_gpu < n) ++straggles[a.straggler_gpu];
    s.ingress_bound_stragglers += a.straggler_receives;
    for (int k = 0; k < kTopExperts; ++k)
      if (a.top_expert[k] >= 0) expert_tokens[a.top_expert[k]] += a.top_expert_tokens[k];
  }
  for (const auto& l : r.layer_rows) s.total_layer_s += l.time_s;
  for (int g = 0; g < n; ++g) {
    s.gpus.push_back({g, percentiles(times[g]), straggles[g]});
    if (straggles[g] > s.top_straggler_count) s.top_straggler_count = straggles[g], s.top_straggler_gpu = g;
  }
  s.straggler_experts.assign(expert_tokens.begin(), expert_tokens.end());
  std::stable_sort(s.straggler_experts.begin(), s.straggler_experts.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (s.straggler_experts.size() > 5) s.straggler_experts.resize(5);
  return s;
}

static nlohmann::json to_json(const Percentiles& p) {
  return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"max", p.max}, {"mean", p.mean}};
}

nlohmann::json settings_json(const ResolvedSettings& settings) {
  return {{"dispatch_bytes_per_token", settings.dispatch_bytes_per_token},
          {"combine_bytes_per_token", settings.combine_bytes_per_token},
          {"hidden_size", settings.hidden_size},
          {"placement", settings.placement},
          {"calibration", settings.calibration},
          {"nominal_platform", settings.nominal_platform},
          {"local_copy", settings.local_copy},
          {"start_offsets", settings.start_offsets.empty() ? "none (every GPU starts at 0)" : settings.start_offsets},
          {"fluid_merge", settings.fluid_merge},
          {"approximate", settings.fluid_merge > 0},
          {"threads", settings.threads}};
}

nlohmann::json to_json(const ReplaySummary& s, const ReplayResult& r) {
  nlohmann::json j;
  j["platform"] = r.platform;
  j["algorithm"] = r.algorithm;
  j["engine"] = r.engine;
  j["gpus"] = r.gpus;
  j["settings"] = settings_json(r.settings);
  j["settings"]["gpus"] = r.gpus;
  j["settings"]["engine"] = r.engine;
  j["settings"]["algorithm"] = r.algorithm;
  j["all_to_alls"] = r.a2a_rows.size();
  j["layers"] = r.layer_rows.size();
  j["total_all_to_all_s"] = s.total_a2a_s;
  j["total_layer_s"] = s.total_layer_s;
  for (const auto& p : s.phases) {
    auto& phase = j["phases"][p.phase];
    phase = {{"population", p.population},
             {"count", p.count},
             {"traffic_count", p.traffic_count},
             {"time_s", to_json(p.time_s)},
             {"balanced_s", to_json(p.balanced_s)},
             {"bound_s", to_json(p.bound_s)},
             {"mean_slowdown", p.mean_slowdown},
             {"mean_efficiency", p.mean_efficiency}};
    if (p.phase != "layer") {
      phase["gpu_time_s"] = to_json(p.gpu_time_s);
      phase["gpu_time_population"] = "(GPU, all-to-all) pairs: each GPU's finish - own start";
    }
  }
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& g : s.gpus)
    gpus.push_back({{"gpu", g.gpu}, {"mean_s", g.time_s.mean}, {"p99_s", g.time_s.p99}, {"straggler_count", g.straggler_count}});
  j["per_gpu"] = gpus;
  j["per_gpu_population"] = "the GPU's all-to-alls (dispatch and combine): finish - own start";
  nlohmann::json experts = nlohmann::json::array();
  for (const auto& [e, t] : s.straggler_experts) experts.push_back({{"expert", e}, {"tokens", t}});
  j["straggler"] = {{"gpu", s.top_straggler_gpu},
                    {"count", s.top_straggler_count},
                    {"ingress_bound_count", s.ingress_bound_stragglers},
                    {"experts", experts}};
  j["traffic"] = {{"tokens", r.tokens},
                  {"assignments", r.assignments},
                  {"token_copies_sent", r.token_copies_sent},
                  {"dispatch_bytes_total", r.dispatch_bytes_total}};
  j["simulation"] = {{"flows", r.flows_simulated},
                     {"all_to_alls_simulated", r.a2a_simulated},
                     {"all_to_alls_reused", r.a2a_reused},
                     {"wall_s", r.sim_wall_s},
                     {"cpu_s", r.sim_cpu_s},
                     {"peak_rss_bytes", r.sim_peak_rss_bytes}};
  return j;
}

static std::string us(double s) { return fmt::format("{:.2f}", s * 1e6); }

std::string human_report(const ReplaySummary& s, const ReplayResult& r) {
  std::string out;
  out += fmt::format("platform {} | {} GPUs | algorithm {} | engine {} | {} all-to-alls in {} layers\n", r.platform,
                     r.gpus, r.algorithm, r.engine, r.a2a_rows.size(), r.layer_rows.size());
  if (r.settings.dispatch_bytes_per_token > 0)
    out += fmt::format("bytes per token: dispatch {:g}, combine {:g} (hidden size {}) | placement {}\n",
                       r.settings.dispatch_bytes_per_token, r.settings.combine_bytes_per_token, r.settings.hidden_size,
                       r.settings.placement);
  out += fmt::format("calibration: {}{}\n", r.settings.calibration,
                     r.settings.local_copy ? "; local copy on each GPU's copy link" : "; local copy not modelled (free)");
  if (!r.settings.start_offsets.empty()) out += fmt::format("start offsets: {}\n", r.settings.start_offsets);
  if (r.settings.fluid_merge > 0)
    out += fmt::format("APPROXIMATE: --fluid-merge {:g} (completions within {:g} x elapsed time are one event; error "
                       "against the exact engine measured in sim/README.md)\n",
                       r.settings.fluid_merge, r.settings.fluid_merge);
  out += "an all-to-all's time is its slowest GPU's (finish - own start); a layer's runs from the first dispatch start\n"
         "to the last combine finish, compute included; P50..max over all-to-alls (layer: over layers)\n\n";
  out += fmt::format("{:<9} {:>6} {:>10} {:>10} {:>10} {:>10} {:>15} {:>13} {:>14} {:>16}\n", "phase", "count",
                     "P50 us", "P90 us", "P99 us", "max us", "balanced P99 us", "bound P99 us", "mean slowdown",
                     "mean efficiency");
  for (const auto& p : s.phases) {
    bool balanced = p.balanced_s.max > 0;  // 0 when the balanced reference was not simulated
    bool ratios = p.traffic_count > 0;
    out += fmt::format("{:<9} {:>6} {:>10} {:>10} {:>10} {:>10} {:>15} {:>13} {:>14} {:>16}\n", p.phase, p.count,
                       us(p.time_s.p50), us(p.time_s.p90), us(p.time_s.p99), us(p.time_s.max),
                       balanced ? us(p.balanced_s.p99) : "-", us(p.bound_s.p99),
                       balanced && ratios ? fmt::format("{:.2f}x", p.mean_slowdown) : "-",
                       ratios ? fmt::format("{:.1f}%", 100 * p.mean_efficiency) : "-");
  }
  out += fmt::format("\nin total: all-to-alls {} us, layers {} us\n", us(s.total_a2a_s), us(s.total_layer_s));
  if (s.top_straggler_gpu >= 0) {
    out += fmt::format("straggler: GPU {} in {} of {} all-to-alls ({} bound by what the straggler receives)",
                       s.top_straggler_gpu, s.top_straggler_count, r.a2a_rows.size(), s.ingress_bound_stragglers);
    if (!s.straggler_experts.empty()) {
      out += "; experts on straggling GPUs:";
      for (const auto& [e, t] : s.straggler_experts) out += fmt::format(" {} ({:.0f} tokens)", e, t);
    }
    out += "\n";
  }
  // The slowest GPUs by mean phase time.
  std::vector<GpuSummary> gpus = s.gpus;
  std::stable_sort(gpus.begin(), gpus.end(), [](const auto& a, const auto& b) { return a.time_s.mean > b.time_s.mean; });
  out += "slowest GPUs by phase time (mean / P99 us):";
  for (std::size_t i = 0; i < gpus.size() && i < 5; ++i)
    out += fmt::format(" {}: {}/{}", gpus[i].gpu, us(gpus[i].time_s.mean), us(gpus[i].time_s.p99));
  out += fmt::format("\nsimulated {} flows in {} all-to-alls ({} reused) in {:.2f} s ({:.2f} s CPU{})\n",
                     r.flows_simulated, r.a2a_simulated, r.a2a_reused, r.sim_wall_s, r.sim_cpu_s,
                     r.settings.threads > 1 ? fmt::format(", {} threads", r.settings.threads) : "");
  return out;
}

}  // namespace moesim::sim
