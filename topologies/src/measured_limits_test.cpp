// The three optional limits that NCCL measurements call for (analysis/studies/validation/README.md), each
// checked against a hand-worked SimGrid run (CM02, no TCP factors: a lone flow takes latency +
// bytes / bandwidth; flows sharing a link split it max-min fairly), and their YAML validation.
//   node.duplex_bandwidth             a GPU's send + receive together (a SHARED link per GPU)
//   node.nvswitch.flow_bandwidth      one GPU -> GPU flow (the NVSwitch FATPIPE)
//   calibration.bandwidth_factors     a per-flow bandwidth factor by message size
#include <doctest/doctest.h>

#include <cmath>

#include "moesim/common/error.hpp"
#include "moesim/topologies/fabric.hpp"
#include "moesim/topologies/platform_spec.hpp"
#include "moesim/topologies/simgrid_xml.hpp"
#include "test_support.hpp"

using namespace moesim::topologies;
using namespace moesim::topologies::testing;

namespace {
constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kLinkBps = 100e9, kLatencyS = 1e-6;

// N GPUs, one 100 GB/s NVLink each into a switch, 1 us GPU -> GPU; `extra` appended to the node or file.
std::string switch_node(int gpus, const std::string& nvswitch_extra = "", const std::string& node_extra = "",
                        const std::string& file_extra = "") {
  return fmt::format("node:\n  gpus: {}\n  nvswitch:\n    links_per_gpu: 1\n    link_bandwidth: 100GBps\n"
                     "    latency: 1us\n{}{}{}",
                     gpus, nvswitch_extra, node_extra, file_extra);
}

std::string error_of(const std::string& yaml) {
  auto file = scratch_file("limits-bad.yaml", yaml);
  try {
    load_platform_spec(file);
  } catch (const moesim::InputError& e) {
    std::string message = e.what();
    if (message.rfind(file.string(), 0) == 0) message = "F" + message.substr(file.string().size());
    return message;
  }
  return "no error";
}
}  // namespace

TEST_CASE("duplex cap: a GPU sending and receiving at once gets cap/2 each way") {
  auto file = scratch_file("duplex.yaml", switch_node(2, "", "  duplex_bandwidth: 100GBps\n"));
  const double bytes = 64 * kMiB;
  // Alone, one direction runs at the full link (the cap is not below it).
  auto alone = simulate_flows(file, {{0, 1, bytes}});
  CHECK(alone[0] == doctest::Approx(kLatencyS + bytes / kLinkBps).epsilon(1e-9));
  // Both directions at once: each GPU's 100 GB/s duplex link carries two flows -> 50 GB/s each,
  // although each direction's link alone would allow 100.
  auto both = simulate_flows(file, {{0, 1, bytes}, {1, 0, bytes}});
  CHECK(both[0] == doctest::Approx(kLatencyS + bytes / (kLinkBps / 2)).epsilon(1e-9));
  CHECK(both[1] == doctest::Approx(kLatencyS + bytes / (kLinkBps / 2)).epsilon(1e-9));
}

TEST_CASE("duplex cap: an all-to-all of equal messages gets cap / (2 (N-1)) per flow") {
  // 4 GPUs, cap 120 GB/s: each GPU's duplex link carries 3 outgoing + 3 incoming flows -> 20 GB/s
  // each; its 100 GB/s egress link carries 3 x 20 = 60: not the limit.
  auto file = scratch_file("duplex4.yaml", switch_node(4, "", "  duplex_bandwidth: 120GBps\n"));
  const double bytes = 16 * kMiB;
  std::vector<Flow> flows;
  for (int s = 0; s < 4; ++s)
    for (int d = 0; d < 4; ++d)
      if (s != d) flows.push_back({s, d, bytes});
  for (double t : simulate_flows(file, flows)) CHECK(t == doctest::Approx(kLatencyS + bytes / 20e9).epsilon(1e-9));
  // The exported XML has the same duplex links: the same times.
  PlatformSpec spec = load_platform_spec(file);
  auto xml = scratch_file("duplex4.xml", to_simgrid_xml(spec, build_fabric(spec)));
  for (double t : simulate_flows(xml, flows)) CHECK(t == doctest::Approx(kLatencyS + bytes / 20e9).epsilon(1e-9));
}

TEST_CASE("duplex cap: also on routes out of the node (NIC traffic)") {
  // two-dgx-single-switch with a 60 GB/s duplex cap: GPU 0 (node 0) and GPU 8 (node 1) exchange at
  // once over 50 GB/s NICs; each GPU's duplex link carries both flows -> 30 GB/s each way.
  auto file = scratch_file("duplex-nodes.yaml", fmt::format("extends: {}\nnode:\n  duplex_bandwidth: 60GBps\n",
                                                         preset("two-dgx-single-switch").string()));
  const double bytes = 32 * kMiB, lat = 2 * (600e-9 + 15e-9) + 130e-9;
  for (double t : simulate_flows(file, {{0, 8, bytes}, {8, 0, bytes}}))
    CHECK(t == doctest::Approx(lat + bytes / 30e9).epsilon(1e-9));
}

TEST_CASE("per-flow limit: one flow never beats flow_bandwidth, two flows still share the link") {
  auto file = scratch_file("flowcap.yaml", switch_node(3, "    flow_bandwidth: 30GBps\n"));
  const double bytes = 32 * kMiB;
  auto alone = simulate_flows(file, {{0, 1, bytes}});
  CHECK(alone[0] == doctest::Approx(kLatencyS + bytes / 30e9).epsilon(1e-9));
  // Two flows out of GPU 0: the link's fair share (50 each) is above the cap, so each gets 30.
  auto two = simulate_flows(file, {{0, 1, bytes}, {0, 2, bytes}});
  for (double t : two) CHECK(t == doctest::Approx(kLatencyS + bytes / 30e9).epsilon(1e-9));
  // A cap above the fair share changes nothing: 4 flows out of GPU 0 would need 3 GPUs more; use
  // 2 flows with a 60 GB/s cap: fair share 50 < 60.
  auto loose = scratch_file("flowcap60.yaml", switch_node(3, "    flow_bandwidth: 60GBps\n"));
  for (double t : simulate_flows(loose, {{0, 1, bytes}, {0, 2, bytes}}))
    CHECK(t == doctest::Approx(kLatencyS + bytes / 50e9).epsilon(1e-9));
}

TEST_CASE("bandwidth factor by message size: interpolated in log(size), held beyond the ends") {
  auto file = scratch_file("factors.yaml", switch_node(3, "", "",
                                                    "calibration:\n  bandwidth_factors:\n"
                                                    "    - {message_size: 1MiB, factor: 0.5}\n"
                                                    "    - {message_size: 4MiB, factor: 1}\n"));
  PlatformSpec spec = load_platform_spec(file);
  CHECK(spec.calibration.bandwidth_factor_for(0.5 * kMiB) == doctest::Approx(0.5));
  CHECK(spec.calibration.bandwidth_factor_for(2 * kMiB) == doctest::Approx(0.75));  // halfway in log2
  CHECK(spec.calibration.bandwidth_factor_for(8 * kMiB) == doctest::Approx(1.0));
  // A lone flow: latency + bytes / (factor x bandwidth).
  CHECK(simulate_flows(file, {{0, 1, 2 * kMiB}})[0] == doctest::Approx(kLatencyS + 2 * kMiB / 75e9).epsilon(1e-9));
  CHECK(simulate_flows(file, {{0, 1, 0.5 * kMiB}})[0] == doctest::Approx(kLatencyS + 0.5 * kMiB / 50e9).epsilon(1e-9));
  CHECK(simulate_flows(file, {{0, 1, 8 * kMiB}})[0] == doctest::Approx(kLatencyS + 8 * kMiB / 100e9).epsilon(1e-9));
  // Sharing: flows split a link max-min fairly in capacity used, and a flow at factor f turns its
  // share into f x share of rate. GPU 0 sends 8 MiB (f = 1) and 1 MiB (f = 0.5) at once: 50 GB/s
  // of its link each; the small one moves at 25 GB/s, the big one at 50 until the small one ends
  // (having moved 2 MiB), then alone at 100 for its remaining 6 MiB.
  auto shared = simulate_flows(file, {{0, 1, 8 * kMiB}, {0, 2, 1 * kMiB}});
  const double small_done = kLatencyS + 1 * kMiB / (0.5 * kLinkBps / 2);
  CHECK(shared[1] == doctest::Approx(small_done).epsilon(1e-9));
  CHECK(shared[0] == doctest::Approx(small_done + 6 * kMiB / kLinkBps).epsilon(1e-9));
}

TEST_CASE("a flow's factor applies to the per-flow limit too") {
  // flow_bandwidth 30 GB/s, factor 0.5 for every size: a lone flow moves at 15 GB/s.
  auto file = scratch_file("flowcap-factor.yaml", switch_node(2, "    flow_bandwidth: 30GBps\n", "",
                                                           "calibration:\n  bandwidth_factors:\n"
                                                           "    - {message_size: 1MiB, factor: 0.5}\n"));
  CHECK(simulate_flows(file, {{0, 1, 4 * kMiB}})[0] == doctest::Approx(kLatencyS + 4 * kMiB / 15e9).epsilon(1e-9));
}

TEST_CASE("bandwidth factor by message size multiplies the scalar bandwidth_factor") {
  auto file = scratch_file("factors2.yaml", switch_node(2, "", "",
                                                     "calibration:\n  bandwidth_factor: 0.8\n  bandwidth_factors:\n"
                                                     "    - {message_size: 1MiB, factor: 0.5}\n"));
  CHECK(simulate_flows(file, {{0, 1, 4 * kMiB}})[0] == doctest::Approx(kLatencyS + 4 * kMiB / 40e9).epsilon(1e-9));
}

TEST_CASE("measured limits: bad values are one-line errors at the value") {
  CHECK(error_of(switch_node(2, "", "  duplex_bandwidth: 500\n")) ==
        "F:7:21: duplex_bandwidth: '500' has no unit (write e.g. 400Gbps or 50GBps)");
  CHECK(error_of(switch_node(2, "    flow_bandwidth: 0GBps\n")) == "F:7:21: flow_bandwidth must be positive, got '0GBps'");
  CHECK(error_of("node:\n  gpus: 2\n  mesh: {links_per_pair: 1, link_bandwidth: 1GBps, latency: 1us, flow_bandwidth: 1GBps}\n")
            .find("unknown key 'flow_bandwidth' in 'node.mesh'") != std::string::npos);
  CHECK(error_of(switch_node(2, "", "", "calibration:\n  bandwidth_factors:\n    - {message_size: 1MiB, factor: 1.5}\n")) ==
        "F:9:36: factor must be in (0, 1]: a link never beats its nominal bandwidth");
  CHECK(error_of(switch_node(2, "", "",
                             "calibration:\n  bandwidth_factors:\n    - {message_size: 4MiB, factor: 0.5}\n"
                             "    - {message_size: 1MiB, factor: 0.9}\n")) ==
        "F:10:22: bandwidth_factors: message sizes must be strictly increasing");
  CHECK(error_of(switch_node(2, "", "", "calibration:\n  bandwidth_factors:\n    - {message_size: 1MiB, factr: 0.5}\n")) ==
        "F:9:28: unknown key 'factr' in 'calibration.bandwidth_factors[0]' (did you mean 'factor'?)");
  CHECK(error_of(switch_node(2, "", "", "calibration:\n  bandwidth_factors: []\n")) ==
        "F:8:22: bandwidth_factors must be a non-empty list of {message_size: SIZE, factor: F}");
}

TEST_CASE("a size-dependent factor cannot be exported as SimGrid XML (3.32 has no such setting)") {
  auto file = scratch_file("factors-xml.yaml", switch_node(2, "", "",
                                                        "calibration:\n  bandwidth_factors:\n"
                                                        "    - {message_size: 1MiB, factor: 0.5}\n"));
  PlatformSpec spec = load_platform_spec(file);
  CHECK_THROWS_AS(to_simgrid_xml(spec, build_fabric(spec)), moesim::InputError);
}
