#include "moesim/topologies/units.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

namespace moesim::topologies {
namespace {

struct Unit {
  std::string_view suffix;
  double to_si;
};

constexpr double kBitsPerByte = 8.0;
constexpr double kKibi = 1024.0;

constexpr std::array kBandwidthUnits{
    Unit{"bps", 1 / kBitsPerByte},       Unit{"Kbps", 1e3 / kBitsPerByte},  Unit{"kbps", 1e3 / kBitsPerByte},
    Unit{"Mbps", 1e6 / kBitsPerByte},    Unit{"Gbps", 1e9 / kBitsPerByte},  Unit{"Tbps", 1e12 / kBitsPerByte},
    Unit{"Bps", 1},                      Unit{"KBps", 1e3},                 Unit{"kBps", 1e3},
    Unit{"MBps", 1e6},                   Unit{"GBps", 1e9},                 Unit{"TBps", 1e12},
    Unit{"B/s", 1},                      Unit{"KB/s", 1e3},                 Unit{"kB/s", 1e3},
    Unit{"MB/s", 1e6},                   Unit{"GB/s", 1e9},                 Unit{"TB/s", 1e12},
    Unit{"KiBps", kKibi},                Unit{"MiBps", kKibi * kKibi},      Unit{"GiBps", kKibi * kKibi * kKibi},
    Unit{"KiB/s", kKibi},                Unit{"MiB/s", kKibi * kKibi},      Unit{"GiB/s", kKibi * kKibi * kKibi},
};
constexpr std::array kLatencyUnits{Unit{"s", 1}, Unit{"ms", 1e-3}, Unit{"us", 1e-6}, Unit{"ns", 1e-9},
                                   Unit{"ps", 1e-12}};
constexpr std::array kSizeUnits{Unit{"B", 1},     Unit{"KB", 1e3},           Unit{"kB", 1e3},
                                Unit{"MB", 1e6},  Unit{"GB", 1e9},           Unit{"TB", 1e12},
                                Unit{"KiB", kKibi}, Unit{"MiB", kKibi * kKibi}, Unit{"GiB", kKibi * kKibi * kKibi},
                                Unit{"TiB", kKibi * kKibi * kKibi * kKibi}};

template <std::size_t N>
double parse_with_units(std::string_view text, const std::array<Unit, N>& units, std::string_view what,
                        std::string_view example) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  double value = 0;
  auto [ptr, ec] = std::from_chars(begin, end, value, std::chars_format::general);
  if (ec != std::errc() || ptr == begin)
    throw UnitError(fmt::format("'{}' is not a {} (write e.g. {})", text, what, example));
  std::string_view suffix(ptr, static_cast<std::size_t>(end - ptr));
  // "100 GB/s" as people write it: blanks between the number and its unit, and around, are fine.
  while (!suffix.empty() && (suffix.front() == ' ' || suffix.front() == '\t')) suffix.remove_prefix(1);
  while (!suffix.empty() && (suffix.back() == ' ' || suffix.back() == '\t')) suffix.remove_suffix(1);
  if (suffix.empty()) throw UnitError(fmt::format("'{}' has no unit (write e.g. {})", text, example));
  for (const Unit& unit : units)
    if (unit.suffix == suffix) {
      const double si = value * unit.to_si;  // 1e308TBps overflows to inf here
      if (!std::isfinite(value) || !std::isfinite(si)) throw UnitError(fmt::format("'{}' is not finite", text));
      return si;
    }
  std::string known;
  for (const Unit& unit : units) known += fmt::format("{}{}", known.empty() ? "" : " ", unit.suffix);
  throw UnitError(fmt::format("unknown {} unit '{}' in '{}' (known: {})", what, suffix, text, known));
}

}  // namespace

double parse_bandwidth_Bps(std::string_view text) {
  return parse_with_units(text, kBandwidthUnits, "bandwidth", "400Gbps or 50GBps");
}
double parse_latency_s(std::string_view text) { return parse_with_units(text, kLatencyUnits, "latency", "1us or 500ns"); }
double parse_size_bytes(std::string_view text) { return parse_with_units(text, kSizeUnits, "size", "8KiB or 1MB"); }

}  // namespace moesim::topologies
