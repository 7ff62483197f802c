// Sweep files: YAML → validated SweepSpec → the grid of scenarios (see sweep_spec.hpp).
#include "moesim/analysis/sweep_spec.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "moesim/common/error.hpp"

namespace moesim::analysis {
namespace fs = std::filesystem;
namespace {

// Sweep files with more scenarios than this are almost certainly a typo in a range.
constexpr std::size_t kMaxScenarios = 1'000'000;

struct Loader {
  fs::path file;

  [[noreturn]] void fail(const YAML::Node& at, const std::string& message) const {
    const YAML::Mark mark = at.Mark();
    throw InputError(located(file, mark.line + 1, mark.column + 1, message));
  }

  // yaml-cpp keeps both entries of a key written twice and lookups see the first: a second
  // `synth:` step (or axis) silently lost. Checked in every mapping, at the second occurrence.
  // Aliases can make the node graph cyclic or exponentially shared (`a: &a [*a, *a]`): each
  // container is walked once, identified by where it starts in the file.
  void check_unique_keys(const YAML::Node& node, std::set<int>& walked) const {
    if (!node.IsMap() && !node.IsSequence()) return;
    if (!walked.insert(node.Mark().pos).second) return;
    if (node.IsSequence()) {
      for (const auto& item : node) check_unique_keys(item, walked);
      return;
    }
    std::map<std::string, int> first_line;
    for (const auto& kv : node) {
      if (kv.first.IsScalar())
        if (auto [it, added] = first_line.emplace(kv.first.Scalar(), kv.first.Mark().line + 1); !added)
          fail(kv.first, fmt::format("duplicate key '{}' (first at line {})", kv.first.Scalar(), it->second));
      check_unique_keys(kv.second, walked);
    }
  }

  bool is_number(const std::string& text) const {
    double v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
  }

  ParamValue scalar(const YAML::Node& node, const std::string& what) const {
    if (!node.IsScalar()) fail(node, fmt::format("{}: expected a single value (number or text)", what));
    const std::string& text = node.Scalar();
    return {text, is_number(text)};
  }

  double number(const YAML::Node& node, const std::string& what) const {
    ParamValue v = scalar(node, what);
    if (!v.numeric) fail(node, fmt::format("{}: '{}' is not a number", what, v.text));
    return std::stod(v.text);
  }

  // {from, to, step} (arithmetic, inclusive) or {from, to, mul} (geometric, inclusive).
  std::vector<ParamValue> range(const YAML::Node& node, const std::string& axis) const {
    for (const auto& kv : node) {
      auto key = kv.first.as<std::string>();
      if (key != "from" && key != "to" && key != "step" && key != "mul")
        fail(kv.first, fmt::format("axis '{}': unknown range key '{}' (expected from, to, step or mul)", axis, key));
    }
    if (!node["from"] || !node["to"]) fail(node, fmt::format("axis '{}': a range needs 'from' and 'to'", axis));
    if (node["step"] && node["mul"]) fail(node, fmt::format("axis '{}': give 'step' or 'mul', not both", axis));
    double from = number(node["from"], "from"), to = number(node["to"], "to");
    bool geometric = bool(node["mul"]);
    double by = geometric ? number(node["mul"], "mul") : node["step"] ? number(node["step"], "step") : 1.0;
    bool integral = from == std::floor(from) && by == std::floor(by);
    if (geometric ? (by <= 1.0 || from <= 0.0) : by <= 0.0)
      fail(node, fmt::format("axis '{}': {} must be {}", axis, geometric ? "mul" : "step",
                             geometric ? "> 1 with from > 0" : "> 0"));
    std::vector<ParamValue> values;
    const double tolerance = 1e-9 * std::max(1.0, std::abs(to));
    for (double x = from; x <= to + tolerance; x = geometric ? x * by : x + by) {
      if (values.size() >= kMaxScenarios) fail(node, fmt::format("axis '{}': more than {} values", axis, kMaxScenarios));
      values.push_back({integral ? fmt::format("{:.0f}", x) : fmt::format("{:.10g}", x), true});
    }
    if (values.empty()) fail(node, fmt::format("axis '{}': the range is empty (from > to)", axis));
    return values;
  }

  std::vector<ParamValue> axis_values(const YAML::Node& node, const std::string& axis) const {
    if (node.IsSequence()) {
      if (node.size() == 0) fail(node, fmt::format("axis '{}' has no values", axis));
      std::vector<ParamValue> values;
      for (const auto& v : node) values.push_back(scalar(v, fmt::format("axis '{}'", axis)));
      return values;
    }
    if (node.IsMap()) return range(node, axis);
    return {scalar(node, fmt::format("axis '{}'", axis))};
  }

  void check_name(const YAML::Node& key_node, const std::string& name) const {
    bool ok = !name.empty() && name != "dir";
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
    if (!ok)
      fail(key_node, fmt::format("parameter name '{}' must be letters, digits, '_', '-' or '.' (and not 'dir')", name));
  }
};

std::set<std::string> placeholders(const std::string& word) {
  std::set<std::string> names;
  for (std::size_t open = word.find('{'); open != std::string::npos; open = word.find('{', open + 1)) {
    auto close = word.find('}', open);
    if (close == std::string::npos) break;
    names.insert(word.substr(open + 1, close - open - 1));
  }
  return names;
}

// A parameter naming an input file (a trace, a base platform) adds the file's size and modification
// time to the scenario id: results made from an older version of the file are not reused.
std::string file_stamp(const SweepSpec& spec, const std::string& value) {
  if (value.empty() || value.find('{') != std::string::npos) return "";
  std::error_code ec;
  fs::path path = fs::path(value).is_absolute() ? fs::path(value) : spec.file.parent_path() / value;
  if (!fs::is_regular_file(path, ec)) return "";
  auto size = fs::file_size(path, ec);
  auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  return ec ? "" : fmt::format("  file {} bytes {} mtime {}\n", path.string(), size, mtime);
}

}  // namespace

std::vector<std::string> SweepSpec::columns() const {
  std::vector<std::string> names;
  for (const auto& p : base) names.push_back(p.name);
  for (const auto& [name, values] : axes)
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  return names;
}

std::vector<std::string> split_command_words(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char c : line) {
    if (quote) {
      if (c == quote) quote = 0;
      else word += c;
    } else if (c == '\'' || c == '"') {
      quote = c, in_word = true;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(word), word.clear(), in_word = false;
    } else {
      word += c, in_word = true;
    }
  }
  if (quote) throw std::invalid_argument(fmt::format("unterminated {} quote", quote));
  if (in_word) words.push_back(word);
  return words;
}

std::string substitute(const std::string& word, const std::vector<Param>& params) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    auto open = word.find('{', pos);
    auto close = open == std::string::npos ? open : word.find('}', open);
    if (close == std::string::npos) break;
    out += word.substr(pos, open - pos);
    std::string name = word.substr(open + 1, close - open - 1);
    auto it = std::find_if(params.begin(), params.end(), [&](const Param& p) { return p.name == name; });
    if (it == params.end()) throw std::out_of_range(name);
    out += it->value.text;
    pos = close + 1;
  }
  return out + word.substr(pos);
}

std::string stable_hash_hex(const std::string& text) {
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a offset basis
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return fmt::format("{:016x}", h);
}

static SweepSpec load_sweep_file_unguarded(const fs::path& file, const std::vector<std::string>& sets);

SweepSpec load_sweep_file(const fs::path& file, const std::vector<std::string>& sets) {
  try {
    return load_sweep_file_unguarded(file, sets);
  } catch (const YAML::Exception& e) {
    // A yaml-cpp surprise (a list as a key: `? [a] : 1` made `as<std::string>()` throw, found by
    // fuzzing, tests/fuzz/regressions/sweep_file/) is still bad input, not exit 1.
    throw InputError(located(file, e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1,
                             "unexpected YAML structure: " + e.msg));
  }
}

static SweepSpec load_sweep_file_unguarded(const fs::path& file, const std::vector<std::string>& sets) {
  Loader L{file};
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw InputError(located(file, "no such file"));
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    throw InputError(located(file, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (!root.IsMap()) throw InputError(located(file, "expected a mapping with parameters, axes and steps"));
  std::set<int> walked;
  L.check_unique_keys(root, walked);

  SweepSpec spec;
  spec.file = fs::absolute(file);
  static const std::set<std::string> kKeys = {"name", "description", "parameters", "axes", "steps"};
  for (const auto& kv : root) {
    auto key = kv.first.as<std::string>();
    if (!kKeys.count(key))
      L.fail(kv.first, fmt::format("unknown key '{}' (expected name, description, parameters, axes, steps)", key));
  }
  spec.name = root["name"] ? L.scalar(root["name"], "name").text : file.stem().string();

  std::set<std::string> names = {"dir"};
  if (auto params = root["parameters"]) {
    if (!params.IsMap()) L.fail(params, "parameters: expected a mapping of name: value");
    for (const auto& kv : params) {
      auto name = kv.first.as<std::string>();
      L.check_name(kv.first, name);
      spec.base.push_back({name, L.scalar(kv.second, fmt::format("parameter '{}'", name))});
      names.insert(name);
    }
  }
  if (auto axes = root["axes"]) {
    if (!axes.IsMap()) L.fail(axes, "axes: expected a mapping of name: [values] or name: {from, to, step}");
    for (const auto& kv : axes) {
      auto name = kv.first.as<std::string>();
      L.check_name(kv.first, name);
      auto values = L.axis_values(kv.second, name);
      std::set<std::string> seen;
      for (const auto& v : values)
        if (!seen.insert(v.text).second) L.fail(kv.second, fmt::format("axis '{}' lists '{}' twice", name, v.text));
      spec.axes.emplace_back(name, std::move(values));
      names.insert(name);
    }
  }

  for (const auto& set : sets) {
    auto eq = set.find('=');
    if (eq == std::string::npos || eq == 0) throw InputError(fmt::format("--set '{}': expected name=value", set));
    std::string name = set.substr(0, eq);
    ParamValue value{set.substr(eq + 1), L.is_number(set.substr(eq + 1))};
    auto axis = std::find_if(spec.axes.begin(), spec.axes.end(), [&](const auto& a) { return a.first == name; });
    if (axis != spec.axes.end()) axis->second = {value};
    auto param = std::find_if(spec.base.begin(), spec.base.end(), [&](const Param& p) { return p.name == name; });
    if (param != spec.base.end()) param->value = value;
    else if (axis == spec.axes.end()) spec.base.push_back({name, value});
    names.insert(name);
  }

  // Dotted names override keys in the YAML file another parameter names.
  for (const auto& name : spec.columns()) {
    auto dot = name.find('.');
    if (dot == std::string::npos) continue;
    FileOverride o{name.substr(0, dot), {}, name};
    if (!names.count(o.file_param) || o.file_param == "dir")
      L.fail(root, fmt::format("parameter '{}' overrides a key of '{}', but no parameter '{}' names a YAML file",
                               name, o.file_param, o.file_param));
    for (auto rest = name.substr(dot + 1); !rest.empty();) {
      auto next = rest.find('.');
      o.key_path.push_back(rest.substr(0, next));
      rest = next == std::string::npos ? "" : rest.substr(next + 1);
    }
    if (std::find(o.key_path.begin(), o.key_path.end(), "") != o.key_path.end())
      L.fail(root, fmt::format("parameter '{}': empty key in the dotted path", name));
    spec.overrides.push_back(o);
  }

  auto steps = root["steps"];
  if (!steps || !steps.IsMap() || steps.size() == 0)
    L.fail(steps ? steps : root, "steps: expected a mapping of step-name: moesim command line");
  for (const auto& kv : steps) {
    StepTemplate step;
    step.name = kv.first.as<std::string>();
    step.line = kv.second.Mark().line + 1;
    step.column = kv.second.Mark().column + 1;
    std::string line = L.scalar(kv.second, fmt::format("step '{}'", step.name)).text;
    try {
      step.words = split_command_words(line);
    } catch (const std::invalid_argument& e) {
      L.fail(kv.second, fmt::format("step '{}': {}", step.name, e.what()));
    }
    if (step.words.empty() || step.words[0] != "moesim")
      L.fail(kv.second, fmt::format("step '{}': a step is a moesim command line, starting with 'moesim'", step.name));
    for (const auto& word : step.words)
      for (const auto& ph : placeholders(word))
        if (!names.count(ph))
          L.fail(kv.second, fmt::format("step '{}': unknown placeholder {{{}}} (parameters and axes define "
                                        "placeholders; {{dir}} is the scenario folder)",
                                        step.name, ph));
    spec.steps.push_back(std::move(step));
  }

  std::size_t total = 1;
  for (const auto& [name, values] : spec.axes) {
    total *= values.size();
    if (total > kMaxScenarios)
      throw InputError(located(file, fmt::format("the grid has more than {} scenarios", kMaxScenarios)));
  }
  return spec;
}

std::vector<Scenario> expand_grid(const SweepSpec& spec) {
  std::size_t total = 1;
  for (const auto& axis : spec.axes) total *= axis.second.size();
  const auto columns = spec.columns();
  std::vector<Scenario> grid;
  grid.reserve(total);
  for (std::size_t index = 0; index < total; ++index) {
    Scenario s;
    s.index = index;
    s.overrides = spec.overrides;
    for (const auto& name : columns) s.params.push_back({name, {}});
    auto set = [&](const std::string& name, const ParamValue& v) {
      for (auto& p : s.params)
        if (p.name == name) p.value = v;
    };
    for (const auto& p : spec.base) set(p.name, p.value);
    // Row-major: the last axis varies fastest.
    std::size_t rest = index;
    for (auto axis = spec.axes.rbegin(); axis != spec.axes.rend(); ++axis) {
      set(axis->first, axis->second[rest % axis->second.size()]);
      rest /= axis->second.size();
    }

    // Placeholders of a file parameter with overrides expand to the scenario's derived copy.
    std::vector<Param> values = s.params;
    for (const auto& o : spec.overrides)
      for (auto& p : values)
        if (p.name == o.file_param) p.value.text = "{dir}/" + o.file_param + ".yaml";
    values.push_back({"dir", {"{dir}", false}});

    std::string identity;
    for (const auto& p : s.params) identity += p.name + "=" + p.value.text + "\n" + file_stamp(spec, p.value.text);
    for (const auto& step : spec.steps) {
      StepTemplate expanded = step;
      for (auto& word : expanded.words) word = substitute(word, values);
      identity += step.name + ":";
      for (const auto& word : expanded.words) identity += " " + word;
      identity += "\n";
      s.steps.push_back(std::move(expanded));
    }
    s.id = stable_hash_hex(identity);
    grid.push_back(std::move(s));
  }
  return grid;
}

}  // namespace moesim::analysis
