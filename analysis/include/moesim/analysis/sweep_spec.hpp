#pragma once
// A sweep file (YAML) names a base scenario and the axes to vary; every combination of axis values
// is one scenario, and a scenario is a short list of `moesim` command lines run one after another.
// Keeping scenarios as command lines decouples the sweep from what the commands do inside, and a
// plain batch script can run exactly the same lines.
//
//   name: zipf-imbalance
//   parameters:                 # the base scenario; every key becomes a results-table column
//     experts: 64
//     load: uniform
//     platform: ../platforms/fat_tree.yaml
//   axes:                       # the grid: lists, or ranges {from, to, step} / {from, to, mul}
//     load: [uniform, "zipf:s=1.2"]
//     seed: {from: 1, to: 3}
//     platform.node.nic.bandwidth: [100Gbps, 400Gbps]   # a key inside the YAML file `platform` names
//   steps:                      # name: command; {param} is a parameter value, {dir} the scenario folder
//     synth: moesim trace synth --experts {experts} --load {load} --seed {seed} --out {dir}/t.h5 --json
//     stats: moesim trace stats {dir}/t.h5 --json
//
// A parameter named `<file-param>.<key>.<key>` overrides a key of the YAML file that parameter
// <file-param> names: the scenario gets its own `{dir}/<file-param>.yaml` holding `extends:` the
// base file plus the override, and `{<file-param>}` expands to that derived file.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace moesim::analysis {

// One parameter value as written in the sweep file; `numeric` when it parses as a number, so that the
// results table stores it as one.
struct ParamValue {
  std::string text;
  bool numeric = false;
};

struct Param {
  std::string name;
  ParamValue value;
};

// One command of a scenario: argv[0] is "moesim"; words may hold {param} placeholders.
struct StepTemplate {
  std::string name;
  std::vector<std::string> words;
  int line = 0, column = 0;  // where it is in the sweep file, for error messages
};

// An override of a key inside a YAML file named by another parameter (see the header comment).
struct FileOverride {
  std::string file_param;             // e.g. "platform"
  std::vector<std::string> key_path;  // e.g. {"nic", "bandwidth"}
  std::string param;                  // the parameter holding the value, e.g. "platform.nic.bandwidth"
};

struct SweepSpec {
  std::filesystem::path file;  // the sweep file itself (absolute)
  std::string name;
  std::vector<Param> base;                                      // parameters: in file order
  std::vector<std::pair<std::string, std::vector<ParamValue>>> axes;  // in file order
  std::vector<StepTemplate> steps;
  std::vector<FileOverride> overrides;
  std::vector<std::string> columns() const;  // parameter names: base order, then axes not in base
};

// One point of the grid, with its commands fully expanded except for {dir}.
struct Scenario {
  std::size_t index = 0;       // position in the grid (row order of the results table)
  std::string id;              // stable hash of parameters + commands (+ size and mtime of input files
                               // that parameters name): names its folder, keys resume
  std::vector<Param> params;   // in SweepSpec::columns() order
  std::vector<FileOverride> overrides;
  std::vector<StepTemplate> steps;  // placeholders other than {dir} and file parameters substituted
};

// Reads and validates a sweep file; throws InputError "file:line:col: ..." on any problem.
// `sets` ("name=value", from --set) fix a parameter: an axis of that name becomes that one value,
// a base parameter is replaced, a new name is added.
SweepSpec load_sweep_file(const std::filesystem::path& file, const std::vector<std::string>& sets = {});

// The grid in row-major order of the axes (the last axis varies fastest).
std::vector<Scenario> expand_grid(const SweepSpec& spec);

// Splits a command line into words: whitespace separates, '…' and "…" quote (no escapes inside '…').
std::vector<std::string> split_command_words(const std::string& line);

// Replaces every {name} in `word` with its value; throws std::out_of_range naming an unknown one.
std::string substitute(const std::string& word, const std::vector<Param>& params);

// FNV-1a 64-bit as 16 hex digits: the scenario id.
std::string stable_hash_hex(const std::string& text);

}  // namespace moesim::analysis
