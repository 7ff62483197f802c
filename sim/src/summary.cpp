#include "moesim/sim/summary.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

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

static PhaseSummary phase_summary(const ReplayResult& r, const std::string& name, int phase /* -1: all */) {
  PhaseSummary ps;
  ps.phase = name;
  std::vector<double> t, b, bound;
  double slow = 0, eff = 0;
  for (const auto& a : r.a2a_rows) {
    if (phase >= 0 && a.phase != phase) continue;
    t.push_back(a.time_s);
    b.push_back(a.balanced_s);
    bound.push_back(a.bound_s);
    slow += a.balanced_s > 0 ? a.time_s / a.balanced_s : 0;
    eff += a.time_s > 0 ? a.bound_s / a.time_s : 0;
  }
  ps.count = static_cast<int>(t.size());
  ps.time_s = percentiles(t);
  ps.balanced_s = percentiles(b);
  ps.bound_s = percentiles(bound);
  if (ps.count > 0) ps.mean_slowdown = slow / ps.count, ps.mean_efficiency = eff / ps.count;
  return ps;
}

ReplaySummary summarize(const ReplayResult& r) {
  ReplaySummary s;
  s.phases = {phase_summary(r, "dispatch", 0), phase_summary(r, "combine", 1), phase_summary(r, "all", -1)};
  const int n = r.gpus;
  std::vector<std::vector<double>> waits(n);
  std::vector<int> straggles(n, 0);
  std::map<int, double> expert_tokens;
  for (std::size_t i = 0; i < r.a2a_rows.size(); ++i) {
    const auto& a = r.a2a_rows[i];
    s.total_a2a_s += a.time_s;
    double first_start = INFINITY;
    for (int g = 0; g < n; ++g) first_start = std::min(first_start, r.gpu_rows[i * n + g].start_s);
    for (int g = 0; g < n; ++g) waits[g].push_back(r.gpu_rows[i * n + g].finish_s - first_start);
    if (a.straggler_gpu >= 0) ++straggles[a.straggler_gpu];
    s.ingress_bound_stragglers += a.straggler_receives;
    for (int k = 0; k < kTopExperts; ++k)
      if (a.top_expert[k] >= 0) expert_tokens[a.top_expert[k]] += a.top_expert_tokens[k];
  }
  for (int g = 0; g < n; ++g) {
    s.gpus.push_back({g, percentiles(waits[g]), straggles[g]});
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

nlohmann::json to_json(const ReplaySummary& s, const ReplayResult& r) {
  nlohmann::json j;
  j["platform"] = r.platform;
  j["algorithm"] = r.algorithm;
  j["engine"] = r.engine;
  j["gpus"] = r.gpus;
  j["all_to_alls"] = r.a2a_rows.size();
  j["total_all_to_all_s"] = s.total_a2a_s;
  for (const auto& p : s.phases)
    j["phases"][p.phase] = {{"count", p.count},
                            {"time_s", to_json(p.time_s)},
                            {"balanced_s", to_json(p.balanced_s)},
                            {"bound_s", to_json(p.bound_s)},
                            {"mean_slowdown", p.mean_slowdown},
                            {"mean_efficiency", p.mean_efficiency}};
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& g : s.gpus)
    gpus.push_back({{"gpu", g.gpu}, {"mean_s", g.wait_s.mean}, {"p99_s", g.wait_s.p99}, {"straggler_count", g.straggler_count}});
  j["per_gpu"] = gpus;
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
  out += fmt::format("platform {} | {} GPUs | algorithm {} | engine {} | {} all-to-alls\n\n", r.platform, r.gpus,
                     r.algorithm, r.engine, r.a2a_rows.size());
  out += fmt::format("{:<9} {:>6} {:>10} {:>10} {:>10} {:>10} {:>12} {:>10} {:>9} {:>10}\n", "phase", "count",
                     "P50 us", "P90 us", "P99 us", "max us", "balanced us", "bound us", "slowdown", "efficiency");
  for (const auto& p : s.phases) {
    bool balanced = p.balanced_s.max > 0;  // 0 when the balanced reference was not simulated
    out += fmt::format("{:<9} {:>6} {:>10} {:>10} {:>10} {:>10} {:>12} {:>10} {:>9} {:>9.1f}%\n", p.phase, p.count,
                       us(p.time_s.p50), us(p.time_s.p90), us(p.time_s.p99), us(p.time_s.max),
                       balanced ? us(p.balanced_s.mean) : "-", us(p.bound_s.mean),
                       balanced ? fmt::format("{:.2f}x", p.mean_slowdown) : "-", 100 * p.mean_efficiency);
  }
  out += fmt::format("\nall-to-all time in total: {} us\n", us(s.total_a2a_s));
  if (s.top_straggler_gpu >= 0) {
    out += fmt::format("straggler: GPU {} in {} of {} all-to-alls ({} bound by what the straggler receives)",
                       s.top_straggler_gpu, s.top_straggler_count, r.a2a_rows.size(), s.ingress_bound_stragglers);
    if (!s.straggler_experts.empty()) {
      out += "; experts on straggling GPUs:";
      for (const auto& [e, t] : s.straggler_experts) out += fmt::format(" {} ({:.0f} tokens)", e, t);
    }
    out += "\n";
  }
  // The slowest GPUs by mean wait.
  std::vector<GpuSummary> gpus = s.gpus;
  std::stable_sort(gpus.begin(), gpus.end(), [](const auto& a, const auto& b) { return a.wait_s.mean > b.wait_s.mean; });
  out += "slowest GPUs (mean / P99 us):";
  for (std::size_t i = 0; i < gpus.size() && i < 5; ++i)
    out += fmt::format(" {}: {}/{}", gpus[i].gpu, us(gpus[i].wait_s.mean), us(gpus[i].wait_s.p99));
  out += fmt::format("\nsimulated {} flows in {} all-to-alls ({} reused) in {:.2f} s ({:.2f} s CPU)\n",
                     r.flows_simulated, r.a2a_simulated, r.a2a_reused, r.sim_wall_s, r.sim_cpu_s);
  return out;
}

}  // namespace moesim::sim
