#pragma once
#include "moesim/common/cli.hpp"

namespace moesim::sim {
// moesim replay, moesim calibrate
void register_commands(cli::Commands& commands, CLI::App& app);
// moesim calibrate (calibrate.cpp): measured NCCL all-to-alls -> a calibrated platform
void register_calibrate_command(cli::Commands& commands, CLI::App& app);
}
