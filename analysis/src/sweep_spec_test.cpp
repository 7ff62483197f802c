// Sweep files: grid expansion, ranges, placeholders and the errors a user sees.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "moesim/analysis/sweep_spec.hpp"
#include "moesim/common/error.hpp"
#include "moesim/testing/scratch.hpp"

using namespace moesim::analysis;
namespace fs = std::filesystem;

namespace {
fs::path write_sweep(const std::string& name, const std::string& text) { return moesim::testing::scratch_file(name, text); }

std::string error_of(const std::string& text) {
  try {
    load_sweep_file(write_sweep("bad.yaml", text));
  } catch (const moesim::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<std::string> values_of(const std::vector<Scenario>& grid, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& s : grid)
    for (const auto& p : s.params)
      if (p.name == name) out.push_back(p.value.text);
  return out;
}
}  // namespace

TEST_CASE("a grid of two axes expands row-major, the last axis fastest, with base parameters in every row") {
  auto spec = load_sweep_file(write_sweep("grid.yaml", R"(
name: g
parameters: {experts: 8, load: uniform}
axes:
  load: [uniform, "zipf:s=1.2", "hot:0=0.5"]
  seed: [1, 2]
steps:
  synth: moesim trace synth --experts {experts} --load {load} --seed {seed} --out {dir}/t.h5
)"));
  CHECK(spec.name == "g");
  CHECK(spec.columns() == std::vector<std::string>{"experts", "load", "seed"});
  auto grid = expand_grid(spec);
  REQUIRE(grid.size() == 6);
  CHECK(values_of(grid, "load") ==
        std::vector<std::string>{"uniform", "uniform", "zipf:s=1.2", "zipf:s=1.2", "hot:0=0.5", "hot:0=0.5"});
  CHECK(values_of(grid, "seed") == std::vector<std::string>{"1", "2", "1", "2", "1", "2"});
  CHECK(values_of(grid, "experts") == std::vector<std::string>(6, "8"));
  CHECK(grid[3].steps[0].words == std::vector<std::string>{"moesim", "trace", "synth", "--experts", "8", "--load",
                                                           "zipf:s=1.2", "--seed", "2", "--out", "{dir}/t.h5"});
  // Ids are unique and do not depend on the expansion run: resume relies on both.
  std::set<std::string> ids;
  for (const auto& s : grid) ids.insert(s.id);
  CHECK(ids.size() == 6);
  CHECK(expand_grid(spec)[4].id == grid[4].id);
  CHECK(grid[0].params[0].value.numeric);
  CHECK_FALSE(grid[0].params[1].value.numeric);
}

TEST_CASE("ranges are inclusive: arithmetic with step, geometric with mul, integers stay integers") {
  auto spec = load_sweep_file(write_sweep("ranges.yaml", R"(
axes:
  a: {from: 1, to: 3}
  b: {from: 0.5, to: 1.5, step: 0.25}
  c: {from: 1, to: 8, mul: 2}
steps: {s: moesim trace stats x.h5}
)"));
  REQUIRE(spec.axes.size() == 3);
  auto texts = [](const std::vector<ParamValue>& v) {
    std::vector<std::string> out;
    for (const auto& x : v) out.push_back(x.text);
    return out;
  };
  CHECK(texts(spec.axes[0].second) == std::vector<std::string>{"1", "2", "3"});
  CHECK(texts(spec.axes[1].second) == std::vector<std::string>{"0.5", "0.75", "1", "1.25", "1.5"});
  CHECK(texts(spec.axes[2].second) == std::vector<std::string>{"1", "2", "4", "8"});
  CHECK(expand_grid(spec).size() == 3 * 5 * 4);
  CHECK(spec.name == "ranges");  // defaults to the file's stem
}

TEST_CASE("a dotted parameter overrides a key of the YAML file another parameter names") {
  auto spec = load_sweep_file(write_sweep("over.yaml", R"(
parameters: {platform: base.yaml}
axes: {platform.nic.bandwidth: [100Gbps, 400Gbps]}
steps:
  replay: moesim replay --platform {platform} --json
)"));
  REQUIRE(spec.overrides.size() == 1);
  CHECK(spec.overrides[0].file_param == "platform");
  CHECK(spec.overrides[0].key_path == std::vector<std::string>{"nic", "bandwidth"});
  auto grid = expand_grid(spec);
  REQUIRE(grid.size() == 2);
  // The command reads the scenario's derived copy, not the base file.
  CHECK(grid[1].steps[0].words[3] == "{dir}/platform.yaml");
  CHECK(grid[0].id != grid[1].id);
}

TEST_CASE("command lines split on blanks, quotes group words, placeholders substitute inside words") {
  CHECK(split_command_words("  moesim  trace 'a b' \"c'd\" e''f ") ==
        std::vector<std::string>{"moesim", "trace", "a b", "c'd", "ef"});
  CHECK_THROWS_AS(split_command_words("moesim 'open"), std::invalid_argument);
  std::vector<Param> p = {{"s", {"1.2", true}}, {"n", {"8", true}}};
  CHECK(substitute("zipf:s={s},n={n}", p) == "zipf:s=1.2,n=8");
  CHECK(substitute("{n}{n}", p) == "88");
  CHECK_THROWS_AS(substitute("{nope}", p), std::out_of_range);
}

TEST_CASE("scenario ids are FNV-1a 64") {
  // Reference values of the FNV-1a 64-bit hash (offset basis for "", and "a").
  CHECK(stable_hash_hex("") == "cbf29ce484222325");
  CHECK(stable_hash_hex("a") == "af63dc4c8601ec8c");
}

TEST_CASE("bad sweep files fail with file:line:col and what to fix") {
  CHECK(error_of("steps: {s: moesim trace stats x}\nbogus: 1\n").find("bad.yaml:2:1: unknown key 'bogus'") !=
        std::string::npos);
  CHECK(error_of("steps:\n  s: moesim trace stats {nope}\n").find("bad.yaml:2:6: step 's': unknown placeholder {nope}") !=
        std::string::npos);
  CHECK(error_of("steps: {s: ls -l}\n").find("starting with 'moesim'") != std::string::npos);
  CHECK(error_of("axes: {a: []}\nsteps: {s: moesim x}\n").find("bad.yaml:1:11: axis 'a' has no values") !=
        std::string::npos);
  CHECK(error_of("axes: {a: [1, 2, 1]}\nsteps: {s: moesim x}\n").find("axis 'a' lists '1' twice") != std::string::npos);
  CHECK(error_of("axes: {a: {from: 3, to: 1}}\nsteps: {s: moesim x}\n").find("the range is empty") != std::string::npos);
  CHECK(error_of("axes: {a: {from: 1, to: 9, mul: 1}}\nsteps: {s: moesim x}\n").find("mul must be > 1") !=
        std::string::npos);
  CHECK(error_of("axes: {p.k: [1]}\nsteps: {s: moesim x}\n").find("no parameter 'p' names a YAML file") !=
        std::string::npos);
  CHECK(error_of("steps: [a, b]\n").find("steps: expected a mapping") != std::string::npos);
  CHECK(error_of("steps: {s: 'moesim x}\n").find("bad.yaml:2:1: ") != std::string::npos);  // YAML syntax error
  CHECK(error_of("axes: {a: {from: 0, to: 1000000000}}\nsteps: {s: moesim x}\n").find("more than") != std::string::npos);
}

TEST_CASE("--set fixes an axis to one value, replaces a base parameter or adds one") {
  auto file = write_sweep("set.yaml", R"(
parameters: {trace: a.h5}
axes: {k: [1, 2, 4], s: [0.5, 1.0]}
steps:
  s: moesim trace stats {trace} --layers {k} --json
)");
  auto spec = load_sweep_file(file, {"k=2", "trace=/data/b.h5", "extra=x"});
  auto grid = expand_grid(spec);
  REQUIRE(grid.size() == 2);  // k fixed, s still swept
  CHECK(values_of(grid, "k") == std::vector<std::string>{"2", "2"});
  CHECK(values_of(grid, "trace") == std::vector<std::string>{"/data/b.h5", "/data/b.h5"});
  CHECK(values_of(grid, "extra") == std::vector<std::string>{"x", "x"});
  CHECK_THROWS_WITH_AS(load_sweep_file(file, {"novalue"}), "--set 'novalue': expected name=value", moesim::InputError);
}

TEST_CASE("a parameter naming an input file ties the scenario id to that file's size and mtime") {
  fs::path input = write_sweep("input.txt", "v1");
  auto file = write_sweep("stamp.yaml", "parameters: {trace: input.txt}\nsteps:\n  s: moesim trace stats {trace} --json\n");
  std::string before = expand_grid(load_sweep_file(file))[0].id;
  CHECK(expand_grid(load_sweep_file(file))[0].id == before);
  std::ofstream(input) << "version 2";  // regenerated input: results from the old one must not be reused
  CHECK(expand_grid(load_sweep_file(file))[0].id != before);
}

// Regression: a step (or any key) written twice silently kept only one of them.
TEST_CASE("a key written twice in a sweep file is an error at the second, naming the first line") {
  CHECK(error_of("axes:\n  s: [1, 2]\nsteps:\n  a: moesim trace stats x.h5\n  a: moesim trace stats y.h5\n")
            .ends_with("bad.yaml:5:3: duplicate key 'a' (first at line 4)"));
  CHECK(error_of("axes:\n  s: [1]\n  s: [2]\nsteps:\n  a: moesim trace stats x.h5\n")
            .ends_with("bad.yaml:3:3: duplicate key 's' (first at line 2)"));
}

TEST_CASE("aliases shared exponentially are walked once by the duplicate-key check") {
  std::string text = "parameters:\n  a0: &a0 [1, 1]\n";
  for (int i = 1; i < 40; ++i) text += fmt::format("  a{}: &a{} [*a{}, *a{}]\n", i, i, i - 1, i - 1);
  CHECK(error_of(text + "steps:\n  s: moesim trace stats x.h5\n").find("expected a single value") != std::string::npos);
}
