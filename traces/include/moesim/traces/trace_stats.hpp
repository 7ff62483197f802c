#pragma once
// Per-layer expert loads of a trace and their balance metrics (all k choices and top-1 only).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "moesim/traces/balance_metrics.hpp"
#include "moesim/traces/trace_reader.hpp"

namespace moesim {
class Progress;
}

namespace moesim::traces {

struct LayerStats {
  int layer = 0;        // index in the file
  int model_layer = 0;  // index in the model
  std::uint64_t tokens = 0;
  // Loads count kept pairs only: a pair the strategy dropped was neither computed nor sent.
  std::vector<std::uint64_t> loads;       // all k choices, per expert
  std::vector<std::uint64_t> top1_loads;  // column 0 only (where kept)
  std::uint64_t kept_pairs = 0;     // tokens × k without a kept mask
  std::uint64_t router_pairs = 0;   // tokens × the router's k: the pairs the model's own routing has
  // Σ over tokens of max(0, router k − pairs kept): what the strategy took away. A token that expert
  // choice gave more than k experts does not offset another's loss.
  std::uint64_t dropped_pairs = 0;
  double drop_rate() const { return router_pairs ? static_cast<double>(dropped_pairs) / static_cast<double>(router_pairs) : 0.0; }
  BalanceMetrics all, top1;
};

struct TraceStats {
  std::vector<LayerStats> layers;
  // Each metric averaged over the selected layers, except `total`, which is summed over them.
  BalanceMetrics mean_all, mean_top1;
  // Each metric's largest value over the selected layers (`total` too): the worst layer sets the
  // slowest all-to-all, which a mean hides.
  BalanceMetrics max_all, max_top1;
  std::uint64_t kept_pairs = 0, router_pairs = 0, dropped_pairs = 0;  // summed over the selected layers
  double drop_rate() const { return router_pairs ? static_cast<double>(dropped_pairs) / static_cast<double>(router_pairs) : 0.0; }
};

// layers empty = every layer. Streams the file; memory is one slice of ids.
TraceStats compute_stats(const TraceReader& reader, const std::vector<int>& layers, Progress* progress = nullptr);

// One line on what the loads mean: the worst layer's busiest expert against the mean (how much more
// its GPU receives than a balanced share), and experts that get no tokens.
struct StatsVerdict {
  std::string level;  // "balanced", "mildly imbalanced" or "imbalanced"
  std::string text;
  int worst_layer = -1;  // file index of the layer with the largest max/mean
  std::uint64_t dead_experts = 0;  // (layer, expert) cells with 0 kept pairs
};
// Thresholds on the worst layer's max/mean: ≤ 1.25 balanced (its GPU's all-to-all share within 25 %
// of the even one), ≤ 2 mildly imbalanced, above that imbalanced.
inline constexpr double kBalancedMaxMean = 1.25, kImbalancedMaxMean = 2.0;
StatsVerdict stats_verdict(const TraceStats& stats);

nlohmann::json to_json(const BalanceMetrics& m);
nlohmann::json to_json(const TraceStats& stats, const TraceHeader& header);

}  // namespace moesim::traces
