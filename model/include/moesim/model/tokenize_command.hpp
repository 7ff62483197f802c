#pragma once
// `moesim tokenize` and `moesim tokenizer-train` (no LibTorch needed).
#include "moesim/common/cli.hpp"

namespace moesim::model {
void register_tokenize_commands(cli::Commands& commands, CLI::App& app);
}
