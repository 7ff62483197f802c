// Hand-computable SimGrid runs on platforms built from YAML: with CM02 and no TCP factors, a lone
// flow takes latency + bytes / bandwidth, and flows sharing a link split it max-min fairly.
#include <doctest/doctest.h>

#include "moesim/topologies/fabric.hpp"
#include "moesim/topologies/platform_spec.hpp"
#include "moesim/topologies/simgrid_xml.hpp"
#include "test_support.hpp"

using namespace moesim::topologies;
using namespace moesim::topologies::testing;

namespace {
constexpr double kMiB = 1024.0 * 1024.0;
}

TEST_CASE("two GPUs on one link: time = latency + bytes / bandwidth") {
  auto file = scratch_file("two-gpus.yaml", R"(
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

namespace {
// Four 1-GPU nodes, two per leaf; each leaf has ONE uplink (2:1) of the NIC's bandwidth.
const char* kTwoLeaves =
    "nodes: 4\n"
    "node:\n"
    "  gpus: 1\n"
    "  mesh: {links_per_pair: 1, link_bandwidth: 25GBps, latency: 1us}\n"
    "  nic: {bandwidth: 400Gbps, latency: 500ns}\n"
    "scale_out:\n"
    "  topology: fat_tree\n"
    "  switch_radix: 4\n"
    "  tiers:\n"
    "    - {link_latency: 10ns, switch_latency: 100ns, oversubscription: 2:1}\n"
    "    - {link_latency: 20ns, switch_latency: 200ns}\n";
// GPU -> NIC(500+10) -> leaf(100) -> uplink(20) -> spine(200) -> uplink(20) -> leaf(100) -> NIC(510)
constexpr double kCrossLeafLatency_s = 2 * 510e-9 + 2 * 100e-9 + 2 * 20e-9 + 200e-9;
}  // namespace

TEST_CASE("a shared uplink halves each flow's bandwidth") {
  auto file = scratch_file("two-leaves.yaml", kTwoLeaves);
  const double bytes = 50 * kMiB, nic_Bps = 50e9;
  auto alone = simulate_flows(file, {{0, 2, bytes}});
  CHECK(alone[0] == doctest::Approx(kCrossLeafLatency_s + bytes / nic_Bps).epsilon(1e-9));
  // Both GPUs of leaf 0 send to leaf 1: their NICs are free, the one uplink is shared.
  auto shared = simulate_flows(file, {{0, 2, bytes}, {1, 3, bytes}});
  CHECK(shared[0] == doctest::Approx(kCrossLeafLatency_s + bytes / (nic_Bps / 2)).epsilon(1e-9));
  CHECK(shared[1] == doctest::Approx(shared[0]).epsilon(1e-12));
  // Within a leaf nothing is shared: NIC, leaf, NIC.
  auto local = simulate_flows(file, {{0, 1, bytes}, {2, 3, bytes}});
  CHECK(local[0] == doctest::Approx(2 * 510e-9 + 100e-9 + bytes / nic_Bps).epsilon(1e-9));
}

TEST_CASE("link overrides: a degraded NIC slows its flows, a failed NVLink detours through the NICs") {
  const double bytes = 40 * kMiB;
  auto degraded = scratch_file("degraded.yaml",
                            "extends: two-dgx-single-switch\n"
                            "link_overrides:\n"
                            "  - {link: node1/nic0, bandwidth: 200Gbps}\n");
  auto t = simulate_flows(degraded, {{0, 8, bytes}, {1, 9, bytes}});
  const double lat = 2 * (600e-9 + 15e-9) + 130e-9;
  CHECK(t[0] == doctest::Approx(lat + bytes / 25e9).epsilon(1e-9));  // into the degraded NIC
  CHECK(t[1] == doctest::Approx(lat + bytes / 50e9).epsilon(1e-9));  // untouched rail
  auto failed = scratch_file("failed.yaml",
                          "extends: two-dgx-single-switch\n"
                          "link_overrides:\n"
                          "  - {link: node0/gpu0/nvlink, failed: true}\n");
  auto detour = simulate_flows(failed, {{0, 1, bytes}});
  CHECK(detour[0] == doctest::Approx(lat + bytes / 50e9).epsilon(1e-9));  // NIC, switch, NIC
  // A failed mesh link: through the third GPU, paying two link latencies.
  auto mesh = scratch_file("mesh3.yaml",
                        "node:\n  gpus: 3\n  mesh: {links_per_pair: 1, link_bandwidth: 20GBps, latency: 2us}\n"
                        "link_overrides: [{link: node0/gpu0-gpu1, failed: true}]\n");
  auto via2 = simulate_flows(mesh, {{0, 1, bytes}});
  CHECK(via2[0] == doctest::Approx(4e-6 + bytes / 20e9).epsilon(1e-9));
}

TEST_CASE("calibration factors reach SimGrid's CM02 model") {
  auto file = scratch_file("calibrated.yaml",
                        "node:\n  gpus: 2\n  mesh: {links_per_pair: 1, link_bandwidth: 10GBps, latency: 5us}\n"
                        "calibration: {bandwidth_factor: 0.8, latency_factor: 2}\n");
  const double bytes = 8 * kMiB;
  auto t = simulate_flows(file, {{0, 1, bytes}});
  CHECK(t[0] == doctest::Approx(2 * 5e-6 + bytes / (0.8 * 10e9)).epsilon(1e-9));
}

TEST_CASE("SimGrid XML export loads back and simulates the same times") {
  for (const char* name : {"two-leaves", "fat-tree-256"}) {
    CAPTURE(name);
    std::filesystem::path yaml =
        std::string(name) == "two-leaves" ? scratch_file("two-leaves.yaml", kTwoLeaves) : preset(name);
    PlatformSpec spec = load_platform_spec(yaml);
    auto xml = scratch_file(std::string(name) + ".xml", to_simgrid_xml(spec, build_fabric(spec)));
    const int last = spec.gpu_count() - 1;
    std::vector<Flow> flows{{0, last, 30 * kMiB}, {1, last, 10 * kMiB}, {0, 1, 20 * kMiB}, {last, 0, 5 * kMiB}};
    auto from_yaml = simulate_flows(yaml, flows);
    auto from_xml = simulate_flows(xml, flows);
    REQUIRE(from_xml.size() == flows.size());
    for (std::size_t i = 0; i < flows.size(); ++i) CHECK(from_xml[i] == doctest::Approx(from_yaml[i]).epsilon(1e-12));
  }
}

TEST_CASE("a hand-written SimGrid XML file: GPUs in natural name order, nodes = zones") {
  auto xml = scratch_file("hand.xml", R"(<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <zone id="world" routing="Full">
    <host id="gpu10" speed="1Gf"/>
    <host id="gpu2" speed="1Gf"/>
    <link id="wire" bandwidth="1GBps" latency="1us"/>
    <route src="gpu2" dst="gpu10"><link_ctn id="wire"/></route>
  </zone>
</platform>
)");
  std::string out = in_child([&] {
    int argc = 1;
    char name[] = "moesim-test";
    char* argv[] = {name, nullptr};
    simgrid::s4u::Engine engine(&argc, argv);
    SimgridPlatform p = load_simgrid_platform(xml, engine);
    return fmt::format("{} {} {} {} {:g} {:g}", p.gpus.size(), p.gpus[0]->get_name(), p.gpus[1]->get_name(),
                       p.node_count, p.intra_node_egress_Bps[0], p.intra_node_latency_s);
  });
  CHECK(out == "2 gpu2 gpu10 1 1e+09 1e-06");
  const double bytes = 1e6;
  auto t = simulate_flows(xml, {{0, 1, bytes}});
  CHECK(t[0] == doctest::Approx(1e-6 + bytes / 1e9).epsilon(1e-9));  // CM02: no TCP factors on XML files either
}

TEST_CASE("every preset builds in SimGrid with the figures the replay engine reads") {
  for (const auto& path : list_presets()) {
    CAPTURE(path.string());
    PlatformSpec spec = load_platform_spec(path);
    if (spec.gpu_count() > 1024) continue;  // the 4096-GPU build is measured by the benchmark instead
    std::string out = in_child([&] {
      int argc = 1;
      char name[] = "moesim-test";
      char* argv[] = {name, nullptr};
      simgrid::s4u::Engine engine(&argc, argv);
      SimgridPlatform p = load_simgrid_platform(path, engine);
      return fmt::format("{} {} {} {:g} {:g}", p.gpus.size(), p.node_count, p.gpus_per_node, p.intra_node_egress_Bps.back(),
                         p.scaleout_egress_Bps.back());
    });
    CHECK(out == fmt::format("{} {} {} {:g} {:g}", spec.gpu_count(), spec.nodes, spec.node.gpus, spec.node.gpu_link_Bps(),
                             spec.nodes > 1 ? spec.node.nic_bandwidth_Bps : 0.0));
  }
}

TEST_CASE("three-tier fat-tree: latency grows by tier, bandwidth stays the NIC's when the tree is non-blocking") {
  // fat-tree-1024-3tier: NIC 600 ns, cables 15 / 50 / 250 ns, switches 500 ns; 2 nodes per leaf,
  // 16 leaves per pod. GPU 0 (node 0) -> GPU 8 (node 1, same leaf) -> GPU 16 (node 2, next leaf of
  // pod 0) -> GPU 1023 (node 127, pod 3).
  const double nic = 600e-9 + 15e-9, sw = 500e-9, agg_cable = 50e-9, core_cable = 250e-9, bytes = 16 * kMiB;
  const double same_leaf = 2 * nic + sw;
  const double same_pod = 2 * nic + 2 * sw + 2 * agg_cable + sw;
  const double cross_pod = 2 * nic + 2 * sw + 2 * agg_cable + 2 * sw + 2 * core_cable + sw;
  auto t = simulate_flows(preset("fat-tree-1024-3tier"), {{0, 8, bytes}, {1, 17, bytes}, {2, 1023, bytes}});
  CHECK(t[0] == doctest::Approx(same_leaf + bytes / 50e9).epsilon(1e-9));
  CHECK(t[1] == doctest::Approx(same_pod + bytes / 50e9).epsilon(1e-9));
  CHECK(t[2] == doctest::Approx(cross_pod + bytes / 50e9).epsilon(1e-9));
}

TEST_CASE("rail-optimized: eight GPUs of a node send to eight nodes at once, each at full NIC speed") {
  // rail-optimized-64: each GPU has its own 400 Gb/s rail, the rails are non-blocking (1:1), so GPU i
  // of node 0 -> GPU i of node 1+i runs at 50 GB/s with no interference: NIC, rail leaf, NIC.
  const double bytes = 24 * kMiB, lat = 2 * (600e-9 + 15e-9) + 130e-9;
  std::vector<Flow> flows;
  for (int i = 0; i < 7; ++i) flows.push_back({i, (1 + i) * 8 + i, bytes});
  for (double finish : simulate_flows(preset("rail-optimized-64"), flows))
    CHECK(finish == doctest::Approx(lat + bytes / 50e9).epsilon(1e-9));
}

TEST_CASE("a NIC shared by two GPUs behind PCIe: the NIC is split, the PCIe link caps a lone GPU") {
  // 2 nodes x 2 GPUs, one 400 Gb/s NIC per node, PCIe 32 GB/s per GPU, one switch.
  auto file = scratch_file("shared-nic.yaml",
                        "nodes: 2\n"
                        "node:\n"
                        "  gpus: 2\n"
                        "  nvswitch: {links_per_gpu: 4, link_bandwidth: 25GBps, latency: 1us}\n"
                        "  nic: {count: 1, bandwidth: 400Gbps, latency: 1us, pcie_bandwidth: 32GBps}\n"
                        "scale_out: {topology: single_switch, link_latency: 0ns, switch_latency: 0ns}\n");
  const double bytes = 32 * kMiB, lat = 2e-6;
  auto alone = simulate_flows(file, {{0, 2, bytes}});
  CHECK(alone[0] == doctest::Approx(lat + bytes / 32e9).epsilon(1e-9));  // PCIe, not the 50 GB/s NIC
  auto both = simulate_flows(file, {{0, 2, bytes}, {1, 3, bytes}});
  for (double t : both) CHECK(t == doctest::Approx(lat + bytes / 25e9).epsilon(1e-9));  // NIC split in two
}
