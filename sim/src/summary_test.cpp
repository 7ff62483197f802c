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

TEST_CASE("summary: slowdown and efficiency over all-to-alls with traffic, per-GPU times from each GPU's own start") {
  ReplayResult r;
  r.gpus = 2;
  // Layer 0: dispatch (time 4, balanced 2, bound 1) and combine (time 2, balanced 2, bound 1); GPU 1
  // straggles in both, hosting expert 5. Layer 1 moves no bytes at all (every token stays home).
  A2ARow a;
  a.phase = 0;
  a.time_s = 4;
  a.balanced_s = 2;
  a.bound_s = 1;
  a.network_bytes = 1e6;
  a.straggler_gpu = 1;
  a.straggler_receives = 1;
  a.top_expert[0] = 5;
  a.top_expert_tokens[0] = 10;
  A2ARow b = a;
  b.phase = 1;
  b.time_s = 2;
  b.balanced_s = 2;
  b.straggler_receives = 0;
  A2ARow idle_dispatch, idle_combine;
  idle_dispatch.layer = idle_combine.layer = 1;
  idle_combine.phase = 1;
  r.a2a_rows = {a, b, idle_dispatch, idle_combine};
  // Combine starts differ: GPU 0 at 1, GPU 1 at 3 (its experts computed longer).
  r.gpu_rows = {{0, 0, 0, 0, 0, 3, 0, 0}, {0, 0, 0, 1, 0, 4, 0, 0}, {0, 0, 1, 0, 1, 2, 0, 0}, {0, 0, 1, 1, 3, 5, 0, 0},
                {0, 1, 0, 0, 0, 0, 0, 0}, {0, 1, 0, 1, 0, 0, 0, 0}, {0, 1, 1, 0, 0, 0, 0, 0}, {0, 1, 1, 1, 0, 0, 0, 0}};
  r.layer_rows = {{0, 0, 5, 4.5, 2, 0}, {0, 1, 0, 0, 0, 0}};
  auto s = summarize(r);
  // Means over the two all-to-alls with traffic: slowdown (2 + 1) / 2, efficiency (1/4 + 1/2) / 2;
  // the idle ones would have pulled both to half (they are 0/0).
  CHECK(s.phase("all").traffic_count == 2);
  CHECK(s.phase("all").count == 4);
  CHECK(s.phase("all").mean_slowdown == doctest::Approx((2.0 + 1.0) / 2));
  CHECK(s.phase("all").mean_efficiency == doctest::Approx((0.25 + 0.5) / 2));
  CHECK(s.phase("dispatch").time_s.max == 4);
  // Per GPU: finish - own start. GPU 1: 4 and 5 - 3 = 2 (and 0, 0 idle); GPU 0: 3 and 2 - 1 = 1.
  CHECK(s.gpus[1].time_s.max == 4);
  CHECK(s.gpus[1].time_s.mean == doctest::Approx((4.0 + 2.0) / 4));
  CHECK(s.gpus[0].time_s.mean == doctest::Approx((3.0 + 1.0) / 4));
  // Over (GPU, combine): 1, 2, 0, 0.
  CHECK(s.phase("combine").gpu_time_s.max == 2);
  CHECK(s.phase("combine").gpu_time_s.mean == doctest::Approx(3.0 / 4));
  // Layers: one with traffic (time 5, balanced 4.5, bound 2).
  CHECK(s.phase("layer").count == 2);
  CHECK(s.phase("layer").traffic_count == 1);
  CHECK(s.phase("layer").mean_slowdown == doctest::Approx(5 / 4.5));
  CHECK(s.phase("layer").mean_efficiency == doctest::Approx(2 / 5.0));
  CHECK(s.total_layer_s == 5);
  CHECK(s.top_straggler_gpu == 1);
  CHECK(s.top_straggler_count == 2);
  CHECK(s.ingress_bound_stragglers == 1);
  REQUIRE(s.straggler_experts.size() == 1);
  CHECK(s.straggler_experts[0] == std::pair<int, double>{5, 20});
  CHECK(s.total_a2a_s == 6);
}
