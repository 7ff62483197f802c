#include "moesim/sim/replay.hpp"

#include <doctest/doctest.h>

#include "moesim/common/error.hpp"

using namespace moesim::sim;

namespace {
PlatformSource switch_platform(int gpus, double bw = 10e9, double lat = 2e-6) {
  PlatformSource p;
  p.text = "switch";
  p.kind = PlatformSource::Kind::kSwitch;
  p.switch_spec = {gpus, bw, lat};
  return p;
}
}  // namespace

TEST_CASE("matrix replay: dispatch, reversed combine, references and straggler") {
  const int n = 4;
  auto m = TrafficMatrix::zeros(n);
  for (int s = 1; s < n; ++s) m.at(s, 0) = 3e6;  // GPU 0 is the hot destination
  auto r = replay_matrix(m, 2.0, switch_platform(n), n, ReplayOptions{});
  REQUIRE(r.a2a_rows.size() == 2);
  const auto& d = r.a2a_rows[0];
  CHECK(d.phase == 0);
  CHECK(d.time_s == doctest::Approx(9e6 / 10e9 + 2e-6).epsilon(1e-9));
  CHECK(d.bound_s == doctest::Approx(9e6 / 10e9 + 2e-6).epsilon(1e-9));  // ingress-bound: the bound is tight
  CHECK(d.straggler_gpu == 0);
  CHECK(d.straggler_receives == 1);
  // Balanced: 9 MB over 12 pairs = 0.75 MB each, 3 per GPU.
  CHECK(d.balanced_s == doctest::Approx(3 * 0.75e6 / 10e9 + 2e-6).epsilon(1e-9));
  const auto& c = r.a2a_rows[1];
  CHECK(c.phase == 1);
  CHECK(c.network_bytes == doctest::Approx(2 * 9e6));
  CHECK(c.time_s == doctest::Approx(18e6 / 10e9 + 2e-6).epsilon(1e-9));  // now egress-bound at GPU 0
  CHECK(c.straggler_receives == 0);
  CHECK(r.gpu_rows.size() == 2 * n);
  CHECK(r.gpu_rows[0].bytes_in == 9e6);
}

TEST_CASE("replay is deterministic bit for bit, and identical all-to-alls are reused") {
  const int n = 6;
  auto m = TrafficMatrix::zeros(n);
  for (int s = 0; s < n; ++s)
    for (int d = 0; d < n; ++d)
      if (s != d) m.at(s, d) = 1e5 * (1 + (s * 7 + d * 3) % 5);
  ReplayOptions opt;
  opt.a2a = {1e-6, 2e-7};
  auto a = replay_matrix(m, 1.0, switch_platform(n), n, opt);
  auto b = replay_matrix(m, 1.0, switch_platform(n), n, opt);
  CHECK(serialize(a).substr(0, serialize(a).size() - 16) == serialize(b).substr(0, serialize(b).size() - 16));
  // The balanced references of dispatch and combine are the same matrix: simulated once.
  CHECK(a.a2a_reused >= 1);
  opt.reuse_identical = false;
  auto c = replay_matrix(m, 1.0, switch_platform(n), n, opt);
  CHECK(c.a2a_reused == 0);
  // Reused and re-simulated answers agree to rounding (SimGrid's clock is absolute, times are relative).
  for (std::size_t i = 0; i < a.a2a_rows.size(); ++i)
    CHECK(a.a2a_rows[i].balanced_s == doctest::Approx(c.a2a_rows[i].balanced_s).epsilon(1e-12));
}

TEST_CASE("matrix replay: a matrix of the wrong shape is an input error") {
  auto m = TrafficMatrix::zeros(3);
  CHECK_THROWS_WITH_AS(replay_matrix(m, 1.0, switch_platform(4), 4, ReplayOptions{}),
                       doctest::Contains("the matrix is 3×3 but the expert-parallel degree is 4"), moesim::InputError);
}
