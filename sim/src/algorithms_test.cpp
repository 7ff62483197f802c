// Closed forms for the all-to-all algorithms, through real SimGrid simulations on the built-in
// platforms: a non-blocking switch (each GPU one full-duplex port of bandwidth B, one-way latency L)
// and a 2-node cluster (NVLink inside nodes, one NIC per GPU across).
#include <doctest/doctest.h>

#include <cstdlib>
#include <vector>

#include "moesim/common/error.hpp"
#include "moesim/sim/algorithm.hpp"
#include "moesim/sim/simulation.hpp"

using namespace moesim::sim;
using moesim::topologies::PlatformSource;

namespace {
constexpr double B = 10e9;    // bytes/s per port and direction
constexpr double L = 2e-6;    // one-way latency
constexpr double MB = 1e6;

PlatformSource switch_platform(int gpus) {
  return {"switch", moesim::topologies::switch_platform_spec(gpus, B, L)};
}

// Per-GPU finish times of one all-to-all, simulated in its own process.
std::vector<double> finish_times(const PlatformSource& platform, const A2ATraffic& t, const std::string& algorithm,
                                 A2AOptions options = {}, std::vector<double> ready = {}) {
  const int n = t.gpu.gpus;
  if (ready.empty()) ready.assign(n, 0.0);
  auto r = run_simulation(platform, n, [&](FlowNetwork& net) {
    auto finish = find_algorithm(algorithm).run(t, ready, net, options);
    ReplayResult out;
    for (int g = 0; g < n; ++g) out.gpu_rows.push_back({0, 0, 0, g, ready[g], finish[g], 0, 0});
    return out;
  });
  std::vector<double> finish;
  for (const auto& row : r.gpu_rows) finish.push_back(row.finish_s);
  return finish;
}

TrafficMatrix uniform(int n, double bytes) {
  auto m = TrafficMatrix::zeros(n);
  for (int s = 0; s < n; ++s)
    for (int d = 0; d < n; ++d)
      if (s != d) m.at(s, d) = bytes;
  return m;
}

double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }
}  // namespace

TEST_CASE("2 GPUs: one message takes bytes / bandwidth + latency; both directions do not interfere") {
  auto m = TrafficMatrix::zeros(2);
  m.at(0, 1) = 4 * MB;
  auto f = finish_times(switch_platform(2), m, "direct");
  CHECK(f[0] == doctest::Approx(4 * MB / B + L).epsilon(1e-9));
  CHECK(f[1] == doctest::Approx(4 * MB / B + L).epsilon(1e-9));
  m.at(1, 0) = 4 * MB;  // split-duplex port: the reverse direction has its own bandwidth
  f = finish_times(switch_platform(2), m, "direct");
  CHECK(max_of(f) == doctest::Approx(4 * MB / B + L).epsilon(1e-9));
}

TEST_CASE("N GPUs uniform on a non-blocking switch: (N-1) m / B + L") {
  for (int n : {4, 16}) {
    auto f = finish_times(switch_platform(n), uniform(n, MB), "direct");
    for (double t : f) CHECK(t == doctest::Approx((n - 1) * MB / B + L).epsilon(1e-9));
  }
}

TEST_CASE("a hot destination is bounded by its ingress bandwidth; the others finish early") {
  const int n = 8;
  auto m = TrafficMatrix::zeros(n);
  for (int s : {1, 3, 4, 5, 6, 7}) m.at(s, 0) = 2 * MB;  // six GPUs send to GPU 0
  m.at(1, 2) = 1 * MB;                                  // GPU 2 only receives one small flow
  auto f = finish_times(switch_platform(n), m, "direct");
  CHECK(f[0] == doctest::Approx(6 * 2 * MB / B + L).epsilon(1e-9));
  // Max-min: GPU 1's port gives B/6 to its flow into the hot GPU (bottlenecked there) and the
  // remaining 5B/6 to GPU 2, which is done in 1 MB / (5B/6) + L.
  CHECK(f[2] == doctest::Approx(MB / (5 * B / 6) + L).epsilon(1e-9));
}

TEST_CASE("pairwise exchange on a switch equals the sum of its rounds") {
  const int n = 4;
  auto m = TrafficMatrix::zeros(n);
  double expected = 0;
  for (int r = 1; r < n; ++r) {
    double round = 0;
    for (int s = 0; s < n; ++s) {
      double bytes = (1 + s + 3 * r) * MB;  // every flow a different size
      m.at(s, (s + r) % n) = bytes;
      round = std::max(round, bytes / B + L);  // in a permutation each flow has its ports to itself
    }
    expected += round;
  }
  auto f = finish_times(switch_platform(n), m, "pairwise");
  CHECK(max_of(f) == doctest::Approx(expected).epsilon(1e-9));
}

TEST_CASE("hierarchical on 2 nodes × 2 GPUs: NVLink phase then rail phase") {
  PlatformSource p{"cluster", moesim::topologies::cluster_platform_spec(2, 2, 100e9, 1e-6, 10e9, 3e-6)};
  // Uniform m: GPU (A,i) sends to (A,j) its own m plus m for (B,j): 2m over NVLink. Then rail j of
  // node A carries to (B,j) the m of both GPUs of A: 2m over the NIC.
  auto f = finish_times(p, uniform(4, MB), "hierarchical");
  double expected = (2 * MB / 100e9 + 1e-6) + (2 * MB / 10e9 + 3e-6);
  CHECK(max_of(f) == doctest::Approx(expected).epsilon(1e-9));
  // Direct on the same platform: each NIC carries 2m, each NVLink m, all at once.
  auto d = finish_times(p, uniform(4, MB), "direct");
  CHECK(max_of(d) == doctest::Approx(2 * MB / 10e9 + 3e-6).epsilon(1e-9));
}

// deepep on 2 nodes × 2 GPUs (node 0: GPUs 0,1; node 1: GPUs 2,3), NVLink 100 GB/s + 1 µs, NIC
// 10 GB/s + 3 µs GPU -> GPU across. Dispatch (bytes): GPU 0 has 2 MB of tokens with experts on both
// GPUs 2 and 3; GPU 1 has 1 MB of tokens for GPUs 0 and 3.
//   NVLink 1 -> 0, 1 MB:                          1 µs + 10 µs = 11 µs
//   RDMA 0 -> 2 (rail 0), 2 MB once per node:      3 µs + 200 µs = 203 µs (direct would send 4 MB: 403 µs)
//   RDMA 1 -> 3 (rail 1, holds the expert), 1 MB:  3 µs + 100 µs = 103 µs
//   forward 2 -> 3, 2 MB: starts one chunk (128 KiB) after RDMA 0 -> 2: 3 + 13.1072 µs; NVLink alone
//   would end it at 16.1072 + 1 + 20 = 37.1072 µs, but its last chunk follows the RDMA flow's end:
//   203 + 1 + 1.31072 = 205.31072 µs.
// Per GPU: 0 203 µs, 1 103 µs, 2 and 3 205.31072 µs. The combine (reversed, reduced on node 1) has the
// same largest time: gather 3 -> 2 (2 MB, 21 µs) feeds RDMA 2 -> 0, which starts one NVLink chunk
// (1 + 1.31072 µs) after the gather starts and ends 2.31072 + 3 + 200 = 205.31072 µs.
TEST_CASE("deepep on 2 nodes × 2 GPUs: once per node over RDMA, forwarded over NVLink, pipelined") {
  PlatformSource p{"cluster", moesim::topologies::cluster_platform_spec(2, 2, 100e9, 1e-6, 10e9, 3e-6)};
  auto gpu = TrafficMatrix::zeros(4), node_once = TrafficMatrix::zeros(4);
  gpu.at(0, 2) = gpu.at(0, 3) = 2 * MB;
  gpu.at(1, 0) = gpu.at(1, 3) = 1 * MB;
  node_once.at(0, 2) = 2 * MB;
  node_once.at(1, 3) = 1 * MB;
  const double us = 1e-6;
  auto f = finish_times(p, A2ATraffic(gpu, node_once, false), "deepep");
  CHECK(f[0] == doctest::Approx(203 * us).epsilon(1e-9));
  CHECK(f[1] == doctest::Approx(103 * us).epsilon(1e-9));
  CHECK(f[2] == doctest::Approx(205.31072 * us).epsilon(1e-9));
  CHECK(f[3] == doctest::Approx(205.31072 * us).epsilon(1e-9));
  CHECK(max_of(finish_times(p, gpu, "direct")) == doctest::Approx(403 * us).epsilon(1e-9));

  auto c = finish_times(p, A2ATraffic(gpu.transposed(), node_once.transposed(), true), "deepep");
  CHECK(c[0] == doctest::Approx(205.31072 * us).epsilon(1e-9));
  CHECK(c[1] == doctest::Approx(103 * us).epsilon(1e-9));
  CHECK(c[2] == doctest::Approx(205.31072 * us).epsilon(1e-9));
  CHECK(c[3] == doctest::Approx(103 * us).epsilon(1e-9));
}

TEST_CASE("deepep without token-level routing is an input error") {
  PlatformSource p{"cluster", moesim::topologies::cluster_platform_spec(2, 2, 100e9, 1e-6, 10e9, 3e-6)};
  CHECK_THROWS_WITH_AS(finish_times(p, uniform(4, MB), "deepep"), doctest::Contains("needs token-level routing"),
                       moesim::InputError);
}

TEST_CASE("launch latency, per-message overhead and ready times shift flows") {
  auto m = TrafficMatrix::zeros(2);
  m.at(0, 1) = MB;
  A2AOptions opt{5e-6, 1e-6};
  auto f = finish_times(switch_platform(2), m, "direct", opt, {3e-6, 0.0});
  CHECK(f[1] == doctest::Approx(3e-6 + 5e-6 + 1e-6 + MB / B + L).epsilon(1e-9));
  CHECK(f[0] == f[1]);
}

TEST_CASE("a platform with fewer GPUs than the expert-parallel degree is an input error") {
  CHECK_THROWS_WITH_AS(finish_times(switch_platform(2), uniform(4, MB), "direct"),
                       doctest::Contains("the platform has 2 GPUs, fewer than the expert-parallel degree 4"),
                       moesim::InputError);
  CHECK_THROWS_WITH_AS(find_algorithm("ring"), doctest::Contains("known: direct, pairwise, hierarchical"),
                       moesim::InputError);
}

// direct-ptask runs in SimGrid's L07 model (parallel tasks), chosen through MOESIM_SIMGRID_CFG.
struct L07Model {
  L07Model() { ::setenv("MOESIM_SIMGRID_CFG", "host/model:ptask_L07", 1); }
  ~L07Model() { ::unsetenv("MOESIM_SIMGRID_CFG"); }
};

TEST_CASE("direct-ptask: N GPUs uniform on a switch take (N-1)·m/B + L, as direct does") {
  const int n = 8;
  L07Model l07;
  auto f = finish_times(switch_platform(n), uniform(n, MB), "direct-ptask");
  for (double t : f) CHECK(t == doctest::Approx((n - 1) * MB / B + L).epsilon(1e-9));
}

TEST_CASE("direct-ptask: a hot destination bounds the all-to-all as with per-GPU-pair flows") {
  // 0 -> 1 and 0 -> 2 (m each), 3 -> 2 (3m): port 2 must carry 4m, so the all-to-all takes 4m/B + L
  // with flows and with tasks (L07 ends GPU 0's task at 2m/B + L here, as max-min does per flow).
  auto m = TrafficMatrix::zeros(4);
  m.at(0, 1) = MB;
  m.at(0, 2) = MB;
  m.at(3, 2) = 3 * MB;
  auto per_flow = finish_times(switch_platform(4), m, "direct");
  CHECK(per_flow[0] == doctest::Approx(2 * MB / B + L).epsilon(1e-9));
  CHECK(max_of(per_flow) == doctest::Approx(4 * MB / B + L).epsilon(1e-9));
  L07Model l07;
  auto tasks = finish_times(switch_platform(4), m, "direct-ptask");
  CHECK(max_of(tasks) == doctest::Approx(4 * MB / B + L).epsilon(1e-9));
  CHECK(tasks[0] == doctest::Approx(2 * MB / B + L).epsilon(1e-9));
}

TEST_CASE("direct-ptask without the L07 model is an error, not a silently different model") {
  CHECK_THROWS(finish_times(switch_platform(2), uniform(2, MB), "direct-ptask"));
}
