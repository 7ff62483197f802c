#pragma once
#include "moesim/common/cli.hpp"

namespace moesim::traces {
// moesim trace synth | stats
void register_commands(cli::Commands& commands, CLI::App& app);
}
