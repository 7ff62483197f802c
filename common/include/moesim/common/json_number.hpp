#pragma once
// Integers from JSON files moesim did not write (config.json, placements, indexes, checkpoints'
// state). nlohmann's get<int>() converts whatever the file holds with a plain cast: 1e30 is
// undefined behaviour, 2^40 wraps to a small (valid-looking) number, 3.5 becomes 3. json_integer
// takes only a whole number inside [min, max] and otherwise throws an InputError naming the file
// and the field: "config.json: field 'head_dim' = 1e+30 is outside 1..16777216".
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

namespace moesim {

// `what` names the value in the message, e.g. "field 'head_dim'" or "expert 3 replica 0 (GPU)".
std::int64_t json_integer(const nlohmann::json& value, const std::filesystem::path& file, const std::string& what,
                          std::int64_t min, std::int64_t max);

// The same, for a value that must fit `Int` (int, std::int32_t, ...) when no tighter range applies.
template <class Int>
Int json_integer(const nlohmann::json& value, const std::filesystem::path& file, const std::string& what) {
  static_assert(std::numeric_limits<Int>::is_integer && sizeof(Int) <= sizeof(std::int64_t));
  constexpr std::int64_t max = std::numeric_limits<Int>::max() > std::numeric_limits<std::int64_t>::max()
                                   ? std::numeric_limits<std::int64_t>::max()
                                   : static_cast<std::int64_t>(std::numeric_limits<Int>::max());
  return static_cast<Int>(json_integer(value, file, what, std::numeric_limits<Int>::min(), max));
}

}  // namespace moesim
