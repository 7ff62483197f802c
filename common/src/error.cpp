#include "moesim/common/error.hpp"

#include <fmt/format.h>

namespace moesim {

std::string failure_message(const std::string& what) {
  // The marker c10::Error::what() puts between its message and its backtrace (c10/util/Exception.cpp).
  constexpr std::string_view kBacktrace = "\nException raised from ";
  const std::size_t cut = what.find(kBacktrace);
  return escape_control_bytes(cut == std::string::npos ? what : what.substr(0, cut));
}

std::string escape_control_bytes(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += fmt::format("\\x{:02x}", byte);
    }
  }
  return out;
}

InputError::InputError(const std::string& message) : std::runtime_error(escape_control_bytes(message)) {}

std::string located(const std::filesystem::path& file, int line, int column, const std::string& message) {
  if (line <= 0) return located(file, message);
  return fmt::format("{}:{}:{}: {}", file.string(), line, column, message);
}

std::string located(const std::filesystem::path& file, const std::string& message) {
  return fmt::format("{}: {}", file.string(), message);
}

}  // namespace moesim
