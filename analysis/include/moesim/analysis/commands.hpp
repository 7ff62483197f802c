#pragma once
#include "moesim/common/cli.hpp"

namespace moesim::analysis {
// moesim sweep | sweep collect | report
void register_commands(cli::Commands& commands, CLI::App& app);

// One per file (sweep_command.cpp, report_command.cpp); register_commands calls both.
void register_sweep_command(cli::Commands& commands, CLI::App& app);
void register_report_command(cli::Commands& commands, CLI::App& app);
}  // namespace moesim::analysis
