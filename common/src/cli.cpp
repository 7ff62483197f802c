#include "moesim/common/cli.hpp"

#include <fmt/format.h>

#include <iostream>

#include "moesim/common/error.hpp"

namespace moesim::cli {

CLI::App* Commands::add(CLI::App& parent, const std::string& name, const std::string& description,
                        const std::string& example, std::function<int()> run) {
  CLI::App* cmd = parent.add_subcommand(name, description);
  cmd->footer("Example:\n  " + example);
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

int Commands::dispatch(CLI::App& app, int argc, char** argv) const {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help (code 0) or the parse error
    return code == 0 ? kExitOk : kExitBadInput;
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
    fmt::print(stderr, "moesim: failed: {}\n", e.what());
    return kExitFailure;
  }
}

void add_json_flag(CLI::App* cmd, bool& json) {
  cmd->add_flag("--json", json, "Print the result as JSON on stdout (for scripts)");
}

void add_quiet_flag(CLI::App* cmd, bool& quiet) {
  cmd->add_flag("-q,--quiet", quiet, "Do not show progress");
}

void print_json(const nlohmann::json& result) { std::cout << result.dump(2) << '\n'; }

void require_file(const std::filesystem::path& path) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(st)) throw InputError(located(path, "no such file"));
  if (std::filesystem::is_directory(st)) throw InputError(located(path, "is a directory, expected a file"));
}

}  // namespace moesim::cli
