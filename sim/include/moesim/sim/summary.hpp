#pragma once
// What a replay means in a few numbers (definitions in sim/README.md, "Definitions"):
//  - per phase (dispatch, combine, both as "all", and the whole "layer"): P50/P90/P99/max/mean over
//    instances (all-to-alls, or layers) of their time, of the balanced reference and of the bound;
//    the mean slowdown (time / balanced) and efficiency (bound / time) over instances that carry
//    network traffic; for all-to-alls also the same percentiles over every (GPU, instance) phase time;
//  - per GPU its phase times (finish - own start) over all its all-to-alls: mean and P99;
//  - the straggler named most often and the experts on straggling GPUs.
#include <nlohmann/json.hpp>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "moesim/sim/replay_result.hpp"

namespace moesim::sim {

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};
// Linear interpolation between order statistics (numpy's default); all zeros for no values.
Percentiles percentiles(std::vector<double> values);

struct PhaseSummary {
  std::string phase;       // dispatch, combine, all, layer
  std::string population;  // what the percentiles are taken over, in words
  int count = 0;           // instances
  int traffic_count = 0;   // instances with network traffic (those the means of ratios average)
  Percentiles time_s, balanced_s, bound_s;
  Percentiles gpu_time_s;  // all-to-all phases: over (GPU, instance); empty for the layer
  double mean_slowdown = 0;    // mean of time / balanced over instances with traffic
  double mean_efficiency = 0;  // mean of bound / time over instances with traffic
};

struct GpuSummary {
  int gpu = 0;
  Percentiles time_s;  // its phase times (finish - its own start) over all its all-to-alls
  int straggler_count = 0;  // all-to-alls in which it was the straggler reported
};

struct ReplaySummary {
  std::vector<PhaseSummary> phases;  // dispatch, combine, all, layer
  std::vector<GpuSummary> gpus;
  int top_straggler_gpu = -1;
  int top_straggler_count = 0;
  int ingress_bound_stragglers = 0;  // all-to-alls whose straggler was bound by what it receives
  std::vector<std::pair<int, double>> straggler_experts;  // (expert, tokens) summed over straggling, most first
  double total_a2a_s = 0;    // sum over all-to-alls of their time
  double total_layer_s = 0;  // sum over layers of their time: what the replayed steps spend in MoE layers
  const PhaseSummary& phase(const std::string& name) const;
};

ReplaySummary summarize(const ReplayResult& r);
nlohmann::json to_json(const ReplaySummary& s, const ReplayResult& r);
// The settings a replay resolved (bytes per token, placement, calibration, local copy, start offsets,
// approximation), as every output records them: replay's summary.json and --json, and EP groups'.
nlohmann::json settings_json(const ResolvedSettings& settings);
std::string human_report(const ReplaySummary& s, const ReplayResult& r);

// --out DIR: replay.h5 (every row), a2a.csv (one row per all-to-all and per layer), summary.json,
// written into a temporary folder beside DIR and renamed over it as a whole (results_io.cpp).
void write_outputs(const std::filesystem::path& dir, const ReplayResult& r, const ReplaySummary& s,
                   const nlohmann::json& config);
// The one way every result folder is written (replay's and EP groups'): `fill` writes the files into
// a temporary folder beside DIR, which then takes DIR's place in one step (a kill at any point leaves
// the old results or the new ones, never a mix); a folder holding another configuration's results
// (its summary.json "config" differs from `config`) is refused first.
void write_result_folder(const std::filesystem::path& dir, const nlohmann::json& config,
                         const std::function<void(const std::filesystem::path& temp)>& fill);
// The refusals of write_outputs that need no result (a path below a file, a folder holding another
// configuration's results), so that the command can give them before it replays, not after.
void check_outputs(const std::filesystem::path& dir, const nlohmann::json& config);

}  // namespace moesim::sim
