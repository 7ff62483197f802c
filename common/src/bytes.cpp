#include "moesim/common/bytes.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace moesim {

bool is_exact_byte_count(double bytes) { return std::isfinite(bytes) && bytes >= 0 && bytes <= kMaxExactBytes; }

std::uint64_t whole_flow_bytes(double bytes) {
  if (!is_exact_byte_count(bytes))
    throw std::out_of_range(fmt::format("flow of {} bytes: byte counts must be finite and between 0 and 2^53", bytes));
  const auto whole = static_cast<std::uint64_t>(std::llround(bytes));
  return whole == 0 ? 1 : whole;
}

}  // namespace moesim
