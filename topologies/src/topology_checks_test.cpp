// Boost.Graph checks against closed forms: bisection of k-ary fat-trees (N/2 x B / oversubscription),
// hop counts of known paths, and every shipped preset loading connected.
#include <doctest/doctest.h>

#include "moesim/common/error.hpp"
#include "moesim/topologies/fabric.hpp"
#include "moesim/topologies/platform_spec.hpp"
#include "moesim/topologies/topology_checks.hpp"
#include "test_support.hpp"

using namespace moesim::topologies;
using namespace moesim::topologies::testing;

namespace {

constexpr double kPortBps = 50e9;  // 400 Gb/s

// A k-ary fat-tree of single-GPU nodes with one 400 Gb/s NIC each.
PlatformSpec k_ary(int k, int tiers, int nodes, const std::string& leaf_ratio = "1:1") {
  std::string tier = "{link_latency: 10ns, switch_latency: 100ns";
  std::string yaml = fmt::format(
      "nodes: {}\nnode:\n  gpus: 1\n  mesh: {{links_per_pair: 1, link_bandwidth: 25GBps, latency: 1us}}\n"
      "  nic: {{bandwidth: 400Gbps, latency: 500ns}}\n"
      "scale_out:\n  topology: fat_tree\n  switch_radix: {}\n  tiers:\n"
      "    - {}, oversubscription: {}}}\n",
      nodes, k, tier, leaf_ratio);
  for (int t = 1; t < tiers; ++t) yaml += "    - " + tier + "}\n";
  return load_platform_spec(scratch_file(fmt::format("k{}-t{}-n{}.yaml", k, tiers, nodes), yaml));
}

}  // namespace

TEST_CASE("k-ary fat-tree bisection equals the closed form N/2 x B") {
  for (int k : {4, 8}) {
    CAPTURE(k);
    const int hosts3 = k * k * k / 4, hosts2 = k * k / 2;
    PlatformSpec three = k_ary(k, 3, hosts3);
    Fabric f3 = build_fabric(three);
    CHECK(f3.shape.pods == k);
    CHECK(f3.shape.spines == k * k / 4);  // (k/2)^2 core switches
    TopologyReport r3 = check_topology(three, f3);
    CHECK(r3.bisection_Bps == doctest::Approx(hosts3 / 2 * kPortBps));
    CHECK(r3.bisection_closed_form_Bps == doctest::Approx(hosts3 / 2 * kPortBps));
    CHECK(r3.switches == 5 * k * k / 4);  // k^2 edge+aggregation, k^2/4 core
    // GPU -pcie- NIC - leaf - agg - core - agg - leaf - NIC -pcie- GPU
    CHECK(r3.diameter_hops == 8);
    PlatformSpec two = k_ary(k, 2, hosts2);
    TopologyReport r2 = check_topology(two, build_fabric(two));
    CHECK(r2.bisection_Bps == doctest::Approx(hosts2 / 2 * kPortBps));
    CHECK(r2.oversubscription == doctest::Approx(1.0));
  }
}

TEST_CASE("oversubscribed leaves: bisection N/2 x B / r") {
  // k = 8, 3:1 -> leaves of 6 down / 2 up, 8 leaves, 48 hosts; bisection 24 x B / 3 = 8 B.
  PlatformSpec spec = k_ary(8, 2, 48, "3:1");
  TopologyReport r = check_topology(spec, build_fabric(spec));
  CHECK(r.bisection_Bps == doctest::Approx(48 / 2 * kPortBps / 3));
  CHECK(r.bisection_closed_form_Bps == doctest::Approx(r.bisection_Bps));
  CHECK(r.oversubscription == doctest::Approx(3.0));
}

TEST_CASE("every preset loads, is connected and matches its closed-form bisection") {
  auto presets = list_presets();
  REQUIRE(presets.size() >= 6);
  for (const auto& path : presets) {
    CAPTURE(path.string());
    PlatformSpec spec = load_platform_spec(path);
    Fabric fabric = build_fabric(spec);
    TopologyReport r = check_topology(spec, fabric, {false});
    CHECK(r.unroutable_pairs == 0);
    CHECK(r.bisection_Bps > 0);
    if (r.bisection_closed_form_Bps > 0) CHECK(r.bisection_Bps == doctest::Approx(r.bisection_closed_form_Bps));
  }
  // The numbers the issue asks for.
  PlatformSpec h100 = load_platform_spec(preset("h100-nvswitch-4gpu"));
  CHECK(h100.node.links == 18);
  CHECK(h100.node.gpu_link_Bps() == doctest::Approx(450e9));
  PlatformSpec rail = load_platform_spec(preset("rail-optimized-64"));
  CHECK(rail.gpu_count() == 64);
  CHECK(rail.node.nics == 8);
  CHECK(rail.node.nic_bandwidth_Bps == doctest::Approx(50e9));
  CHECK(load_platform_spec(preset("fat-tree-256")).gpu_count() == 256);
  PlatformSpec big = load_platform_spec(preset("fat-tree-1024-3tier"));
  PlatformSpec cut = load_platform_spec(preset("fat-tree-1024-3tier-2to1"));
  CHECK(big.gpu_count() == 1024);
  CHECK(cut.gpu_count() == 1024);
  CHECK(check_topology(cut, build_fabric(cut), {false}).bisection_Bps ==
        doctest::Approx(check_topology(big, build_fabric(big), {false}).bisection_Bps / 2));
}

TEST_CASE("hop counts and latency of a two-node single switch") {
  PlatformSpec spec = load_platform_spec(preset("two-dgx-single-switch"));
  TopologyReport r = check_topology(spec, build_fabric(spec));
  CHECK(r.diameter_hops == 4);  // GPU -pcie- NIC -cable- switch -cable- NIC -pcie- GPU
  CHECK(r.max_latency_s == doctest::Approx(2 * (600e-9 + 15e-9) + 130e-9));
  // 16 GPUs: 7 peers at 2 hops (NVSwitch), 8 at 4 hops.
  CHECK(r.mean_hops == doctest::Approx((7 * 2 + 8 * 4) / 15.0));
}

TEST_CASE("3-tier rail-optimized: shape, bisection and a cross-pod route by hand") {
  // Radix 8, 1:1, nodes of 2 GPUs with one 400 Gb/s NIC each (2 rails). A rail leaf: 4 nodes down,
  // 4 up. An aggregation switch: one port to each rail leaf of its pod, in whole groups (2 rails):
  // 2 groups of a pod x 2 rails = 4 down, 4 up. A pod: 4 aggregation switches (one per leaf uplink).
  // 16 nodes = 4 groups = 2 pods; core: 2 pods x 4 aggs x 4 up / 8 ports = 4 switches.
  const std::string yaml =
      "nodes: 16\nnode:\n  gpus: 2\n  mesh: {links_per_pair: 1, link_bandwidth: 25GBps, latency: 1us}\n"
      "  nic: {count: 2, bandwidth: 400Gbps, latency: 500ns}\n"
      "scale_out:\n  topology: rail_optimized\n  switch_radix: 8\n  tiers:\n"
      "    - {link_latency: 10ns, switch_latency: 100ns}\n    - {link_latency: 10ns, switch_latency: 100ns}\n"
      "    - {link_latency: 10ns, switch_latency: 100ns}\n";
  PlatformSpec spec = load_platform_spec(scratch_file("rail3.yaml", yaml));
  Fabric f = build_fabric(spec);
  const ScaleOutShape& s = f.shape;
  CHECK(s.nodes_per_group == 4);
  CHECK(s.groups == 4);
  CHECK(s.leaves_per_pod == 2);
  CHECK(s.pods == 2);
  CHECK(s.aggs == 8);
  CHECK(s.spines == 4);
  CHECK(s.leaf_switches == 8);
  CHECK(s.capacity_nic_ports == 8 * 2 * 4 * 2);  // radix pods x groups x nodes x rails
  TopologyReport r = check_topology(spec, f);
  CHECK(r.switches == 8 + 8 + 4);
  // Non-blocking: half the nodes push both NICs (2 x 50 GB/s) into the other half.
  CHECK(r.bisection_Bps == doctest::Approx(8 * 2 * kPortBps));
  CHECK(r.bisection_closed_form_Bps == doctest::Approx(r.bisection_Bps));
  // GPU -pcie- NIC - rails - agg - core - agg - rails - NIC -pcie- GPU
  CHECK(r.diameter_hops == 8);
  // Node 0 (group 0, pod 0) to node 15 (group 3, pod 1): up through its group and pod, down the other's.
  std::vector<std::string> links;
  for (const RouteHop& h : scale_out_route(spec, f, 0, 15))
    if (h.link >= 0) links.push_back(f.links[static_cast<std::size_t>(h.link)].name);
  CHECK(links == std::vector<std::string>{"group0/uplink", "pod0/uplink", "pod1/uplink", "group3/uplink"});
  // One node more than the radix allows: one line naming the capacity.
  const std::string too_big = "nodes: 65" + yaml.substr(yaml.find('\n'));
  CHECK_THROWS_WITH_AS(build_fabric(load_platform_spec(scratch_file("rail3-big.yaml", too_big))),
                       doctest::Contains("3-tier rail-optimized network of 8-port switches and 2 rails holds at most 128"),
                       moesim::InputError);
}
