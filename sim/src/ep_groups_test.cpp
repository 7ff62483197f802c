// EP groups (ep_groups.hpp) on hand-worked platforms: two groups of 2 GPUs on 2 nodes of 2 GPUs,
// each node with ONE NIC of B = 10 GB/s that both its GPUs share. Every group sends M = 4 MB each way
// between its two GPUs in the dispatch and again in the combine (no compute).
//   spread (group 0 = GPU 0 of each node, group 1 = GPU 1 of each node): both groups cross the nodes,
//     so together each flow gets B/2 of its NIC: dispatch L + 2M/B, against L + M/B alone
//     (L: the route's latency); layer = dispatch + combine.
//   packed (group = one node): the groups never leave their node (NVLink): together = alone.
#include <doctest/doctest.h>

#include <vector>

#include "moesim/common/error.hpp"
#include "moesim/sim/ep_groups.hpp"
#include "moesim/sim/simulation.hpp"

using namespace moesim::sim;
using moesim::topologies::PlatformSource;

namespace {
constexpr double B = 10e9;  // the node's one NIC, bytes/s per direction
constexpr double M = 4e6;

PlatformSource two_nodes_one_nic() {
  auto spec = moesim::topologies::cluster_platform_spec(2, 2, 100e9, 1e-6, B, 3e-6);
  spec.node.nics = 1;  // both GPUs of a node share its NIC: the groups' common bottleneck
  return {"cluster", spec};
}

LayerWork symmetric_pair() {
  LayerWork w;
  w.dispatch = TrafficMatrix::zeros(2);
  w.dispatch.at(0, 1) = M;
  w.dispatch.at(1, 0) = M;
  w.combine = w.dispatch;
  return w;
}

// Group 0 together and alone, plus the route latency of group 0's pair, from one simulation process.
struct Times {
  EpLayerTimes together, alone;
  double latency_s = 0;
};

Times simulate(const PlatformSource& platform, EpLayout layout, NetworkEngine engine) {
  auto r = run_simulation(platform, 4, [&](FlowNetwork& net) {
    net.set_engine(engine);
    auto members = ep_group_members(4, net.platform().gpus_per_node, 2, layout);
    const LayerWork w = symmetric_pair();
    auto together = simulate_ep_layer(net, w, members, 2, 2, {});
    auto alone = simulate_ep_layer(net, w, members, 2, 1, {});
    ReplayResult out;
    // Carried back in rows: (dispatch, combine, layer) of group 0 and 1 together, then group 0 alone.
    for (int k = 0; k < 2; ++k)
      out.gpu_rows.push_back({0, 0, 0, k, together.dispatch_s[k], together.combine_s[k], together.layer_s[k], 0});
    out.gpu_rows.push_back({0, 0, 1, 0, alone.dispatch_s[0], alone.combine_s[0], alone.layer_s[0], 0});
    out.tokens = net.route_latency_s(members[0], members[1]);
    return out;
  });
  Times t;
  for (int k = 0; k < 2; ++k) {
    t.together.dispatch_s.push_back(r.gpu_rows[k].start_s);
    t.together.combine_s.push_back(r.gpu_rows[k].finish_s);
    t.together.layer_s.push_back(r.gpu_rows[k].bytes_out);
  }
  t.alone = {{r.gpu_rows[2].start_s}, {r.gpu_rows[2].finish_s}, {r.gpu_rows[2].bytes_out}};
  t.latency_s = r.tokens;
  return t;
}
}  // namespace

TEST_CASE("group members: packed = consecutive GPUs, spread = one GPU per node, rail by rail") {
  CHECK(ep_group_members(8, 2, 4, EpLayout::kPacked) == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(ep_group_members(8, 2, 4, EpLayout::kSpread) == std::vector<int>{0, 2, 4, 6, 1, 3, 5, 7});
  CHECK_THROWS_AS(ep_group_members(8, 2, 3, EpLayout::kPacked), moesim::InputError);
}

TEST_CASE("two groups sharing one NIC per node: together 2M/B, alone M/B (spread), both engines") {
  for (NetworkEngine engine : {NetworkEngine::kSimgrid, NetworkEngine::kFluid}) {
    auto t = simulate(two_nodes_one_nic(), EpLayout::kSpread, engine);
    const double alone = t.latency_s + M / B, together = t.latency_s + 2 * M / B;
    CHECK(t.alone.dispatch_s[0] == doctest::Approx(alone).epsilon(1e-9));
    CHECK(t.alone.combine_s[0] == doctest::Approx(alone).epsilon(1e-9));
    CHECK(t.alone.layer_s[0] == doctest::Approx(2 * alone).epsilon(1e-9));
    for (int k = 0; k < 2; ++k) {
      CHECK(t.together.dispatch_s[k] == doctest::Approx(together).epsilon(1e-9));
      CHECK(t.together.combine_s[k] == doctest::Approx(together).epsilon(1e-9));
      CHECK(t.together.layer_s[k] == doctest::Approx(2 * together).epsilon(1e-9));
    }
  }
}

TEST_CASE("two groups each inside its node (packed): no shared link, together = alone = L + M / NVLink") {
  auto t = simulate(two_nodes_one_nic(), EpLayout::kPacked, NetworkEngine::kFluid);
  const double alone = t.latency_s + M / 100e9;
  CHECK(t.alone.dispatch_s[0] == doctest::Approx(alone).epsilon(1e-9));
  for (int k = 0; k < 2; ++k) CHECK(t.together.layer_s[k] == doctest::Approx(2 * alone).epsilon(1e-9));
}

TEST_CASE("group k replays the layer rotated by k") {
  // One message 0 -> 1 in the trace's layer: group 1 (GPUs 2, 3) plays it as its local 1 -> 0 (3 -> 2).
  PlatformSource sw{"switch", moesim::topologies::switch_platform_spec(4, B, 2e-6)};
  auto r = run_simulation(sw, 4, [&](FlowNetwork& net) {
    net.set_engine(NetworkEngine::kFluid);
    LayerWork w;
    w.dispatch = TrafficMatrix::zeros(2);
    w.dispatch.at(0, 1) = M;
    w.combine = TrafficMatrix::zeros(2);
    w.combine.at(1, 0) = M / 2;
    auto members = ep_group_members(4, 1, 2, EpLayout::kPacked);
    auto t = simulate_ep_layer(net, w, members, 2, 2, {});
    ReplayResult out;
    for (int k = 0; k < 2; ++k) out.gpu_rows.push_back({0, 0, 0, k, t.dispatch_s[k], t.combine_s[k], t.layer_s[k], 0});
    return out;
  });
  for (int k = 0; k < 2; ++k) {
    CHECK(r.gpu_rows[k].start_s == doctest::Approx(2e-6 + M / B).epsilon(1e-9));
    CHECK(r.gpu_rows[k].finish_s == doctest::Approx(2e-6 + M / 2 / B).epsilon(1e-9));
  }
}
