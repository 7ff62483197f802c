// Fuzzes the expert-placement reader (sim/src/placement.cpp; --placement FILE of replay and sweeps):
// the first byte picks the format (its low bit: .csv or .json, chosen by extension as for users'
// files) and the model size (next bits: 8 experts on 4 GPUs, or 64 on 8); the rest is the file. A
// placement that loads must give every expert replicas on real GPUs whose shares sum to 1, since the
// replay splits each expert's tokens by them.
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "fuzz_util.hpp"
#include "moesim/common/error.hpp"
#include "moesim/sim/placement.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static moesim::fuzz::ScratchFile csv(".csv"), json(".json");
  const bool is_json = data[0] & 1;
  const int experts = (data[0] & 2) ? 64 : 8, gpus = (data[0] & 2) ? 8 : 4;
  const auto& path = (is_json ? json : csv).write(data + 1, size - 1);
  try {
    const moesim::sim::Placement p = moesim::sim::load_placement(path, experts, gpus);
    if (p.num_experts != experts || p.num_gpus != gpus || static_cast<int>(p.replicas.size()) != experts) std::abort();
    for (const auto& replicas : p.replicas) {
      if (replicas.empty()) std::abort();
      double sum = 0;
      for (const auto& r : replicas) {
        if (r.gpu < 0 || r.gpu >= gpus || !std::isfinite(r.share) || !(r.share > 0)) std::abort();
        sum += r.share;
      }
      if (std::abs(sum - 1.0) > 1e-9) std::abort();  // the loader promised shares that split tokens exactly
    }
  } catch (const moesim::InputError& e) {
    moesim::fuzz::expect_one_line_naming(e.what(), path);
  }
  return 0;
}
