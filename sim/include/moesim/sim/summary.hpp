#pragma once
// What a replay means in a few numbers: over all all-to-alls P50/P90/P99/max of the time the layer
// waits, against the balanced reference (slowdown = actual / balanced) and the bandwidth bound
// (efficiency = bound / actual); per GPU its mean and P99; the GPU that straggles most and the
// experts that made it straggle.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "moesim/sim/replay.hpp"

namespace moesim::sim {

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};
// Linear interpolation between order statistics (numpy's default); all zeros for no values.
Percentiles percentiles(std::vector<double> values);

struct PhaseSummary {
  std::string phase;  // dispatch, combine, all
  int count = 0;
  Percentiles time_s, balanced_s, bound_s;
  double mean_slowdown = 0;    // mean of time / balanced
  double mean_efficiency = 0;  // mean of bound / time
};

struct GpuSummary {
  int gpu = 0;
  Percentiles wait_s;  // finish - start of its all-to-all, over all all-to-alls
  int straggler_count = 0;
};

struct ReplaySummary {
  std::vector<PhaseSummary> phases;
  std::vector<GpuSummary> gpus;
  int top_straggler_gpu = -1;
  int top_straggler_count = 0;
  int ingress_bound_stragglers = 0;  // all-to-alls whose straggler was bound by what it receives
  std::vector<std::pair<int, double>> straggler_experts;  // (expert, tokens) summed over straggling, most first
  double total_a2a_s = 0;  // sum over all-to-alls of their time: the all-to-all share of the run
};

ReplaySummary summarize(const ReplayResult& r);
nlohmann::json to_json(const ReplaySummary& s, const ReplayResult& r);
std::string human_report(const ReplaySummary& s, const ReplayResult& r);

// --out DIR: replay.h5 (every row), a2a.csv (one row per all-to-all), summary.json; each written atomically.
void write_outputs(const std::filesystem::path& dir, const ReplayResult& r, const ReplaySummary& s,
                   const nlohmann::json& config);

}  // namespace moesim::sim
