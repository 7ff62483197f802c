#include "moesim/topologies/commands.hpp"

namespace moesim::topologies {
void register_commands(cli::Commands& commands, CLI::App& app) {
  (void)commands;
  (void)app;
}
}  // namespace moesim::topologies
