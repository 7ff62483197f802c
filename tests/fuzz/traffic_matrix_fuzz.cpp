// Fuzzes the traffic-matrix reader (sim/src/traffic_matrix.cpp): the first byte picks the format (its
// low bit: .csv or .json, chosen by extension as for users' files) and the unit (next bit: bytes or
// tokens); the rest is the file. A matrix that loads must be square with finite, non-negative entries,
// since the replay puts them on the network as flows.
#include <cmath>
#include <cstdint>

#include "fuzz_util.hpp"
#include "moesim/common/error.hpp"
#include "moesim/sim/traffic_matrix.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static moesim::fuzz::ScratchFile csv(".csv"), json(".json");
  const bool is_json = data[0] & 1;
  const auto unit = (data[0] & 2) ? moesim::sim::MatrixUnit::kTokens : moesim::sim::MatrixUnit::kBytes;
  const auto& path = (is_json ? json : csv).write(data + 1, size - 1);
  try {
    auto m = moesim::sim::load_traffic_matrix(path, unit, /*bytes_per_token=*/8192.0);
    if (m.gpus <= 0 || m.bytes.size() != static_cast<std::size_t>(m.gpus) * m.gpus) std::abort();
    for (double b : m.bytes)
      if (!std::isfinite(b) || b < 0) std::abort();  // the loader promised usable byte counts
    (void)m.network_bytes();
    (void)moesim::sim::balanced_like(m);
  } catch (const moesim::InputError& e) {
    moesim::fuzz::expect_one_line_naming(e.what(), path);
  }
  return 0;
}
