#include "moesim/model/commands.hpp"

#include "moesim/model/tokenize_command.hpp"

namespace moesim::model {
void register_commands(cli::Commands& commands, CLI::App& app) {
  register_tokenize_commands(commands, app);
}
}  // namespace moesim::model
