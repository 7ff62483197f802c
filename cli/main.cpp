// moesim: from a Mixture-of-Experts model's routing to per-GPU all-to-all latency.
// main only builds the command tree; each folder registers its own commands.
#include "moesim/analysis/commands.hpp"
#include "moesim/common/cli.hpp"
#include "moesim/sim/commands.hpp"
#include "moesim/topologies/commands.hpp"
#include "moesim/traces/commands.hpp"
#ifdef MOESIM_WITH_TORCH
#include "moesim/model/commands.hpp"
#include "assign_eval.hpp"
#endif
#ifdef MOESIM_MODEL_FRONT
#include "model_front.hpp"
#endif

// Built twice when LibTorch is there: `moesim` (MOESIM_MODEL_FRONT: no LibTorch, hands the model
// commands to the other) and `moesim-model` (MOESIM_WITH_TORCH: every command). See model_front.hpp.
int main(int argc, char** argv) {
#ifdef MOESIM_MODEL_FRONT
  if (moesim::front::is_model_command(argc, argv)) return moesim::front::exec_model_binary(argv);
#endif
  CLI::App app{"moesim: all-to-all simulation for Mixture-of-Experts models", "moesim"};
  app.set_version_flag("--version", MOESIM_VERSION);
  app.require_subcommand(1);
  app.footer("Example:\n  moesim trace synth --experts 8 --top-k 2 --tokens 4096 --out t.h5 && moesim trace stats t.h5");

  moesim::cli::Commands commands;
  moesim::traces::register_commands(commands, app);
  moesim::topologies::register_commands(commands, app);
  moesim::sim::register_commands(commands, app);
  moesim::analysis::register_commands(commands, app);
#ifdef MOESIM_WITH_TORCH
  moesim::model::register_commands(commands, app);
  moesim::assign_eval::register_command(commands, app);
#elif defined(MOESIM_MODEL_FRONT)
  moesim::front::register_model_stubs(commands, app);
#endif
  return commands.dispatch(app, argc, argv);
}
