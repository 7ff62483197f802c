// Strategy names, their parameters and defaults, and the parsing of "name:key=value,..." specs from
// the command line and sweep files. No LibTorch here: bad input is refused before a model loads.
#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>

#include "moesim/common/error.hpp"
#include "moesim/model/strategy.hpp"

namespace moesim::model {
namespace {

enum class Kind { kNumber, kInteger, kFlag, kExpertList };

struct Param {
  std::string key, default_value;
  Kind kind;
  double min = 0;            // numbers: smallest allowed value
  bool min_inclusive = true;
  std::string meaning;
};

struct Entry {
  StrategyInfo info;
  std::vector<Param> params;
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
      {{"topk", "the model's own router (top-k of its scores); the baseline", ""}, {}},
      {{"balanced", "load-aware greedy: tokens in order take their best experts that still have room (capacity × T·k/E per expert)", ""},
       {{"capacity", "1.25", Kind::kNumber, 1.0, true, "a number ≥ 1"}}},
      {{"round_robin", "token t takes experts (t·k + j) mod E, j < k: loads differ by at most one", ""}, {}},
      {{"random", "k distinct experts uniformly at random per token (seeded)", ""},
       {{"seed", "0", Kind::kInteger, 0, true, "a non-negative integer"}}},
      {{"filtered", "top-k among an allowed subset of experts only, gates renormalised over it; drop-least=N also removes the N experts the router used least over the last `window` batches", ""},
       {{"allow", "all", Kind::kExpertList, 0, true, "'all' or expert ids and ranges joined by '+', e.g. 0-1+3-7"},
        {"drop-least", "0", Kind::kInteger, 0, true, "a non-negative integer"},
        {"window", "4", Kind::kInteger, 1, true, "an integer ≥ 1 (batches)"}}},
      {{"temperature", "router scores at temperature t (softmax(logits/t)); sample=1 draws k experts from it (Gumbel top-k, seeded)", ""},
       {{"t", "2.0", Kind::kNumber, 0.0, false, "a number > 0"},
        {"sample", "0", Kind::kFlag, 0, true, "0 or 1"},
        {"seed", "0", Kind::kInteger, 0, true, "a non-negative integer"}}},
      {{"capacity", "GShard/Switch capacity factor: each expert keeps its first factor × T·k/E pairs (slot 0 first), the rest are dropped (residual only)", ""},
       {{"factor", "1.0", Kind::kNumber, 0.0, false, "a number > 0"}}},
      {{"expert_choice", "each expert takes its top capacity × T·k/E tokens by router score (Zhou et al. 2022)", ""},
       {{"capacity", "1.0", Kind::kNumber, 0.0, false, "a number > 0"}}},
      {{"base", "BASE layers: every expert gets T/E tokens per slot, total score maximised (auction algorithm, k rounds)", ""},
       {{"eps", "0.0001", Kind::kNumber, 0.0, false, "a number > 0"}}},
      {{"bias", "DeepSeek auxiliary-loss-free balancing: per-expert bias for selection only, b += rate·sign(mean load − load) after each batch", ""},
       {{"rate", "0.001", Kind::kNumber, 0.0, false, "a number > 0"}}},
      {{"load_temperature", "load-aware temperature: selection logits log p − t·(recent load / mean load − 1), recent load a moving average of the router's own loads over `window` batches; t=0 is the model", ""},
       {{"t", "0.3", Kind::kNumber, 0.0, true, "a number ≥ 0"},
        {"window", "4", Kind::kInteger, 1, true, "an integer ≥ 1 (batches)"}}},
  };
  return table;
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(s.c_str(), &end);
  return errno == 0 && end == s.c_str() + s.size() && std::isfinite(out);
}

bool parse_uint(const std::string& s, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

bool valid_value(const Param& p, const std::string& v) {
  double x = 0;
  std::uint64_t n = 0;
  switch (p.kind) {
    case Kind::kNumber:
      return parse_double(v, x) && (p.min_inclusive ? x >= p.min : x > p.min);
    case Kind::kInteger:
      return parse_uint(v, n) && static_cast<double>(n) >= p.min;
    case Kind::kFlag:
      return v == "0" || v == "1";
    case Kind::kExpertList:
      if (v == "all") return true;
      try {
        std::size_t begin = 0;
        while (begin <= v.size()) {
          std::size_t end = std::min(v.find('+', begin), v.size());
          std::string item = v.substr(begin, end - begin);
          std::size_t dash = item.find('-');
          std::uint64_t a = 0, b = 0;
          if (dash == std::string::npos) {
            if (!parse_uint(item, a)) return false;
          } else if (!parse_uint(item.substr(0, dash), a) || !parse_uint(item.substr(dash + 1), b) || b < a) {
            return false;
          }
          begin = end + 1;
        }
        return true;
      } catch (...) {
        return false;
      }
  }
  return false;
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r";
  std::size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::string names() {
  std::string out;
  for (const auto& e : entries()) out += (out.empty() ? "" : ", ") + e.info.name;
  return out;
}

}  // namespace

double StrategySpec::number(const std::string& key) const { return std::strtod(params.at(key).c_str(), nullptr); }

const std::vector<StrategyInfo>& list_strategies() {
  static const std::vector<StrategyInfo> list = [] {
    std::vector<StrategyInfo> out;
    for (const auto& e : entries()) {
      StrategyInfo info = e.info;
      for (const auto& p : e.params) info.parameters += (info.parameters.empty() ? "" : ",") + p.key + "=" + p.default_value;
      out.push_back(info);
    }
    return out;
  }();
  return list;
}

StrategySpec parse_strategy(const std::string& raw, const std::string& where) {
  const std::string text = trim(raw);
  auto fail = [&](const std::string& why) { return InputError(fmt::format("{} {}: {}", where, text, why)); };
  const std::size_t colon = text.find(':');
  StrategySpec spec;
  spec.name = text.substr(0, colon);
  const Entry* entry = nullptr;
  for (const auto& e : entries())
    if (e.info.name == spec.name) entry = &e;
  if (!entry) throw fail(fmt::format("unknown strategy '{}' (known: {})", spec.name, names()));
  for (const auto& p : entry->params) spec.params[p.key] = p.default_value;
  if (colon != std::string::npos) {
    const std::string rest = text.substr(colon + 1);
    std::size_t begin = 0;
    const Param* last_param = nullptr;  // the key=value before, for the expert-list hint
    while (begin <= rest.size()) {
      std::size_t end = std::min(rest.find(',', begin), rest.size());
      const std::string item = trim(rest.substr(begin, end - begin));
      const std::size_t eq = item.find('=');
      if (eq == std::string::npos) {
        // "allow=0-1,3-7": the ',' ended the list early. Say how a list continues.
        if (last_param && last_param->kind == Kind::kExpertList)
          throw fail(fmt::format("'{}' is not key=value: parameters are separated by ',', and an expert list joins ids "
                                 "and ranges with '+' ({}={}+{})",
                                 item, last_param->key, spec.params[last_param->key], item));
        throw fail(fmt::format("'{}' is not key=value", item));
      }
      const std::string key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
      const Param* param = nullptr;
      for (const auto& p : entry->params)
        if (p.key == key) param = &p;
      if (!param) {
        std::string known;
        for (const auto& p : entry->params) known.append(known.empty() ? "" : ", ").append(p.key);
        throw fail(fmt::format("{} has no parameter '{}' ({})", spec.name, key,
                               known.empty() ? "it takes none" : "it takes " + known));
      }
      if (!valid_value(*param, value)) throw fail(fmt::format("{} must be {}, not '{}'", key, param->meaning, value));
      spec.params[key] = value;
      last_param = param;
      begin = end + 1;
    }
  }
  // Canonical order: the table's. (Appended piece by piece: `a + b + c` on strings trips GCC 12's
  // false -Wrestrict at -O2.)
  spec.text = spec.name;
  const char* sep = ":";
  for (const auto& p : entry->params) {
    spec.text.append(sep).append(p.key).append("=").append(spec.params[p.key]);
    sep = ",";
  }
  return spec;
}

std::vector<StrategySpec> read_strategy_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError(located(file, "cannot read the strategy file"));
  std::vector<StrategySpec> out;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::string body = line.substr(0, line.find('#'));
    if (trim(body).empty()) continue;
    const int column = static_cast<int>(body.find_first_not_of(" \t")) + 1;
    try {
      out.push_back(parse_strategy(body, "strategy"));
    } catch (const InputError& e) {
      throw InputError(located(file, number, column, e.what()));
    }
  }
  if (out.empty()) throw InputError(located(file, "no strategy in the file"));
  return out;
}

}  // namespace moesim::model
