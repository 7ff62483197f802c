#include "moesim/common/cli.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <set>
#include <vector>

#include "moesim/common/bytes.hpp"
#include "moesim/common/error.hpp"

namespace moesim::cli {

CLI::App* Commands::add(CLI::App& parent, const std::string& name, const std::string& description,
                        const std::string& example, std::function<int()> run) {
  CLI::App* cmd = parent.add_subcommand(name, description);
  cmd->footer("Example:\n  " + example + "\n");
  runs_[cmd] = std::move(run);
  return cmd;
}

CLI::App* Commands::add_group(CLI::App& parent, const std::string& name, const std::string& description) {
  CLI::App* group = parent.add_subcommand(name, description);
  group->require_subcommand(1);
  return group;
}

// The leaf command the user chose: follow parsed subcommands down from the root.
static const CLI::App* chosen_leaf(const CLI::App& app) {
  const CLI::App* node = &app;
  for (;;) {
    auto subs = node->get_subcommands();
    if (subs.empty()) return node;
    node = subs.front();
  }
}

static bool is_command(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (sub->check_name(name)) return true;
  return false;
}

static std::string& invocation_storage() {
  static std::string line;
  return line;
}

const std::string& invocation() { return invocation_storage(); }

int Commands::dispatch(CLI::App& app, int argc, char** argv) const {
  std::string& line = invocation_storage();
  line.clear();
  for (int i = 0; i < argc; ++i) line += (i ? " " : "") + std::string(argv[i]);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // A mistyped command name is the most common slip: say so rather than "subcommand required".
    if (e.get_exit_code() != 0 && argc > 1 && argv[1][0] != '-' && !is_command(app, argv[1])) {
      fmt::print(stderr, "moesim: error: unknown command '{}' (see moesim --help)\n", argv[1]);
      return kExitBadInput;
    }
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version: printed, exit 0
    // One line, like every other bad input (CLI11 adds a second "Run with --help" line, which is
    // what a sweep recorded as a failed step's error instead of the reason).
    fmt::print(stderr, "moesim: error: {} (see --help)\n", escape_control_bytes(e.what()));
    return kExitBadInput;
  }
  auto it = runs_.find(chosen_leaf(app));
  if (it == runs_.end()) {
    std::cerr << app.help();
    return kExitBadInput;
  }
  try {
    return it->second();
  } catch (const InputError& e) {
    fmt::print(stderr, "moesim: error: {}\n", e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "moesim: failed: {}\n", failure_message(e.what()));
    return kExitFailure;
  }
}

namespace {

class StableHelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* opt) const override {
    std::string text = CLI::Formatter::make_option_opts(opt);
    if (!opt->get_option_text().empty() || (opt->get_needs().empty() && opt->get_excludes().empty())) return text;
    // CLI11 appends " Needs: a b" then " Excludes: c d" last: cut them off and write them sorted.
    const std::string needs = " " + get_label("Needs") + ":", excludes = " " + get_label("Excludes") + ":";
    text.erase(text.rfind(opt->get_needs().empty() ? excludes : needs));
    auto sorted_names = [](const std::set<CLI::Option*>& options) {
      std::vector<std::string> names;
      for (const CLI::Option* o : options) names.push_back(o->get_name());
      std::sort(names.begin(), names.end());
      std::string out;
      for (const std::string& n : names) out += " " + n;
      return out;
    };
    if (!opt->get_needs().empty()) text += needs + sorted_names(opt->get_needs());
    if (!opt->get_excludes().empty()) text += excludes + sorted_names(opt->get_excludes());
    return text;
  }
};

}  // namespace

std::shared_ptr<CLI::Formatter> stable_help_formatter() { return std::make_shared<StableHelpFormatter>(); }

void add_json_flag(CLI::App* cmd, bool& json) {
  cmd->add_flag("--json", json, "Print the result as JSON on stdout (for scripts)");
}

void add_quiet_flag(CLI::App* cmd, bool& quiet) {
  cmd->add_flag("-q,--quiet", quiet, "Do not show progress");
}

void print_json(const nlohmann::json& result) { std::cout << result.dump(2) << '\n'; }

CLI::Validator byte_count(NumberLowerBound lower) {
  return CLI::Validator([lower](std::string& text) { return number_error<double>(text, lower, kMaxExactBytes); },
                        lower == NumberLowerBound::positive ? "BYTES > 0" : "BYTES >= 0", "BYTE_COUNT");
}

void require_file(const std::filesystem::path& path) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(st)) throw InputError(located(path, "no such file"));
  if (std::filesystem::is_directory(st)) throw InputError(located(path, "is a directory, expected a file"));
}

}  // namespace moesim::cli
