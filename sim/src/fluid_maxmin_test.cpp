// The fluid engine: hand-worked max-min cases on the solver alone, then per-GPU finish times
// against SimGrid itself (the reference) on random skewed matrices, switch and cluster / fat-tree
// platforms, direct / pairwise / hierarchical, with and without per-message overheads.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "moesim/common/error.hpp"
#include "moesim/sim/algorithm.hpp"
#include "moesim/sim/fluid_maxmin.hpp"
#include "moesim/sim/simulation.hpp"

using namespace moesim::sim;
using moesim::topologies::PlatformSource;

TEST_CASE("fluid solver: shares on a bottleneck go by 1 / route latency (CM02) and a finished flow frees its share") {
  // One link of capacity 3. A (latency 1 s, 9 bytes) alone from t=1 at rate 3; B (latency 2 s,
  // 4 bytes) joins at t=2: A gets 2 and B 1 (level 2 / penalty). A has 6 left at t=2 -> ends at 5;
  // B has sent 3 by then, its last byte alone at rate 3 -> 5 + 1/3.
  FluidMaxMin fluid;
  std::uint32_t link = fluid.add_link(3, false);
  std::uint32_t ra = fluid.add_route(std::vector<std::uint32_t>{link}, 1.0);
  std::uint32_t rb = fluid.add_route(std::vector<std::uint32_t>{link}, 2.0);
  std::vector<FluidMaxMin::Flow> flows = {{ra, 9, 0}, {rb, 4, 0}};
  auto finish = fluid.run(flows);
  CHECK(finish[0] == doctest::Approx(5.0).epsilon(1e-12));
  CHECK(finish[1] == doctest::Approx(5.0 + 1.0 / 3).epsilon(1e-12));
  CHECK(fluid.clock_s() == doctest::Approx(5.0 + 1.0 / 3).epsilon(1e-12));
}

TEST_CASE("fluid solver: a fat pipe bounds each flow alone and a shared link their sum; later starts wait") {
  FluidMaxMin fluid;
  std::uint32_t fat = fluid.add_link(4, true);
  std::uint32_t shared = fluid.add_link(4, false);
  std::uint32_t r_fat = fluid.add_route(std::vector<std::uint32_t>{fat}, 1.0);
  std::uint32_t r_both = fluid.add_route(std::vector<std::uint32_t>{fat, shared}, 1.0);
  // Two flows on the fat pipe alone: 4 each. Two more over both links: 2 each (the shared link).
  std::vector<FluidMaxMin::Flow> flows = {{r_fat, 8, 0}, {r_fat, 8, 0}, {r_both, 8, 0}, {r_both, 8, 10}};
  auto finish = fluid.run(flows);
  CHECK(finish[0] == doctest::Approx(1 + 8.0 / 4));
  CHECK(finish[1] == doctest::Approx(1 + 8.0 / 4));
  CHECK(finish[2] == doctest::Approx(1 + 8.0 / 4));  // alone on the shared link: 4
  CHECK(finish[3] == doctest::Approx(10 + 1 + 8.0 / 4));
}

TEST_CASE("fluid solver: a route that repeats a link counts it twice") {
  FluidMaxMin fluid;
  std::uint32_t link = fluid.add_link(10, false);
  std::uint32_t r = fluid.add_route(std::vector<std::uint32_t>{link, link}, 0.0);  // no latency: penalty 1
  std::vector<FluidMaxMin::Flow> flows = {{r, 50, 0}};
  CHECK(fluid.run(flows)[0] == doctest::Approx(50.0 / 5));
}

TEST_CASE("fluid solver: approximate mode (--fluid-merge) ends flows in the window at their own completion") {
  // One link of capacity 2, no latency. A (100 bytes) and B (101 bytes) share it at 1 each; A ends at
  // 100, B then has 1 byte left at rate 2: 100.5 exactly. With a merge window of 1e-2 x 100 = 1 s, B
  // (due at 101 at the rate in force) ends with A's event and is recorded at 101; 1e-3 (0.1 s) is exact.
  for (double merge : {0.0, 1e-3, 1e-2}) {
    CAPTURE(merge);
    FluidMaxMin fluid;
    std::uint32_t link = fluid.add_link(2, false);
    std::uint32_t r = fluid.add_route(std::vector<std::uint32_t>{link}, 0.0);
    fluid.set_merge_relative(merge);
    CHECK(fluid.approximate() == (merge > 0));
    std::vector<FluidMaxMin::Flow> flows = {{r, 100, 0}, {r, 101, 0}};
    auto finish = fluid.run(flows);
    CHECK(finish[0] == doctest::Approx(100.0).epsilon(1e-12));
    const double b = merge >= 1e-2 ? 101.0 : 100.5;
    CHECK(finish[1] == doctest::Approx(b).epsilon(1e-12));
    CHECK(fluid.clock_s() == doctest::Approx(b).epsilon(1e-12));
    CHECK(fluid.solves() == (merge >= 1e-2 ? 2u : 3u));  // at 0, at 100 (, at 100.5)
  }
}

TEST_CASE("fluid solver: thousands of flows ending in one window end at their closed-form times") {
  // N GPUs, each with an up and a down link of capacity B, every ordered pair a flow over {up of the
  // source, down of the destination}, latency L. Every link carries N - 1 flows at one level: each
  // flow gets B / (N - 1). Flows to even GPUs carry S bytes and end at L + S (N - 1) / B; those to odd
  // GPUs carry 2 S and stay at B / (N - 1), since an odd GPU's down link still carries N - 1 of them:
  // they end at L + 2 S (N - 1) / B. With N = 520 (269,880 flows) the latency window and the first
  // completion window (134,680 flows) each hold more than 2^17 events: they are split off the heap in one pass
  // (bulk_windows) instead of popped one by one.
  constexpr int N = 520;
  constexpr double B = 1e9, S = 1e6, L = 1e-6;
  FluidMaxMin fluid;
  std::vector<std::uint32_t> up, down;
  for (int g = 0; g < N; ++g) {
    up.push_back(fluid.add_link(B, false));
    down.push_back(fluid.add_link(B, false));
  }
  std::vector<FluidMaxMin::Flow> flows;
  for (int s = 0; s < N; ++s)
    for (int d = 0; d < N; ++d)
      if (s != d)
        flows.push_back({fluid.add_route(std::vector<std::uint32_t>{up[s], down[d]}, L), d % 2 ? 2 * S : S, 0});
  auto finish = fluid.run(flows);
  std::size_t i = 0, wrong = 0;
  for (int s = 0; s < N; ++s)
    for (int d = 0; d < N; ++d)
      if (s != d) {
        const double expected_s = L + (d % 2 ? 2 : 1) * S * (N - 1) / B;
        if (std::fabs(finish[i++] - expected_s) > 1e-12 * expected_s) ++wrong;
      }
  CHECK(wrong == 0);
  CHECK(fluid.bulk_windows() >= 2);
}

namespace {

// A two-level tree built in the solver alone: GPUs with up/down ports, racks with oversubscribed
// up/down links (so that ports and rack links both bottleneck), a fat-pipe switch per rack and a
// fat-pipe core; route latency grows with the hops (CM02 weighs shares by 1 / latency).
struct TreeCase {
  FluidMaxMin solver;
  std::vector<FluidMaxMin::Flow> flows;
};

void build_tree_case(TreeCase& c, int gpus, int per_rack, unsigned seed, bool staggered) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> coin(0, 1);
  constexpr double kPortBps = 50e9, kRackBps = 120e9, kSwitchBps = 1e13;
  constexpr double kHopLatency_s = 0.5e-6;
  const int racks = gpus / per_rack;
  std::vector<std::uint32_t> up, down, rack_up, rack_down, rack_switch;
  for (int g = 0; g < gpus; ++g) up.push_back(c.solver.add_link(kPortBps, false)), down.push_back(c.solver.add_link(kPortBps, false));
  for (int r = 0; r < racks; ++r) {
    rack_up.push_back(c.solver.add_link(kRackBps, false));
    rack_down.push_back(c.solver.add_link(kRackBps, false));
    rack_switch.push_back(c.solver.add_link(kSwitchBps, true));
  }
  const std::uint32_t core = c.solver.add_link(kSwitchBps, true);
  std::vector<double> heat(gpus, 1.0);
  for (int hot = 0; hot < std::max(1, gpus / 8); ++hot) heat[rng() % gpus] = 2 + 6 * coin(rng);
  for (int s = 0; s < gpus; ++s)
    for (int d = 0; d < gpus; ++d) {
      if (s == d || coin(rng) > 0.8) continue;
      const int rs = s / per_rack, rd = d / per_rack;
      std::vector<std::uint32_t> links;
      if (rs == rd)
        links = {up[s], rack_switch[rs], down[d]};
      else
        links = {up[s], rack_switch[rs], rack_up[rs], core, rack_down[rd], rack_switch[rd], down[d]};
      const double latency_s = kHopLatency_s * static_cast<double>(links.size() - 1);
      const std::uint32_t route = c.solver.add_route(links, latency_s);
      const double bytes = std::round((0.1e6 + 2e6 * coin(rng)) * heat[d]);
      // Staggered: each GPU's k-th message leaves k x 0.3 us later, GPUs ready at different times.
      const double start_s = staggered ? 1e-6 * (s % 7) + 0.3e-6 * static_cast<double>(c.flows.size() % 13) : 0.0;
      c.flows.push_back({route, bytes, start_s});
    }
}

}  // namespace

TEST_CASE("fluid solver: the incremental solve gives the full re-solve's finish times on random skewed trees") {
  for (unsigned seed : {1u, 2u, 3u})
    for (bool staggered : {false, true}) {
      TreeCase incremental, full;
      build_tree_case(incremental, 32, 8, seed, staggered);
      build_tree_case(full, 32, 8, seed, staggered);
      full.solver.set_incremental(false);
      auto a = incremental.solver.run(incremental.flows);
      auto b = full.solver.run(full.flows);
      // The same events: every flow's finish, compared relative to the whole run.
      double worst = 0;
      for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / b[i]);
      INFO("seed " << seed << (staggered ? " staggered" : " all at 0") << ", " << a.size() << " flows, "
                   << incremental.solver.full_solves() << " of " << incremental.solver.solves() << " solves full");
      CHECK(worst <= 1e-9);
      CHECK(incremental.solver.solves() == full.solver.solves());
      // The incremental solver re-fixed fewer rates than re-solving everything at every event.
      CHECK(incremental.solver.flows_fixed() < full.solver.flows_fixed());
    }
}

namespace {

PlatformSource platform(const std::string& text) { return moesim::topologies::parse_platform_source(text); }

// Per-GPU finish times of one all-to-all (or two, when `twice`: the second starts where the first
// ended, checking that the engine's clock carries over), simulated in its own process.
std::vector<double> finish_times(const PlatformSource& p, int gpus, const TrafficMatrix& m, const std::string& algorithm,
                                 NetworkEngine engine, A2AOptions options, const std::vector<double>& ready) {
  auto r = run_simulation(p, gpus, [&](FlowNetwork& net) {
    net.set_engine(engine);
    ReplayResult out;
    auto finish = find_algorithm(algorithm).run(m, ready, net, options);
    net.begin_phase();
    auto again = find_algorithm(algorithm).run(m, ready, net, options);
    for (int g = 0; g < m.gpus; ++g) out.gpu_rows.push_back({0, 0, 0, g, ready[g], finish[g], again[g], 0});
    return out;
  });
  std::vector<double> finish;
  for (const auto& row : r.gpu_rows) finish.push_back(row.finish_s), finish.push_back(row.bytes_out);
  return finish;
}

// MoE-like skew: a few hot destination GPUs get several times the bytes; sizes vary per pair; a
// fraction of pairs send nothing (`density` < 1 for sparse matrices).
TrafficMatrix skewed_matrix(int n, unsigned seed, double density) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> size(0.25e6, 2e6), coin(0, 1);
  std::vector<double> heat(n, 1.0);
  for (int hot = 0; hot < std::max(1, n / 8); ++hot) heat[rng() % n] = 2 + 6 * coin(rng);
  auto m = TrafficMatrix::zeros(n);
  for (int s = 0; s < n; ++s)
    for (int d = 0; d < n; ++d)
      if (s != d && coin(rng) < density) m.at(s, d) = std::round(size(rng) * heat[d]);
  return m;
}

double max_relative_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / std::fabs(b[i]));
  return worst;
}

void check_matches_simgrid(const std::string& platform_text, int n, const std::string& algorithm, double density,
                           A2AOptions options = {}, bool skewed_ready = false) {
  auto m = skewed_matrix(n, 1234u + n, density);
  std::vector<double> ready(n, 0.0);
  if (skewed_ready)
    for (int g = 0; g < n; ++g) ready[g] = 1e-6 * (g % 5);
  auto p = platform(platform_text);
  // SimGrid's full max-min solve is the reference: its default lazy mode solves only the "modified"
  // links (selective update) and can then give rates a link cannot carry (see the test below).
  ::setenv("MOESIM_SIMGRID_CFG", "network/optim:Full", 1);
  auto reference = finish_times(p, n, m, algorithm, NetworkEngine::kSimgrid, options, ready);
  ::unsetenv("MOESIM_SIMGRID_CFG");
  auto fluid = finish_times(p, n, m, algorithm, NetworkEngine::kFluid, options, ready);
  INFO(platform_text << " " << algorithm << " N=" << n);
  CHECK(max_relative_diff(fluid, reference) <= 1e-9);
}

}  // namespace

TEST_CASE("fluid engine = SimGrid: switch direct N=16 and 64 dense skewed and 256 sparse skewed") {
  check_matches_simgrid("switch:16", 16, "direct", 0.9);
  check_matches_simgrid("switch:64", 64, "direct", 0.9);
  check_matches_simgrid("switch:256", 256, "direct", 0.05);
}

TEST_CASE("fluid engine = SimGrid: switch direct with per-message overheads and staggered ready times") {
  A2AOptions o;
  o.launch_latency_s = 3e-6;
  o.per_message_overhead_s = 0.7e-6;
  check_matches_simgrid("switch:16", 16, "direct", 0.9, o, true);
  check_matches_simgrid("switch:64", 64, "direct", 0.5, o, true);
}

TEST_CASE("fluid engine = SimGrid: cluster (NVLink + NICs with two route latencies) direct and hierarchical") {
  check_matches_simgrid("cluster:2:8", 16, "direct", 0.9);
  check_matches_simgrid("cluster:8:8", 64, "direct", 0.9);
  check_matches_simgrid("cluster:32:8", 256, "direct", 0.05);
  check_matches_simgrid("cluster:8:8", 64, "hierarchical", 0.9);
}

TEST_CASE("fluid engine = SimGrid: fat-tree preset rail-optimized-64 (several route latencies) direct") {
  check_matches_simgrid("rail-optimized-64", 16, "direct", 0.9);
  check_matches_simgrid("rail-optimized-64", 64, "direct", 0.2);
}

TEST_CASE("fluid engine = SimGrid: pairwise (one run per round and the clock carries over)") {
  check_matches_simgrid("switch:16", 16, "pairwise", 0.9);
  check_matches_simgrid("cluster:8:8", 64, "pairwise", 0.9);
}

TEST_CASE("fluid engine refuses what it does not model") {
  CHECK_THROWS_AS(parse_network_engine("packet"), moesim::InputError);
  ::setenv("MOESIM_SIMGRID_CFG", "network/weight-S:20537", 1);
  auto m = skewed_matrix(4, 1, 1.0);
  std::vector<double> ready(4, 0.0);
  CHECK_THROWS_WITH_AS(finish_times(platform("switch:4"), 4, m, "direct", NetworkEngine::kFluid, {}, ready),
                       doctest::Contains("--engine fluid reproduces SimGrid's CM02"), moesim::InputError);
  ::unsetenv("MOESIM_SIMGRID_CFG");
}

TEST_CASE("fluid solver: the 4-GPU switch case where SimGrid's lazy update overfills a port") {
  // Ports of 50 GB/s (up = GPU -> switch, down = switch -> GPU), 1 us route latency. Ten flows;
  // ports up0, up2, down0, down2 carry three flows each, so max-min starts every flow at B/3 and
  // 1->2 (the smallest, 376,089 bytes) ends first at L + 3 x 376,089 / B = 23.56534 us. SimGrid
  // 3.32 with network/optim:Lazy ends it at 12.28 us (2B/3 while down2 already carries 0->2 at B/3
  // and 3->2), network/optim:Full at 23.56534 us.
  constexpr double B = 50e9, L = 1e-6;
  FluidMaxMin fluid;
  std::vector<std::uint32_t> up, down;
  for (int g = 0; g < 4; ++g) up.push_back(fluid.add_link(B, false)), down.push_back(fluid.add_link(B, false));
  auto route = [&](int s, int d) { return fluid.add_route(std::vector<std::uint32_t>{up[s], down[d]}, L); };
  std::vector<FluidMaxMin::Flow> flows = {
      {route(0, 1), 6459432, 0}, {route(0, 2), 1961890, 0}, {route(0, 3), 1961482, 0}, {route(1, 0), 711774, 0},
      {route(1, 2), 376089, 0},  {route(2, 0), 1124794, 0}, {route(2, 1), 7081610, 0}, {route(2, 3), 916647, 0},
      {route(3, 0), 1430078, 0}, {route(3, 2), 1464555, 0}};
  auto finish = fluid.run(flows);
  CHECK(finish[4] == doctest::Approx(L + 3 * 376089 / B).epsilon(1e-12));
}

TEST_CASE("fluid engine = SimGrid on a calibrated platform: size-dependent bandwidth factors scale progress, not shares") {
  // SimGrid 3.32 with a bandwidth-factor callback: a flow takes its max-min share of the links but
  // moves factor x share bytes per second. Hand case on the 4-GPU calibration (NVLink port
  // 387.8694 GB/s, route latency 1 us, factor 0.662688 at 1 MiB): 0->1 and 2->3 and 2->1, 1 MiB
  // each, share half a port each -> 1 us + 2^20 / (0.662688 x 387.8694e9 / 2) = 9.15897 us.
  auto m = TrafficMatrix::zeros(4);
  m.at(0, 1) = m.at(2, 3) = m.at(2, 1) = 1048576;
  std::vector<double> ready(4, 0.0);
  auto p = platform(std::string(MOESIM_SOURCE_DIR) + "/analysis/studies/validation/h100x4/calibrated.yaml");
  auto fluid = finish_times(p, 4, m, "direct", NetworkEngine::kFluid, {}, ready);
  CHECK(fluid[0] == doctest::Approx(1e-6 + 1048576 / (0.662688 * 387.8694e9 / 2)).epsilon(1e-9));
  ::setenv("MOESIM_SIMGRID_CFG", "network/optim:Full", 1);
  auto reference = finish_times(p, 4, m, "direct", NetworkEngine::kSimgrid, {}, ready);
  ::unsetenv("MOESIM_SIMGRID_CFG");
  CHECK(max_relative_diff(fluid, reference) <= 1e-9);
  // Skewed MoE-like sizes over the whole factor table (16 KiB .. 64 MiB).
  auto skewed = skewed_matrix(4, 77u, 1.0);
  for (int s = 0; s < 4; ++s)
    for (int d = 0; d < 4; ++d) skewed.at(s, d) *= (s + 2 * d) % 5 == 0 ? 30.0 : 0.05;
  ::setenv("MOESIM_SIMGRID_CFG", "network/optim:Full", 1);
  reference = finish_times(p, 4, skewed, "direct", NetworkEngine::kSimgrid, {}, ready);
  ::unsetenv("MOESIM_SIMGRID_CFG");
  CHECK(max_relative_diff(finish_times(p, 4, skewed, "direct", NetworkEngine::kFluid, {}, ready), reference) <= 1e-9);
}
