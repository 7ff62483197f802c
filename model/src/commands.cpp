#include "moesim/model/commands.hpp"

namespace moesim::model {
void register_commands(cli::Commands& commands, CLI::App& app) {
  (void)commands;
  (void)app;
}
}  // namespace moesim::model
