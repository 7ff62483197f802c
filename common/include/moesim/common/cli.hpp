#pragma once
// How every `moesim` subcommand is declared: a name, a one-line description, an example shown by
// --help, and a function run after the whole command line parsed. Exit codes: 0 ok, 1 failure,
// 2 bad input (unknown flag, bad value, unreadable or malformed file).
#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace moesim::cli {

class Commands {
 public:
  // `run` returns an exit code; it may throw moesim::InputError (exit 2) or anything else (exit 1).
  CLI::App* add(CLI::App& parent, const std::string& name, const std::string& description,
                const std::string& example, std::function<int()> run);
  // A group such as `trace` that only holds subcommands.
  CLI::App* add_group(CLI::App& parent, const std::string& name, const std::string& description);

  // Parses argv, runs the chosen command, maps errors to exit codes and one-line messages.
  int dispatch(CLI::App& app, int argc, char** argv) const;

 private:
  std::map<const CLI::App*, std::function<int()>> runs_;
};

// --json: print the machine-readable result on stdout instead of the human table.
void add_json_flag(CLI::App* cmd, bool& json);
// --quiet: no progress display.
void add_quiet_flag(CLI::App* cmd, bool& quiet);
void print_json(const nlohmann::json& result);

// The command line of this process as typed (set by Commands::dispatch); recorded in output
// files so that a result says how it was made.
const std::string& invocation();

// Throws InputError "PATH: no such file" (or "is a directory") before any work starts.
void require_file(const std::filesystem::path& path);

}  // namespace moesim::cli
