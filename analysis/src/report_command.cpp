// moesim report RESULTS... --out report.html, and moesim compare A B
// The figures are matplotlib's (analysis/report.py and analysis/compare.py, run with Debian's
// /usr/bin/python3): these commands check the inputs, then hand them to the script and pass its exit
// code on.
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>

#include "moesim/analysis/commands.hpp"
#include "moesim/common/error.hpp"

extern char** environ;

namespace moesim::analysis {
namespace fs = std::filesystem;

namespace {

struct ReportArgs {
  std::vector<std::string> inputs;
  std::string out = "report.html", title = "moesim report";
  bool json = false;
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// analysis/ of the source tree the binary was built from; MOESIM_ANALYSIS_DIR overrides it.
fs::path analysis_dir() { return env_or("MOESIM_ANALYSIS_DIR", MOESIM_ANALYSIS_DIR_DEFAULT); }

struct CompareArgs {
  std::string a, b, figure;
  bool json = false;
};

void require_inputs(const std::vector<std::string>& inputs) {
  for (const auto& input : inputs) {
    std::error_code ec;
    if (!fs::exists(input, ec)) throw InputError(located(input, "no such file or folder"));
  }
}

// Runs analysis/<script> with `arguments` (after --moesim this binary) and returns its exit code
// (0 ok, 2 bad input, anything else a failure).
int run_script(const std::string& script_name, const std::vector<std::string>& arguments) {
  const fs::path script = analysis_dir() / script_name;
  if (!fs::exists(script))
    throw std::runtime_error(fmt::format("{}: not found (set MOESIM_ANALYSIS_DIR to the analysis/ folder)", script.string()));
  const std::string python = env_or("MOESIM_PYTHON", "/usr/bin/python3");
  std::vector<std::string> words = {python, script.string(), "--moesim", fs::read_symlink("/proc/self/exe").string()};
  words.insert(words.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int rc = ::posix_spawn(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ); rc != 0)
    throw std::runtime_error(fmt::format("cannot run {}: {} (Debian: apt-get install python3-matplotlib python3-h5py)",
                                         python, std::strerror(rc)));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status)) return kExitFailure;
  int code = WEXITSTATUS(status);
  return code == kExitOk || code == kExitBadInput ? code : kExitFailure;
}

int run_report(const ReportArgs& a) {
  require_inputs(a.inputs);
  std::vector<std::string> words = {"--out", a.out, "--title", a.title};
  if (a.json) words.push_back("--json");
  words.insert(words.end(), a.inputs.begin(), a.inputs.end());
  return run_script("report.py", words);
}

int run_compare(const CompareArgs& a) {
  require_inputs({a.a, a.b});
  std::vector<std::string> words = {a.a, a.b};
  if (!a.figure.empty()) words.insert(words.end(), {"--figure", a.figure});
  if (a.json) words.push_back("--json");
  return run_script("compare.py", words);
}

}  // namespace

void register_report_command(cli::Commands& commands, CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  CLI::App* report = commands.add(
      app, "report",
      "One self-contained HTML page (figures as embedded PNG, tables) from traces, stats/replay JSON and sweep folders",
      "moesim report zipf.h5 runs/imbalance replay.json --out report.html", [a]() { return run_report(*a); });
  report->add_option("inputs", a->inputs,
                     "Trace files (.h5), `trace stats --json` / `replay --json` outputs, sweep folders or results.csv")
      ->required();
  report->add_option("-o,--out", a->out, "The HTML file to write")->capture_default_str();
  report->add_option("--title", a->title, "Page title")->capture_default_str();
  cli::add_json_flag(report, a->json);

  auto c = std::make_shared<CompareArgs>();
  CLI::App* compare = commands.add(
      app, "compare",
      "Baseline vs modified: two traces (per-layer balance), two evaluations (perplexity) or two replays (P50/P99, "
      "per-layer time) in one table",
      "moesim compare base.h5 load_temperature.h5 --figure cmp.png", [c]() { return run_compare(*c); });
  compare->add_option("a", c->a, "Baseline: trace (.h5), `trace stats --json`, `eval-ppl --json` / `assign-eval` JSON, "
                                 "or a `replay --out` folder")->required();
  compare->add_option("b", c->b, "Modified: the same kind as A")->required();
  compare->add_option("--figure", c->figure, "Also write the comparison figure (PNG)");
  cli::add_json_flag(compare, c->json);
}

}  // namespace moesim::analysis
