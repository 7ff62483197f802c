// trace stats' verdict: the worst layer's max/mean against the thresholds, dead experts counted;
// loads worked by hand.
#include <doctest/doctest.h>

#include "moesim/traces/balance_metrics.hpp"
#include "moesim/traces/trace_stats.hpp"

using namespace moesim::traces;

namespace {

TraceStats stats_of(const std::vector<std::vector<std::uint64_t>>& layers) {
  TraceStats s;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    LayerStats l;
    l.layer = static_cast<int>(i);
    l.loads = layers[i];
    l.all = balance_metrics(l.loads);
    s.layers.push_back(l);
  }
  return s;
}

}  // namespace

TEST_CASE("trace stats verdict: the worst layer's max/mean decides; dead experts are counted") {
  // 4,4,4,4: max/mean 1 → balanced.
  StatsVerdict even = stats_verdict(stats_of({{4, 4, 4, 4}}));
  CHECK(even.level == "balanced");
  CHECK(even.dead_experts == 0);
  // Layer 1's 6,4,4,2 (mean 4, max/mean 1.5) is the worst: mildly imbalanced.
  StatsVerdict mild = stats_verdict(stats_of({{4, 4, 4, 4}, {6, 4, 4, 2}}));
  CHECK(mild.level == "mildly imbalanced");
  CHECK(mild.worst_layer == 1);
  // 10,2,2,2: max/mean 2.5; 0,8,4,4: max/mean 2 and one dead expert (1 of 8 cells).
  StatsVerdict bad = stats_verdict(stats_of({{0, 8, 4, 4}, {10, 2, 2, 2}}));
  CHECK(bad.level == "imbalanced");
  CHECK(bad.worst_layer == 1);
  CHECK(bad.dead_experts == 1);
  CHECK(bad.text ==
        "imbalanced: the busiest expert of layer 1 gets 2.50x the mean load (Gini 0.38), so the GPU holding it receives "
        "about 2.50x a balanced share in that layer's all-to-all; 1 of 8 (layer, expert) cells get no tokens");
}
