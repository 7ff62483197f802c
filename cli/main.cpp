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

int main(int argc, char** argv) {
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
#endif
  return commands.dispatch(app, argc, argv);
}
