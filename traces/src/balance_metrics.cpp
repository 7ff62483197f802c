#include "moesim/traces/balance_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace moesim::traces {

BalanceMetrics balance_metrics(std::span<const std::uint64_t> loads) {
  BalanceMetrics m;
  const std::size_t n = loads.size();
  if (n == 0) return m;
  const double E = static_cast<double>(n);
  for (auto x : loads) m.total += x;
  m.mean = static_cast<double>(m.total) / E;
  auto [lo, hi] = std::minmax_element(loads.begin(), loads.end());
  m.min_load = static_cast<double>(*lo);
  m.max_load = static_cast<double>(*hi);
  if (m.total == 0) return m;  // nothing routed: every ratio is undefined, leave them 0

  // variance = (1/E) Σ (x_i − mean)²  (population: the experts are all there is, not a sample)
  double ss = 0;
  for (auto x : loads) ss += (static_cast<double>(x) - m.mean) * (static_cast<double>(x) - m.mean);
  m.variance = ss / E;
  // cv = σ / mean
  m.cv = std::sqrt(m.variance) / m.mean;

  // Gini = Σ_i Σ_j |x_i − x_j| / (2 E² mean). With x sorted ascending and 1-based rank i this equals
  // (2 Σ_i i·x_(i)) / (E Σ x) − (E + 1)/E, which is O(E log E) instead of O(E²).
  // 0 when all loads are equal; (E−1)/E when one expert takes everything.
  std::vector<std::uint64_t> sorted(loads.begin(), loads.end());
  std::sort(sorted.begin(), sorted.end());
  double weighted = 0;
  for (std::size_t i = 0; i < n; ++i) weighted += static_cast<double>(i + 1) * static_cast<double>(sorted[i]);
  m.gini = 2.0 * weighted / (E * static_cast<double>(m.total)) - (E + 1.0) / E;
  if (std::abs(m.gini) < 1e-15) m.gini = 0;  // exact balance should read 0, not rounding noise

  // max/min = +inf when an expert gets nothing (reported as null in JSON)
  m.max_min_ratio = m.min_load > 0 ? m.max_load / m.min_load : std::numeric_limits<double>::infinity();
  m.max_mean_ratio = m.max_load / m.mean;
  // MaxVio = (max − mean) / mean: how far the hottest expert overshoots a perfectly even share
  m.max_vio = (m.max_load - m.mean) / m.mean;

  // normalised entropy = −Σ p_i ln p_i / ln E with p_i = x_i / Σ x; 1 for uniform, 0 for one-hot.
  if (n > 1) {
    double h = 0;
    for (auto x : loads)
      if (x > 0) {
        double p = static_cast<double>(x) / static_cast<double>(m.total);
        h -= p * std::log(p);
      }
    m.entropy_norm = h / std::log(E);
  } else {
    m.entropy_norm = 1;
  }
  return m;
}

}  // namespace moesim::traces
