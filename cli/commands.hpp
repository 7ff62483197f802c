#pragma once
// The command tree of a back-end executable (moesim-core, moesim-model): each folder registers its
// own commands. One function, so that running a command and writing the front's help table
// (front_table_writer.hpp) see the same tree.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "moesim/common/cli.hpp"

namespace moesim::cli_main {

// `app`'s subcommands, option groups left out, in registration order (the order --help lists them).
std::vector<const CLI::App*> named_subcommands(const CLI::App& app);
// Their names, in registration order (the order --help lists them).
std::vector<std::string> command_names(const CLI::App& app);
// The application: its name, description, version flag and example footer, as --help prints them.
std::unique_ptr<CLI::App> make_app();
// Registers every command this executable has; the top-level names that need LibTorch (model/
// and assign-eval, only in moesim-model) go into `model_commands`.
void register_all(cli::Commands& commands, CLI::App& app, std::set<std::string>& model_commands);

}  // namespace moesim::cli_main
