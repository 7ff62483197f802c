#pragma once
// Byte counts are doubles in moesim (traffic matrices, bytes per token, sums over GPUs). A double
// holds every whole number up to 2^53 exactly, and SimGrid takes a flow's size as a uint64: a
// count above 2^53 bytes (9 PB in one all-to-all entry) is neither exact nor safely convertible
// (1e19 used to saturate to 2^63 and 1e30 to wrap), so inputs above it are refused where read.
#include <cstdint>

namespace moesim {

inline constexpr double kMaxExactBytes = 9007199254740992.0;  // 2^53

// True for a finite count in [0, kMaxExactBytes].
bool is_exact_byte_count(double bytes);

// A flow's size for SimGrid: rounded to whole bytes, at least 1. Throws std::out_of_range for a
// count that is not finite, negative or above kMaxExactBytes (inputs are checked before: a bug).
std::uint64_t whole_flow_bytes(double bytes);

}  // namespace moesim
