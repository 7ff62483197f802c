#pragma once
#include "moesim/common/cli.hpp"

namespace moesim::topologies {
// moesim topo inspect | export
void register_commands(cli::Commands& commands, CLI::App& app);
}
