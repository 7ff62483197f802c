// --start-offsets: per-GPU dispatch start times, from a file or drawn from a uniform distribution.
#include "moesim/sim/start_offsets.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "moesim/common/error.hpp"

namespace moesim::sim {
namespace {

constexpr double kSecondsPerMicrosecond = 1e-6;
constexpr std::string_view kUniformPrefix = "uniform:";

double parse_microseconds(std::string_view word, const std::string& where) {
  double value = 0;
  auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (ec != std::errc{} || end != word.data() + word.size())
    throw InputError(fmt::format("{}: '{}' is not a number of microseconds", where, word));
  if (!std::isfinite(value) || value < 0)
    throw InputError(fmt::format("{}: a start offset must be finite and >= 0 microseconds, got {}", where, word));
  return value;
}

StartOffsets read_offsets_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError(located(file, "cannot read the start-offsets file"));
  StartOffsets s;
  s.source = file.string();
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line = line.substr(0, line.find('#'));
    for (char& c : line)
      if (c == ',' || c == '\r' || c == '\t') c = ' ';
    std::istringstream words(line);
    for (std::string w; words >> w;)
      s.values_s.push_back(parse_microseconds(w, located(file, number, 0, "")) * kSecondsPerMicrosecond);
  }
  if (s.values_s.empty()) throw InputError(located(file, "no start offset in the file (one per GPU, microseconds)"));
  return s;
}

StartOffsets parse_uniform(const std::string& text) {
  std::string rest = text.substr(kUniformPrefix.size());
  std::string max_text = rest.substr(0, rest.find(':'));
  StartOffsets s;
  s.source = text;
  s.uniform_max_s = parse_microseconds(max_text, "--start-offsets " + text) * kSecondsPerMicrosecond;
  if (rest.find(':') != std::string::npos) {
    std::string seed_text = rest.substr(rest.find(':') + 1);
    auto [end, ec] = std::from_chars(seed_text.data(), seed_text.data() + seed_text.size(), s.seed);
    if (ec != std::errc{} || end != seed_text.data() + seed_text.size())
      throw InputError(fmt::format("--start-offsets {}: the seed '{}' is not a non-negative integer", text, seed_text));
  }
  return s;
}

}  // namespace

StartOffsets parse_start_offsets(const std::string& text) {
  if (text.starts_with(kUniformPrefix)) return parse_uniform(text);
  return read_offsets_file(text);
}

std::vector<double> StartOffsets::resolve(int gpus) const {
  if (!values_s.empty()) {
    if (static_cast<int>(values_s.size()) != gpus)
      throw InputError(located(source, fmt::format("{} start offsets for {} GPUs: give one per GPU", values_s.size(), gpus)));
    return values_s;
  }
  std::vector<double> offsets(static_cast<std::size_t>(gpus), 0.0);
  if (uniform_max_s <= 0) return offsets;
  std::mt19937_64 rng(seed);  // the same offsets on every machine for one seed: draws by hand, not
  for (double& o : offsets)   // std::uniform_real_distribution (whose algorithm is unspecified)
    o = uniform_max_s * static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return offsets;
}

}  // namespace moesim::sim
