// The back ends of `moesim`: moesim-core (every command that needs no LibTorch) and, when LibTorch
// is there, moesim-model (every command). The `moesim` a user runs is the front (front.cpp), which
// answers --help itself and execs one of these for the real work. main only builds the command tree.
#include <set>
#include <string>
#include <string_view>

#include "commands.hpp"
#include "front_table_writer.hpp"

int main(int argc, char** argv) {
  // Build step, not a user command: the front's help table (see front_table_writer.hpp).
  if (argc == 3 && std::string_view(argv[1]) == moesim::cli_main::kWriteFrontTableFlag)
    return moesim::cli_main::write_front_table(argv[2]);
  auto app = moesim::cli_main::make_app();
  moesim::cli::Commands commands;
  std::set<std::string> model_commands;
  moesim::cli_main::register_all(commands, *app, model_commands);
  return commands.dispatch(*app, argc, argv);
}
