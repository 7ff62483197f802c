#pragma once
// When each GPU starts its dispatch: start skew as an input of the replay (`--start-offsets`), not an
// error hidden in transfer times. Real training steps do not start every rank together, and how ranks
// were aligned changed a measured 4 MiB all-to-all on H100s from 27 us to 109 us.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace moesim::sim {

struct StartOffsets {
  std::vector<double> values_s;  // one per GPU, as given (a file); empty = drawn or none
  double uniform_max_s = 0;      // > 0: each GPU's offset drawn uniformly from [0, max]
  std::uint64_t seed = 1;        // for the drawn offsets
  std::string source;            // the text given, for messages and the recorded settings

  bool empty() const { return values_s.empty() && uniform_max_s <= 0; }
  // The offsets of `gpus` GPUs, seconds. Throws InputError when a file gives another count.
  std::vector<double> resolve(int gpus) const;
};

// "FILE" (microseconds, one per GPU, separated by spaces, commas or new lines; '#' starts a comment)
// or "uniform:MAX_US[:SEED]". Throws InputError "file:line: ..." on a bad value.
StartOffsets parse_start_offsets(const std::string& text);

}  // namespace moesim::sim
