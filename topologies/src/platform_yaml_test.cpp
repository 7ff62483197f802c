// Every class of bad input gives one line `file:line:col: message`: the exact text is the contract.
#include <doctest/doctest.h>

#include "moesim/common/error.hpp"
#include "moesim/topologies/fabric.hpp"
#include "moesim/topologies/platform_spec.hpp"
#include "moesim/topologies/topology_checks.hpp"
#include "test_support.hpp"

using namespace moesim::topologies;
using namespace moesim::topologies::testing;
using moesim::InputError;

namespace {

// Error message of loading + checking `yaml`, with the temp path replaced by "F".
std::string error_of(const std::string& yaml, const std::string& name = "bad.yaml") {
  auto file = scratch_file(name, yaml);
  try {
    PlatformSpec spec = load_platform_spec(file);
    check_topology(spec, build_fabric(spec), {false});
  } catch (const InputError& e) {
    std::string message = e.what();
    if (message.rfind(file.string(), 0) == 0) message = "F" + message.substr(file.string().size());
    return message;
  }
  return "no error";
}

const std::string kNode4 =
    "node:\n"                                                          // 1
    "  gpus: 4\n"                                                      // 2
    "  nvswitch:\n"                                                    // 3
    "    links_per_gpu: 18\n"                                          // 4
    "    link_bandwidth: 25GBps\n"                                     // 5
    "    latency: 1us\n";                                              // 6

}  // namespace

TEST_CASE("a valid file resolves units to SI") {
  auto file = scratch_file("ok.yaml", kNode4);
  PlatformSpec spec = load_platform_spec(file);
  CHECK(spec.name == "ok");
  CHECK(spec.gpu_count() == 4);
  CHECK(spec.node.gpu_link_Bps() == doctest::Approx(450e9));
  CHECK(spec.node.latency_s == doctest::Approx(1e-6));
}

TEST_CASE("unknown key: suggests the closest") {
  CHECK(error_of("node:\n  gpus: 4\n  nvswitch:\n    links_per_gpu: 18\n    link_bandwith: 25GBps\n    latency: 1us\n") ==
        "F:5:5: unknown key 'link_bandwith' in 'node.nvswitch' (did you mean 'link_bandwidth'?)");
  CHECK(error_of(kNode4 + "colour: blue\n") ==
        "F:7:1: unknown key 'colour' (expected one of: name, description, extends, nodes, node, scale_out, "
        "calibration, link_overrides)");
}

TEST_CASE("missing key: points at the mapping that lacks it") {
  CHECK(error_of("node:\n  gpus: 4\n  nvswitch:\n    links_per_gpu: 18\n    link_bandwidth: 25GBps\n") ==
        "F:4:5: missing key 'latency' in 'node.nvswitch'");
  CHECK(error_of("nodes: 2\n" + kNode4) == "F:3:3: missing key 'nic' in 'node' (needed when nodes > 1)");
  CHECK(error_of("node:\n  gpus: 4\n") == "F:2:3: missing key 'nvswitch' or 'mesh' in 'node' (the intra-node fabric)");
}

TEST_CASE("units: bare numbers and unknown units are errors at the value") {
  CHECK(error_of("node:\n  gpus: 4\n  nvswitch:\n    links_per_gpu: 18\n    link_bandwidth: 450\n    latency: 1us\n") ==
        "F:5:21: link_bandwidth: '450' has no unit (write e.g. 400Gbps or 50GBps)");
  CHECK(error_of("node:\n  gpus: 4\n  nvswitch:\n    links_per_gpu: 18\n    link_bandwidth: 25GBps\n    latency: 1usec\n") ==
        "F:6:14: latency: unknown latency unit 'usec' in '1usec' (known: s ms us ns ps)");
}

TEST_CASE("non-positive values are rejected") {
  CHECK(error_of("node:\n  gpus: 4\n  nvswitch:\n    links_per_gpu: 18\n    link_bandwidth: 0GBps\n    latency: 1us\n") ==
        "F:5:21: link_bandwidth must be positive, got '0GBps'");
  CHECK(error_of("node:\n  gpus: 4\n  nvswitch:\n    links_per_gpu: 18\n    link_bandwidth: 25GBps\n    latency: -1us\n") ==
        "F:6:14: latency must not be negative, got '-1us'");
  CHECK(error_of("node:\n  gpus: 0\n  nvswitch:\n    links_per_gpu: 18\n    link_bandwidth: 25GBps\n    latency: 1us\n") ==
        "F:2:9: gpus must be between 1 and 1024, got 0");
  CHECK(error_of("node:\n  gpus: 4.5\n") == "F:2:9: gpus must be a whole number, got '4.5'");
  CHECK(error_of("? [a, b]\n: 1\n") == "F:1:3: a key must be a plain name, not a list or mapping");
  CHECK(error_of("nodes: 200\n" + kNode4.substr(0, 6) + "  gpus: 1000\n" + kNode4.substr(kNode4.find("  nvswitch"))) ==
        "F:3:9: 200 nodes x 1000 GPUs is more than 131072 GPUs in all");
}

TEST_CASE("k that does not fit: too many NIC ports for the radix and tier count") {
  // 2-tier radix-8 fat-tree: leaves of 4 down / 4 up, at most 8 leaves = 32 NIC ports; 40 asked.
  std::string yaml = "nodes: 40\n" + kNode4.substr(0, kNode4.find("  gpus: 4")) +
                     "  gpus: 1\n  mesh: {links_per_pair: 1, link_bandwidth: 25GBps, latency: 1us}\n"
                     "  nic: {bandwidth: 400Gbps, latency: 1us}\n"
                     "scale_out:\n"
                     "  topology: fat_tree\n"
                     "  switch_radix: 8\n"
                     "  tiers: [{link_latency: 0ns, switch_latency: 0ns}, {link_latency: 0ns, switch_latency: 0ns}]\n";
  CHECK(error_of(yaml) ==
        "F:8:17: k does not fit: a 2-tier fat-tree of 8-port switches holds at most 32 NIC ports, this platform has 40 "
        "(40 nodes x 1 NICs); use more tiers or a larger switch_radix");
  std::string ratio = yaml;
  ratio.replace(ratio.find("nodes: 40"), 9, "nodes: 4");
  ratio.replace(ratio.find("switch_latency: 0ns}, {"), 23, "switch_latency: 0ns, oversubscription: 1.3:1}, {");
  CHECK(error_of(ratio) ==
        "F:8:17: k does not fit: no whole number of 1-port groups makes a 1.3:1 oversubscribed leaf switch of 8 ports");
}

TEST_CASE("disconnected graph: a failed uplink cuts a leaf off") {
  std::string yaml =
      "nodes: 4\n"
      "node:\n"
      "  gpus: 1\n"
      "  mesh: {links_per_pair: 1, link_bandwidth: 25GBps, latency: 1us}\n"
      "  nic: {bandwidth: 400Gbps, latency: 1us}\n"
      "scale_out:\n"
      "  topology: fat_tree\n"
      "  switch_radix: 4\n"
      "  tiers: [{link_latency: 0ns, switch_latency: 0ns}, {link_latency: 0ns, switch_latency: 0ns}]\n"
      "link_overrides:\n"
      "  - link: leaf1/uplink\n"
      "    failed: true\n";
  CHECK(error_of(yaml) ==
        "F:11:11: platform is disconnected: 8 GPU pairs cannot reach each other, e.g. node0/gpu0 -> node2/gpu0 "
        "(failed link 'leaf1/uplink')");
  std::string typo = yaml;
  typo.replace(typo.find("leaf1/uplink"), 12, "leaf1/uplnk");
  CHECK(error_of(typo) == "F:11:11: no link named 'leaf1/uplnk' on this platform (did you mean 'leaf1/uplink'?)");
}

TEST_CASE("YAML syntax errors and bad extends are located too") {
  CHECK(error_of("node:\n  gpus: [4\n") == "F:3:1: end of sequence flow not found");
  CHECK(error_of("extends: no-such-preset\n") ==
        "F:1:10: extends: no preset or file named 'no-such-preset' (presets are in " + presets_dir().string() + ")");
}

TEST_CASE("extends: a preset with one number changed; errors point into the file that has them") {
  auto file = scratch_file("half.yaml",
                        "extends: fat-tree-256\n"
                        "nodes: 16\n"
                        "node:\n"
                        "  nic: {bandwidth: 200Gbps}\n");
  PlatformSpec spec = load_platform_spec(file);
  CHECK(spec.nodes == 16);
  CHECK(spec.node.gpus == 8);                                   // from dgx-h100-8gpu, two levels up
  CHECK(spec.node.nic_bandwidth_Bps == doctest::Approx(25e9));  // overridden
  CHECK(spec.node.nic_latency_s == doctest::Approx(600e-9));    // merged from the preset's nic map
  CHECK(spec.scale_out.switch_radix == 64);
  CHECK(error_of("extends: fat-tree-256\nnode:\n  nic: {bandwdth: 200Gbps}\n", "typo.yaml") ==
        "F:3:9: unknown key 'bandwdth' in 'node.nic' (did you mean 'bandwidth'?)");
}

TEST_CASE("a key written twice is an error at the second, naming the first line") {
  // yaml-cpp keeps both entries and lookups see the first: without the check, `gpus: 4` is ignored.
  CHECK(error_of("node:\n  gpus: 8\n  gpus: 4\n") == "F:3:3: duplicate key 'gpus' (first at line 2)");
  CHECK(error_of(kNode4 + "node: {gpus: 2}\n") == "F:7:1: duplicate key 'node' (first at line 1)");
  // Inside a flow map inside a list (link overrides), and quoted vs plain spelling of one key.
  CHECK(error_of("link_overrides:\n  - {link: a, bandwidth: 1GBps, 'bandwidth': 2GBps}\n") ==
        "F:2:33: duplicate key 'bandwidth' (first at line 2)");
  // An alias cycle is walked once, not forever.
  CHECK(error_of("a: &a [*a]\n") == "F:1:1: unknown key 'a' (expected one of: name, description, extends, nodes, "
                                    "node, scale_out, calibration, link_overrides)");
}

TEST_CASE("a key written twice in an extended file points into that file") {
  auto base = scratch_file("base_dup.yaml", kNode4 + "nodes: 1\nnodes: 2\n");
  CHECK(error_of("extends: " + base.string() + "\nnodes: 1\n", "child_dup.yaml") ==
        base.string() + ":8:1: duplicate key 'nodes' (first at line 7)");
}

// Regression: nodes x gpus over the limit in a file extending a preset pointed at the preset's
// `gpus` (a file the user did not write); it must point at the user's `nodes`.
TEST_CASE("nodes x gpus too large in an extending file points at the user's own value") {
  CHECK(error_of("extends: fat-tree-256\nnodes: 100000\n", "too_many.yaml") ==
        "F:2:8: 100000 nodes x 8 GPUs is more than 131072 GPUs in all");
}

// Regression: two overrides of one link silently took the last.
TEST_CASE("a link overridden twice is an error at the second entry") {
  CHECK(error_of(kNode4 + "link_overrides:\n  - {link: node0/gpu0-nvswitch, bandwidth: 1GBps}\n"
                          "  - {link: node0/gpu0-nvswitch, latency: 2us}\n") ==
        "F:9:12: link 'node0/gpu0-nvswitch' is overridden twice (first at line 8): merge the two entries");
}
