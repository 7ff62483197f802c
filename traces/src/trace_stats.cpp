#include "moesim/traces/trace_stats.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "moesim/common/error.hpp"
#include "moesim/common/progress.hpp"

namespace moesim::traces {
namespace {

// Slices of 2^20 tokens: a few MB of ids at most, whatever the file size.
constexpr std::uint64_t kSliceTokens = 1u << 20;

// Counts ids into `all` (every column) and `top1` (column 0). Bins cover the whole stored integer
// range, so an id beyond num_experts lands in a bin that is checked afterwards instead of writing
// out of bounds. With a kept mask (0/1, checked by the reader) only kept pairs count.
template <class Id>
void count_ids(const Id* ids, const std::uint8_t* kept, std::size_t n, int top_k, std::vector<std::uint64_t>& all,
               std::vector<std::uint64_t>& top1) {
  const std::size_t k = static_cast<std::size_t>(top_k);
  if (!kept) {
    for (std::size_t i = 0; i < n; ++i) ++all[ids[i]];
    for (std::size_t i = 0; i < n; i += k) ++top1[ids[i]];
    return;
  }
  for (std::size_t i = 0; i < n; ++i) all[ids[i]] += kept[i];
  for (std::size_t i = 0; i < n; i += k) top1[ids[i]] += kept[i];
}

// Kept pairs of a slice, and the pairs dropped per token against the router's k.
void count_kept(const std::uint8_t* kept, std::size_t n, int top_k, int router_k, std::uint64_t& kept_pairs,
                std::uint64_t& dropped_pairs) {
  const std::size_t k = static_cast<std::size_t>(top_k);
  for (std::size_t row = 0; row < n; row += k) {
    int in_row = 0;
    for (std::size_t j = 0; j < k; ++j) in_row += kept[row + j];
    kept_pairs += static_cast<std::uint64_t>(in_row);
    if (in_row < router_k) dropped_pairs += static_cast<std::uint64_t>(router_k - in_row);
  }
}

LayerStats layer_stats(const TraceReader& reader, int layer, Progress* progress) {
  const auto& h = reader.header();
  LayerStats s;
  s.layer = layer;
  s.model_layer = h.model_layers.at(layer);
  s.tokens = h.num_tokens;
  const int width = reader.id_width_bytes();
  const std::size_t bins = width == 4 ? static_cast<std::size_t>(h.num_experts) : (std::size_t{1} << (8 * width));
  std::vector<std::uint64_t> all(bins, 0), top1(bins, 0);
  reader.for_each_id_slice(layer, kSliceTokens, [&](const IdSlice& slice) {
    slice.visit([&](const auto* ids, std::size_t n) {
      if constexpr (sizeof(*ids) == 4) {
        for (std::size_t i = 0; i < n; ++i)
          if (ids[i] >= static_cast<std::uint32_t>(h.num_experts))
            throw InputError(located(reader.path(), fmt::format("layer {} holds expert id {} but the trace declares {} experts",
                                                                layer, ids[i], h.num_experts)));
      }
      count_ids(ids, slice.kept, n, slice.top_k, all, top1);
      if (slice.kept) count_kept(slice.kept, n, slice.top_k, h.natural_top_k(), s.kept_pairs, s.dropped_pairs);
      else s.kept_pairs += n;
      s.router_pairs += slice.tokens * static_cast<std::uint64_t>(h.natural_top_k());
    });
    if (progress) progress->advance(slice.tokens);
  });
  for (std::size_t e = static_cast<std::size_t>(h.num_experts); e < bins; ++e)
    if (all[e] != 0)
      throw InputError(located(reader.path(), fmt::format("layer {} holds expert id {} but the trace declares {} experts",
                                                          layer, e, h.num_experts)));
  all.resize(h.num_experts);
  top1.resize(h.num_experts);
  s.loads = std::move(all);
  s.top1_loads = std::move(top1);
  s.all = balance_metrics(s.loads);
  s.top1 = balance_metrics(s.top1_loads);
  return s;
}

void accumulate_mean(BalanceMetrics& acc, const BalanceMetrics& m, double weight) {
  acc.total += m.total;
  acc.mean += weight * m.mean;
  acc.variance += weight * m.variance;
  acc.cv += weight * m.cv;
  acc.gini += weight * m.gini;
  acc.max_load += weight * m.max_load;
  acc.min_load += weight * m.min_load;
  acc.max_min_ratio += weight * m.max_min_ratio;  // inf stays inf: one starving layer makes the mean inf
  acc.max_mean_ratio += weight * m.max_mean_ratio;
  acc.max_vio += weight * m.max_vio;
  acc.entropy_norm += weight * m.entropy_norm;
}

void accumulate_max(BalanceMetrics& acc, const BalanceMetrics& m, bool first) {
  auto take = [first](double& a, double b) { a = first ? b : std::max(a, b); };
  take(acc.mean, m.mean);
  take(acc.variance, m.variance);
  take(acc.cv, m.cv);
  take(acc.gini, m.gini);
  take(acc.max_load, m.max_load);
  take(acc.min_load, m.min_load);
  take(acc.max_min_ratio, m.max_min_ratio);
  take(acc.max_mean_ratio, m.max_mean_ratio);
  take(acc.max_vio, m.max_vio);
  take(acc.entropy_norm, m.entropy_norm);
  acc.total = first ? m.total : std::max(acc.total, m.total);
}

nlohmann::json finite_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

}  // namespace

TraceStats compute_stats(const TraceReader& reader, const std::vector<int>& layers, Progress* progress) {
  const auto& h = reader.header();
  std::vector<int> chosen = layers;
  if (chosen.empty())
    for (int l = 0; l < h.num_layers; ++l) chosen.push_back(l);
  for (int l : chosen)
    if (l < 0 || l >= h.num_layers)
      throw InputError(located(reader.path(), fmt::format("layer {} does not exist (the trace has layers 0..{})", l,
                                                          h.num_layers - 1)));
  TraceStats stats;
  const double w = 1.0 / static_cast<double>(chosen.size());
  for (int l : chosen) {
    stats.layers.push_back(layer_stats(reader, l, progress));
    accumulate_mean(stats.mean_all, stats.layers.back().all, w);
    accumulate_mean(stats.mean_top1, stats.layers.back().top1, w);
    accumulate_max(stats.max_all, stats.layers.back().all, stats.layers.size() == 1);
    accumulate_max(stats.max_top1, stats.layers.back().top1, stats.layers.size() == 1);
    stats.kept_pairs += stats.layers.back().kept_pairs;
    stats.router_pairs += stats.layers.back().router_pairs;
    stats.dropped_pairs += stats.layers.back().dropped_pairs;
  }
  return stats;
}

StatsVerdict stats_verdict(const TraceStats& stats) {
  StatsVerdict v;
  const LayerStats* worst = nullptr;
  for (const auto& l : stats.layers) {
    if (!worst || l.all.max_mean_ratio > worst->all.max_mean_ratio) worst = &l;
    for (std::uint64_t x : l.loads) v.dead_experts += x == 0;
  }
  if (!worst) return {"balanced", "no layers selected", -1, 0};
  v.worst_layer = worst->layer;
  const double m = worst->all.max_mean_ratio;
  v.level = m <= kBalancedMaxMean ? "balanced" : m <= kImbalancedMaxMean ? "mildly imbalanced" : "imbalanced";
  v.text = fmt::format("{}: the busiest expert of layer {} gets {:.2f}x the mean load (Gini {:.2f}), so the GPU "
                       "holding it receives about {:.2f}x a balanced share in that layer's all-to-all",
                       v.level, worst->layer, m, worst->all.gini, m);
  if (v.dead_experts > 0)
    v.text += fmt::format("; {} of {} (layer, expert) cells get no tokens", v.dead_experts,
                          stats.layers.size() * worst->loads.size());
  return v;
}

nlohmann::json to_json(const BalanceMetrics& m) {
  return {{"total", m.total},
          {"mean", m.mean},
          {"variance", m.variance},
          {"cv", m.cv},
          {"gini", m.gini},
          {"max", m.max_load},
          {"min", m.min_load},
          {"max_min_ratio", finite_or_null(m.max_min_ratio)},
          {"max_mean_ratio", m.max_mean_ratio},
          {"max_vio", m.max_vio},
          {"entropy_norm", m.entropy_norm}};
}

static nlohmann::json verdict_json(const StatsVerdict& v) {
  return {{"level", v.level}, {"text", v.text}, {"worst_layer", v.worst_layer}, {"dead_experts", v.dead_experts}};
}

nlohmann::json to_json(const TraceStats& stats, const TraceHeader& h) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : stats.layers)
    layers.push_back({{"layer", l.layer},
                      {"model_layer", l.model_layer},
                      {"tokens", l.tokens},
                      {"kept_pairs", l.kept_pairs},
                      {"router_pairs", l.router_pairs},
                      {"dropped_pairs", l.dropped_pairs},
                      {"drop_rate", l.drop_rate()},
                      {"loads", l.loads},
                      {"top1_loads", l.top1_loads},
                      {"all", to_json(l.all)},
                      {"top1", to_json(l.top1)}});
  return {{"model", h.model},
          {"architecture", h.architecture},
          {"dataset", h.dataset},
          {"routing_strategy", h.routing_strategy},
          {"num_tokens", h.num_tokens},
          {"num_steps", h.num_steps},
          {"num_experts", h.num_experts},
          {"top_k", h.top_k},
          {"router_top_k", h.natural_top_k()},
          {"has_kept_mask", h.has_kept_mask},
          {"drop_rate", stats.drop_rate()},
          {"layers", layers},
          {"mean_over_layers", {{"all", to_json(stats.mean_all)}, {"top1", to_json(stats.mean_top1)}}},
          {"max_over_layers", {{"all", to_json(stats.max_all)}, {"top1", to_json(stats.max_top1)}}},
          {"verdict", verdict_json(stats_verdict(stats))}};
}

}  // namespace moesim::traces
