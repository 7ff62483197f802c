// moesim-gpu: the training commands, `forward` and the capture loop's benchmark, for machines that
// have LibTorch CUDA but none of the simulator's dependencies (model/gpu/CMakeLists.txt). Same
// code as `moesim train | finetune | forward`; bench-capture runs `moesim capture`'s loop without HDF5.
#include <execinfo.h>
#include <unistd.h>

#include <csignal>

#include "moesim/common/cli.hpp"

namespace moesim::model {
void register_train_commands(cli::Commands& commands, CLI::App& app);  // model/src/train_command.cpp
void register_forward_command(cli::Commands& commands, CLI::App& app);  // model/src/forward_command.cpp
void register_bench_capture_command(cli::Commands& commands, CLI::App& app);  // bench_capture_command.cpp
}

namespace {
// A crash on a machine without gdb still says where it happened (link with -rdynamic for names).
void print_backtrace(int signal) {
  void* frames[64];
  const int n = backtrace(frames, 64);
  const char header[] = "moesim-gpu: fatal signal, backtrace:\n";
  (void)!write(STDERR_FILENO, header, sizeof header - 1);
  backtrace_symbols_fd(frames, n, STDERR_FILENO);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGSEGV, print_backtrace);
  std::signal(SIGABRT, print_backtrace);
  CLI::App app{"moesim-gpu: moesim train | finetune | forward | bench-capture built against the machine's LibTorch",
               "moesim-gpu"};
  app.require_subcommand(1);
  moesim::cli::Commands commands;
  moesim::model::register_train_commands(commands, app);
  moesim::model::register_forward_command(commands, app);
  moesim::model::register_bench_capture_command(commands, app);
  return commands.dispatch(app, argc, argv);
}
