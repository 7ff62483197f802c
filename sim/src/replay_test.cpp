#include "moesim/sim/replay.hpp"

#include <doctest/doctest.h>

#include "moesim/common/error.hpp"
#include "moesim/sim/simulation.hpp"

using namespace moesim::sim;

namespace {
PlatformSource switch_platform(int gpus, double bw = 10e9, double lat = 2e-6) {
  return {"switch", moesim::topologies::switch_platform_spec(gpus, bw, lat)};
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
  for (ReplayResult* r : {&a, &b}) r->sim_cpu_s = r->sim_wall_s = r->sim_peak_rss_bytes = 0;  // measurements, not results
  CHECK(serialize(a) == serialize(b));
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

namespace {
// The 4-GPU case of sim/README.md ("Definitions"), rows = source, bytes:
//   GPU 0:  0    6e6  5e6  3e6
//   GPU 1: 12e6  0    1e6  1e6
//   GPU 2:  8e6  8e6  0    9e6
//   GPU 3: 20e6  6e6  9e6  0
TrafficMatrix readme_matrix() {
  auto m = TrafficMatrix::zeros(4);
  const double rows[4][4] = {{0, 6e6, 5e6, 3e6}, {12e6, 0, 1e6, 1e6}, {8e6, 8e6, 0, 9e6}, {20e6, 6e6, 9e6, 0}};
  for (int s = 0; s < 4; ++s)
    for (int d = 0; d < 4; ++d) m.at(s, d) = rows[s][d];
  return m;
}
}  // namespace

TEST_CASE("per-GPU definitions, hand-worked on switch:4:50e9:1e-6, both engines") {
  // GPU 0 receives 12 + 8 + 20 = 40 MB in the dispatch: 40e6 / 50e9 = 800 us + 1 us latency = 801 us,
  // the slowest GPU (nobody sends or receives more; GPU 3 sends 35 MB). The combine is the transpose:
  // GPU 0 now sends those 40 MB from the moment its own dispatch ended (801 us): 801 us again, so its
  // combine ends at 1602 us. Per GPU: dispatch 801, combine 801, layer (0 -> last combine finish) 1602.
  // The old definition (last finish - first start over GPUs) gave the combine 1101 us: it started on
  // GPU 3 while GPU 0 was still receiving its dispatch.
  for (NetworkEngine engine : {NetworkEngine::kSimgrid, NetworkEngine::kFluid}) {
    ReplayOptions opt;
    opt.engine = engine;
    auto r = replay_matrix(readme_matrix(), 1.0, {"switch:4:50e9:1e-6", moesim::topologies::switch_platform_spec(4, 50e9, 1e-6)},
                           4, opt);
    REQUIRE(r.a2a_rows.size() == 2);
    REQUIRE(r.layer_rows.size() == 1);
    CHECK(r.a2a_rows[0].time_s == doctest::Approx(801e-6).epsilon(1e-3));
    CHECK(r.a2a_rows[1].time_s == doctest::Approx(801e-6).epsilon(1e-3));
    CHECK(r.layer_rows[0].time_s == doctest::Approx(1602e-6).epsilon(1e-3));
    // The bound is tight: GPU 0's 40 MB in, then its 40 MB out.
    CHECK(r.a2a_rows[0].bound_s == doctest::Approx(801e-6).epsilon(1e-9));
    CHECK(r.layer_rows[0].bound_s == doctest::Approx(1602e-6).epsilon(1e-9));
    // GPUs 0 and 3 both finish the dispatch last; GPU 0 has the most bytes on its binding side.
    CHECK(r.a2a_rows[0].straggler_gpu == 0);
    CHECK(r.a2a_rows[0].straggler_receives == 1);
    CHECK(r.a2a_rows[1].straggler_gpu == 0);
    CHECK(r.a2a_rows[1].straggler_receives == 0);
  }
}

TEST_CASE("compute lands only in the layer time (hand-worked, 3 GPUs, switch:3:50e9:1e-6)") {
  // Dispatch: GPU 0 -> GPU 1, 10 MB: 10e6 / 50e9 = 200 us + 1 us = 201 us for GPUs 0 and 1; GPU 2
  // moves nothing. Experts compute 1000 us on GPUs 0 and 1, nothing on GPU 2. Combine: GPU 1 -> GPU 0,
  // 10 MB, from 201 + 1000 = 1201 us to 1402 us. Per GPU the combine takes 201 us (GPU 2: 0), so
  // dispatch 201, combine 201, layer 1402 = 201 + 1000 + 201. The old definition booked the combine at
  // 1402 us (from GPU 2's start at 0). Balanced: the 10 MB over 6 pairs, 3.33 MB out of and into each
  // GPU: 66.67 + 1 us per phase, plus the mean compute 666.67 us: 802 us.
  constexpr double B = 50e9, L = 1e-6, bytes = 10e6, compute_s = 1000e-6;
  auto platform = PlatformSource{"switch:3", moesim::topologies::switch_platform_spec(3, B, L)};
  for (NetworkEngine engine : {NetworkEngine::kSimgrid, NetworkEngine::kFluid}) {
    ReplayOptions opt;
    opt.engine = engine;
    auto r = run_simulation(platform, 3, [&](FlowNetwork& net) {
      ReplayEngine replay(net, 3, opt);
      LayerWork w;
      w.dispatch = TrafficMatrix::zeros(3);
      w.dispatch.at(0, 1) = bytes;
      w.combine = w.dispatch.transposed();
      w.compute_s = {compute_s, compute_s, 0.0};
      replay.replay_layer(w);
      return std::move(replay.result());
    });
    const double phase_s = bytes / B + L;
    CHECK(r.a2a_rows[0].time_s == doctest::Approx(phase_s).epsilon(1e-9));
    CHECK(r.a2a_rows[1].time_s == doctest::Approx(phase_s).epsilon(1e-9));
    CHECK(r.layer_rows[0].time_s == doctest::Approx(2 * phase_s + compute_s).epsilon(1e-9));
    CHECK(r.layer_rows[0].bound_s == doctest::Approx(2 * phase_s + compute_s).epsilon(1e-9));
    CHECK(r.layer_rows[0].compute_max_s == compute_s);
    const double balanced_phase_s = (bytes / 3) / B + L;
    CHECK(r.layer_rows[0].balanced_s == doctest::Approx(2 * balanced_phase_s + 2 * compute_s / 3).epsilon(1e-9));
  }
}

namespace {
// switch:2 (10 GB/s ports, 2 us GPU -> GPU) with a copy link per GPU and, optionally, a duplex cap.
PlatformSource switch_with_copy(double copy_Bps, double duplex_Bps = 0) {
  auto spec = moesim::topologies::switch_platform_spec(2, 10e9, 2e-6);
  spec.node.local_copy_bandwidth_Bps = copy_Bps;
  spec.node.duplex_bandwidth_Bps = duplex_Bps;
  return {"switch-with-copy", spec};
}
}  // namespace

TEST_CASE("local copy: the diagonal takes diagonal / copy bandwidth, and nothing without a copy link") {
  auto m = TrafficMatrix::zeros(2);
  m.at(0, 0) = 2e6;
  m.at(1, 1) = 1e6;
  ReplayOptions opt;
  opt.balanced_reference = false;
  auto r = replay_matrix(m, 1.0, switch_with_copy(100e9), 2, opt);
  CHECK(r.settings.local_copy);
  CHECK(r.a2a_rows[0].time_s == doctest::Approx(2e6 / 100e9).epsilon(1e-9));  // the self route has no latency
  CHECK(r.a2a_rows[0].bound_s == doctest::Approx(2e6 / 100e9).epsilon(1e-9));
  auto free = replay_matrix(m, 1.0, switch_platform(2, 10e9, 2e-6), 2, opt);
  CHECK_FALSE(free.settings.local_copy);
  CHECK(free.a2a_rows[0].time_s == 0);
}

TEST_CASE("local copy shares the GPU's duplex cap with its sends (hand-worked max-min)") {
  // GPU 0 copies 1 MB and sends 1 MB to GPU 1; duplex 20 GB/s, copy link 100 GB/s, port 10 GB/s.
  // 0-2 us: the send is in its latency, the copy alone runs at the duplex 20 GB/s (40 kB).
  // 2-98 us: both share the duplex, 10 GB/s each: the copy's other 960 kB end at 98 us.
  // 98-102 us: the send, alone, is held at its 10 GB/s port: its last 40 kB end at 102 us.
  auto m = TrafficMatrix::zeros(2);
  m.at(0, 0) = 1e6;
  m.at(0, 1) = 1e6;
  ReplayOptions opt;
  opt.balanced_reference = false;
  auto r = replay_matrix(m, 1.0, switch_with_copy(100e9, 20e9), 2, opt);
  CHECK(r.gpu_rows[0].finish_s == doctest::Approx(102e-6).epsilon(1e-9));
  CHECK(r.gpu_rows[1].finish_s == doctest::Approx(102e-6).epsilon(1e-9));
  // Bound: GPU 0's send side, 2 us + 1 MB / min(port, duplex) = 102 us; its duplex side 2 MB / 20 GB/s.
  CHECK(r.a2a_rows[0].bound_s == doctest::Approx(102e-6).epsilon(1e-9));
}

TEST_CASE("start offsets: each GPU's time counts from its own start, the layer from the first") {
  // GPU 0 sends 1 MB to GPU 1 at 10 GB/s (+2 us); combine returns 2 MB. GPU 0 starts 5 us late.
  auto m = TrafficMatrix::zeros(2);
  m.at(0, 1) = 1e6;
  ReplayOptions opt;
  opt.balanced_reference = false;
  opt.start_offsets.values_s = {5e-6, 0.0};
  opt.start_offsets.source = "test";
  auto r = replay_matrix(m, 2.0, switch_platform(2, 10e9, 2e-6), 2, opt);
  // Dispatch: the flow runs 5 -> 107 us. GPU 0: 102 us from its start; GPU 1 (start 0): 107 us.
  CHECK(r.gpu_rows[0].start_s == doctest::Approx(5e-6));
  CHECK(r.gpu_rows[0].finish_s - r.gpu_rows[0].start_s == doctest::Approx(102e-6).epsilon(1e-9));
  CHECK(r.a2a_rows[0].time_s == doctest::Approx(107e-6).epsilon(1e-9));
  // Combine: GPU 1 sends 2 MB back from 107 us: done at 107 + 2 + 200 = 309 us; the layer from 0.
  CHECK(r.layer_rows[0].time_s == doctest::Approx(309e-6).epsilon(1e-9));
  opt.start_offsets.values_s = {0.0, 0.0, 0.0};
  CHECK_THROWS_AS(replay_matrix(m, 2.0, switch_platform(2, 10e9, 2e-6), 2, opt), moesim::InputError);
}
