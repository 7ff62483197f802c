#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "moesim/traces/balance_metrics.hpp"

using moesim::traces::balance_metrics;

TEST_CASE("uniform load: every imbalance metric at its balanced value") {
  std::vector<std::uint64_t> loads(8, 100);
  auto m = balance_metrics(loads);
  CHECK(m.total == 800);
  CHECK(m.mean == 100);
  CHECK(m.gini == 0);
  CHECK(m.cv == 0);
  CHECK(m.variance == 0);
  CHECK(m.max_min_ratio == 1);
  CHECK(m.max_mean_ratio == 1);
  CHECK(m.max_vio == 0);
  CHECK(m.entropy_norm == doctest::Approx(1.0));
}

TEST_CASE("one-hot load: Gini (E-1)/E, entropy 0, max/min infinite") {
  std::vector<std::uint64_t> loads = {0, 0, 40, 0};
  auto m = balance_metrics(loads);
  CHECK(m.gini == doctest::Approx(3.0 / 4.0));
  CHECK(m.entropy_norm == doctest::Approx(0.0));
  CHECK(std::isinf(m.max_min_ratio));
  CHECK(m.max_mean_ratio == doctest::Approx(4.0));
  CHECK(m.max_vio == doctest::Approx(3.0));
  // mean 10; deviations 10,10,30,10 → variance (100+100+900+100)/4 = 300
  CHECK(m.variance == doctest::Approx(300.0));
  CHECK(m.cv == doctest::Approx(std::sqrt(300.0) / 10.0));
}

TEST_CASE("4-expert example worked on paper: loads 1,2,3,4") {
  // total 10, mean 2.5
  // variance = (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25; cv = sqrt(1.25)/2.5 = 0.4472136
  // Gini: Σ|xi−xj| over ordered pairs = 2·(1+2+3+1+2+1) = 20; / (2·16·2.5 = 80) = 0.25
  // max/min = 4, max/mean = 1.6, MaxVio = 0.6
  // entropy: p = .1,.2,.3,.4; H = 1.2798542 nats; / ln 4 (1.3862944) = 0.9232196
  std::vector<std::uint64_t> loads = {3, 1, 4, 2};
  auto m = balance_metrics(loads);
  CHECK(m.variance == doctest::Approx(1.25));
  CHECK(m.cv == doctest::Approx(0.4472136));
  CHECK(m.gini == doctest::Approx(0.25));
  CHECK(m.max_min_ratio == doctest::Approx(4.0));
  CHECK(m.max_mean_ratio == doctest::Approx(1.6));
  CHECK(m.max_vio == doctest::Approx(0.6));
  CHECK(m.entropy_norm == doctest::Approx(0.9232196).epsilon(1e-6));
}

TEST_CASE("no tokens routed: ratios stay zero instead of NaN") {
  std::vector<std::uint64_t> loads(4, 0);
  auto m = balance_metrics(loads);
  CHECK(m.total == 0);
  CHECK(m.gini == 0);
  CHECK_FALSE(std::isnan(m.max_mean_ratio));
}
