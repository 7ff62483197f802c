#include "model_front.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <string_view>

#include "moesim/common/error.hpp"

namespace moesim::front {

namespace {
constexpr const char* kModelBinary = "moesim-model";
}

bool is_model_command(int argc, char** argv) {
  if (argc < 2) return false;
  for (const ModelCommand& c : kModelCommands)
    if (std::string_view(argv[1]) == c.name) return true;
  return false;
}

int exec_model_binary(char** argv) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::filesystem::path model = self.parent_path() / kModelBinary;
  if (!ec) ::execv(model.c_str(), argv);
  fmt::print(stderr, "moesim: failed: cannot start {} for '{}': {}\n", model.string(), argv[1],
             ec ? ec.message() : std::strerror(errno));
  return kExitFailure;
}

void register_model_stubs(cli::Commands& commands, CLI::App& app) {
  for (const ModelCommand& c : kModelCommands)
    commands.add(app, c.name, c.description, fmt::format("moesim {} --help", c.name), [] { return kExitFailure; });
}

}  // namespace moesim::front
