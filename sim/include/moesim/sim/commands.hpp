#pragma once
#include "moesim/common/cli.hpp"

namespace moesim::sim {
// moesim replay
void register_commands(cli::Commands& commands, CLI::App& app);
}
