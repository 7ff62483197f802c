#include "moesim/sim/summary.hpp"

#include <doctest/doctest.h>

using namespace moesim::sim;

TEST_CASE("percentiles interpolate between order statistics like numpy") {
  std::vector<double> v;
  for (int i = 101; i >= 1; --i) v.push_back(i);  // unsorted on purpose
  auto p = percentiles(v);
  CHECK(p.p50 == 51);
  CHECK(p.p90 == 91);
  CHECK(p.p99 == 100);
  CHECK(p.max == 101);
  CHECK(p.mean == 51);
  auto q = percentiles({0.0, 10.0});
  CHECK(q.p90 == doctest::Approx(9.0));
  CHECK(percentiles({}).max == 0);
}

TEST_CASE("summary: slowdown, efficiency, per-GPU waits and the straggler") {
  ReplayResult r;
  r.gpus = 2;
  // Two all-to-alls; GPU 1 straggles in both, hosting expert 5.
  A2ARow a;
  a.phase = 0;
  a.time_s = 4;
  a.balanced_s = 2;
  a.bound_s = 1;
  a.straggler_gpu = 1;
  a.straggler_receives = 1;
  a.top_expert[0] = 5;
  a.top_expert_tokens[0] = 10;
  A2ARow b = a;
  b.phase = 1;
  b.time_s = 2;
  b.balanced_s = 2;
  b.straggler_receives = 0;
  r.a2a_rows = {a, b};
  r.gpu_rows = {{0, 0, 0, 0, 0, 3, 0, 0}, {0, 0, 0, 1, 0, 4, 0, 0}, {0, 0, 1, 0, 1, 2, 0, 0}, {0, 0, 1, 1, 1, 3, 0, 0}};
  auto s = summarize(r);
  CHECK(s.phases[2].mean_slowdown == doctest::Approx((2.0 + 1.0) / 2));
  CHECK(s.phases[2].mean_efficiency == doctest::Approx((0.25 + 0.5) / 2));
  CHECK(s.phases[0].time_s.max == 4);
  CHECK(s.gpus[1].wait_s.mean == doctest::Approx((4.0 + 2.0) / 2));  // waits from the first start of each
  CHECK(s.gpus[0].wait_s.mean == doctest::Approx((3.0 + 1.0) / 2));
  CHECK(s.top_straggler_gpu == 1);
  CHECK(s.top_straggler_count == 2);
  CHECK(s.ingress_bound_stragglers == 1);
  REQUIRE(s.straggler_experts.size() == 1);
  CHECK(s.straggler_experts[0] == std::pair<int, double>{5, 20});
  CHECK(s.total_a2a_s == 6);
}
