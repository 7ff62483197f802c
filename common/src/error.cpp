#include "moesim/common/error.hpp"

#include <fmt/format.h>

namespace moesim {

std::string located(const std::filesystem::path& file, int line, int column, const std::string& message) {
  if (line <= 0) return located(file, message);
  return fmt::format("{}:{}:{}: {}", file.string(), line, column, message);
}

std::string located(const std::filesystem::path& file, const std::string& message) {
  return fmt::format("{}: {}", file.string(), message);
}

}  // namespace moesim
