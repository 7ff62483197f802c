#include "commands.hpp"

#include <cstddef>

#include "moesim/analysis/commands.hpp"
#include "moesim/sim/commands.hpp"
#include "moesim/topologies/commands.hpp"
#include "moesim/traces/commands.hpp"
#ifdef MOESIM_WITH_TORCH
#include "assign_eval.hpp"
#include "moesim/model/commands.hpp"
#endif

namespace moesim::cli_main {

std::vector<const CLI::App*> named_subcommands(const CLI::App& app) {
  // CLI11 keeps option groups among the subcommands, with an empty name.
  return app.get_subcommands([](const CLI::App* a) { return !a->get_name().empty(); });
}

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : named_subcommands(app)) names.push_back(sub->get_name());
  return names;
}

std::unique_ptr<CLI::App> make_app() {
  auto app = std::make_unique<CLI::App>("moesim: all-to-all simulation for Mixture-of-Experts models", "moesim");
  app->formatter(cli::stable_help_formatter());
  app->set_version_flag("--version", MOESIM_VERSION);
  app->require_subcommand(1);
  app->footer("Example:\n  moesim trace synth --experts 8 --top-k 2 --tokens 4096 --out t.h5 && moesim trace stats t.h5");
  return app;
}

void register_all(cli::Commands& commands, CLI::App& app, [[maybe_unused]] std::set<std::string>& model_commands) {
  traces::register_commands(commands, app);
  topologies::register_commands(commands, app);
  sim::register_commands(commands, app);
  analysis::register_commands(commands, app);
#ifdef MOESIM_WITH_TORCH
  const std::size_t before = command_names(app).size();
  model::register_commands(commands, app);
  assign_eval::register_command(commands, app);
  const std::vector<std::string> all = command_names(app);
  model_commands.insert(all.begin() + static_cast<std::ptrdiff_t>(before), all.end());
#endif
}

}  // namespace moesim::cli_main
