// moesim forward | capture | tokenize | train | finetune | eval-ppl — each command in its own file; this one only registers them.
#include "moesim/model/commands.hpp"

#include "moesim/model/tokenize_command.hpp"

namespace moesim::model {

void register_forward_command(cli::Commands& commands, CLI::App& app);  // forward_command.cpp
void register_capture_command(cli::Commands& commands, CLI::App& app);  // capture_command.cpp
void register_train_commands(cli::Commands& commands, CLI::App& app);    // train_command.cpp
void register_eval_ppl_command(cli::Commands& commands, CLI::App& app);  // eval_ppl_command.cpp

void register_commands(cli::Commands& commands, CLI::App& app) {
  register_forward_command(commands, app);
  register_capture_command(commands, app);
  register_tokenize_commands(commands, app);
  register_train_commands(commands, app);
  register_eval_ppl_command(commands, app);
}

}  // namespace moesim::model
