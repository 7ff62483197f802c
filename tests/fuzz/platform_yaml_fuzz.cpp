// Fuzzes the YAML platform loader (topologies/src/platform_yaml.cpp): the bytes become a platform
// file; one that loads is then built into the fabric graph and checked (connectivity, bisection),
// as `moesim topo inspect` does, since every later stage trusts what the loader let through.
#include <cstdint>

#include "fuzz_util.hpp"
#include "moesim/common/error.hpp"
#include "moesim/topologies/fabric.hpp"
#include "moesim/topologies/platform_spec.hpp"
#include "moesim/topologies/topology_checks.hpp"

namespace {
// All-pairs hop counts are O(GPUs x links): past this a run measures the fuzzer's patience.
constexpr int kMaxGpusForHops = 256;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static moesim::fuzz::ScratchFile scratch(".yaml");
  const auto& path = scratch.write(data, size);
  try {
    auto spec = moesim::topologies::load_platform_spec(path);
    auto fabric = moesim::topologies::build_fabric(spec);
    (void)moesim::topologies::analyse_topology(spec, fabric, {.hops = spec.gpu_count() <= kMaxGpusForHops});
  } catch (const moesim::InputError& e) {
    // extends: may name another file, and the error then names that one: only one line is required.
    moesim::fuzz::expect_one_line_naming(e.what(), path, /*must_name_file=*/false);
  }
  return 0;
}
