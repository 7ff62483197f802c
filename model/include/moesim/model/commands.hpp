#pragma once
#include "moesim/common/cli.hpp"

namespace moesim::model {
// moesim forward | capture | tokenize | eval-ppl | train | finetune
void register_commands(cli::Commands& commands, CLI::App& app);
}
