#include "moesim/sim/commands.hpp"

namespace moesim::sim {
void register_commands(cli::Commands& commands, CLI::App& app) {
  (void)commands;
  (void)app;
}
}  // namespace moesim::sim
