// Hand-computable SimGrid runs on platforms built from YAML: with CM02 and no TCP factors, a lone
// flow takes latency + bytes / bandwidth, and flows sharing a link split it max-min fairly.
#include <doctest/doctest.h>

#include "test_support.hpp"

using namespace moesim::topologies;
using namespace moesim::topologies::testing;

namespace {
constexpr double kMiB = 1024.0 * 1024.0;
}

TEST_CASE("two GPUs on one link: time = latency + bytes / bandwidth") {
  auto file = temp_file("two-gpus.yaml", R"(
node:
  gpus: 2
  mesh: {links_per_pair: 2, link_bandwidth: 25GBps, latency: 3us}
)");
  const double bytes = 64 * kMiB, bw = 2 * 25e9, lat = 3e-6;
  auto t = simulate_flows(file, {{0, 1, bytes}});
  REQUIRE(t.size() == 1);
  CHECK(t[0] == doctest::Approx(lat + bytes / bw).epsilon(1e-9));
  // Full duplex: the reverse flow at the same time does not slow it down.
  auto both = simulate_flows(file, {{0, 1, bytes}, {1, 0, bytes}});
  CHECK(both[0] == doctest::Approx(lat + bytes / bw).epsilon(1e-9));
  CHECK(both[1] == doctest::Approx(lat + bytes / bw).epsilon(1e-9));
}

TEST_CASE("N GPUs on a non-blocking NVSwitch, equal messages: each GPU's links are the only limit") {
  // h100-nvswitch-4gpu: 18 x 25 GB/s per GPU, 1 us. All-to-all of S bytes per pair: each GPU sends
  // 3 flows out of its 450 GB/s and receives 3 into 450 GB/s, so each flow gets 150 GB/s.
  const double bytes = 96 * kMiB, per_flow_Bps = 18 * 25e9 / 3, lat = 1e-6;
  std::vector<Flow> flows;
  for (int s = 0; s < 4; ++s)
    for (int d = 0; d < 4; ++d)
      if (s != d) flows.push_back({s, d, bytes});
  auto t = simulate_flows(preset("h100-nvswitch-4gpu"), flows);
  REQUIRE(t.size() == 12);
  for (double finish : t) CHECK(finish == doctest::Approx(lat + bytes / per_flow_Bps).epsilon(1e-9));
}

TEST_CASE("nodes on one scale-out switch: a remote flow crosses both NICs and the switch") {
  // two-dgx-single-switch: GPU 0 (node 0) -> GPU 8 (node 1): NIC 600 ns + cable 15 ns on each side,
  // switch 130 ns; bandwidth 400 Gb/s = 50 GB/s.
  const double bytes = 32 * kMiB, lat = 2 * (600e-9 + 15e-9) + 130e-9;
  auto t = simulate_flows(preset("two-dgx-single-switch"), {{0, 8, bytes}});
  CHECK(t[0] == doctest::Approx(lat + bytes / 50e9).epsilon(1e-9));
  // Intra-node traffic stays on NVLink: 1 us, 450 GB/s.
  auto local = simulate_flows(preset("two-dgx-single-switch"), {{0, 1, bytes}});
  CHECK(local[0] == doctest::Approx(1e-6 + bytes / 450e9).epsilon(1e-9));
}
