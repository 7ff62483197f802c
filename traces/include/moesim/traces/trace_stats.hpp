#pragma once
// Per-layer expert loads of a trace and their balance metrics (all k choices and top-1 only).
#include <nlohmann/json.hpp>
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
  std::vector<std::uint64_t> loads;       // all k choices, per expert
  std::vector<std::uint64_t> top1_loads;  // column 0 only
  BalanceMetrics all, top1;
};

struct TraceStats {
  std::vector<LayerStats> layers;
  // Each metric averaged over the selected layers, except `total`, which is summed over them.
  BalanceMetrics mean_all, mean_top1;
};

// layers empty = every layer. Streams the file; memory is one slice of ids.
TraceStats compute_stats(const TraceReader& reader, const std::vector<int>& layers, Progress* progress = nullptr);

nlohmann::json to_json(const BalanceMetrics& m);
nlohmann::json to_json(const TraceStats& stats, const TraceHeader& header);

}  // namespace moesim::traces
