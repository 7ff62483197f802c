#include "moesim/traces/commands.hpp"

namespace moesim::traces {
void register_commands(cli::Commands& commands, CLI::App& app) {
  (void)commands;
  (void)app;
}
}  // namespace moesim::traces
