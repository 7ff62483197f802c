// Fuzzes the trace v1 reader: the bytes become a file, which is opened and read the way replay and
// `moesim trace stats` read it (every layer, gates, router probabilities, token metadata, id slices).
// Reads are bounded so that a file declaring 10^12 tokens tests the parser, not the fuzzer's memory.
#include <algorithm>
#include <cstdint>

#include "fuzz_util.hpp"
#include "moesim/common/error.hpp"
#include "moesim/traces/trace_reader.hpp"
#include "moesim/traces/trace_stats.hpp"

namespace {
constexpr std::uint64_t kMaxTokensRead = 4096;  // per layer; more only costs time
constexpr std::uint64_t kSliceTokens = 1024;

void read_everything(const moesim::traces::TraceReader& reader) {
  const auto& h = reader.header();
  const std::uint64_t end = std::min(h.num_tokens, kMaxTokensRead);
  for (int layer = 0; layer < h.num_layers; ++layer) {
    for (std::uint64_t b = 0; b < end; b += kSliceTokens)
      (void)reader.read_layer(layer, b, std::min(end, b + kSliceTokens), {.gates = true, .router_probs = true});
    const auto& offsets = reader.step_offsets();
    if (h.num_steps > 0 && offsets[1] - offsets[0] <= kMaxTokensRead)
      (void)reader.read_step(layer, 0, {.gates = true, .router_probs = false});
  }
  (void)reader.read_tokens(0, end);
  if (h.num_tokens <= kMaxTokensRead) (void)moesim::traces::compute_stats(reader, {});
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static moesim::fuzz::ScratchFile scratch(".h5");
  const auto& path = scratch.write(data, size);
  try {
    // In-process (no checking child): a crash inside the parser must reach libFuzzer.
    moesim::traces::TraceReader reader(path, {.check_in_child = false});
    read_everything(reader);
  } catch (const moesim::InputError& e) {
    moesim::fuzz::expect_one_line_naming(e.what(), path);  // the expected outcome for a bad file
  }
  return 0;
}
