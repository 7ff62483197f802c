#include "moesim/analysis/commands.hpp"

namespace moesim::analysis {
void register_commands(cli::Commands& commands, CLI::App& app) {
  register_sweep_command(commands, app);
  register_report_command(commands, app);
}
}  // namespace moesim::analysis
