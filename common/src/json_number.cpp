#include "moesim/common/json_number.hpp"

#include <fmt/format.h>

#include <cmath>

#include "moesim/common/error.hpp"

namespace moesim {

std::int64_t json_integer(const nlohmann::json& value, const std::filesystem::path& file, const std::string& what,
                          std::int64_t min, std::int64_t max) {
  auto out_of_range = [&] {
    return InputError(located(file, fmt::format("{} = {} is outside {}..{}", what, value.dump(), min, max)));
  };
  if (value.is_number_unsigned()) {  // nlohmann stores every non-negative integer this way, 0 included
    // Compared as unsigned first: above 2^63 it has no int64 value to compare.
    const std::uint64_t u = value.get<std::uint64_t>();
    if (max < 0 || u > static_cast<std::uint64_t>(max)) throw out_of_range();
    const auto v = static_cast<std::int64_t>(u);
    if (v < min) throw out_of_range();
    return v;
  }
  if (value.is_number_integer()) {
    std::int64_t v = value.get<std::int64_t>();
    if (v < min || v > max) throw out_of_range();
    return v;
  }
  if (value.is_number_float()) {
    double v = value.get<double>();
    if (!std::isfinite(v) || v != std::trunc(v))
      throw InputError(located(file, fmt::format("{} = {} is not a whole number", what, value.dump())));
    // Compared as doubles before any cast (the cast of an out-of-range double is undefined). 2^63 is
    // exact as a double; anything below it converts, then the exact bounds decide.
    if (v < -9223372036854775808.0 || v >= 9223372036854775808.0) throw out_of_range();
    std::int64_t i = static_cast<std::int64_t>(v);
    if (i < min || i > max) throw out_of_range();
    return i;
  }
  throw InputError(located(file, fmt::format("{} must be a whole number, got {}", what, value.dump())));
}

}  // namespace moesim
