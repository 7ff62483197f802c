// `moesim`, the executable a user runs: a front that loads no library of its own. It prints
// --help and --version from a table compiled in at build time (front_table_writer.hpp) and hands
// every other command line, unchanged, to the back end beside it with execv (same argv, same
// output, same exit code): moesim-model for the commands that need LibTorch, moesim-core for the
// rest. Why: linking SimGrid (which drags ns-3), HDF5 (curl, krb5, ...) or LibTorch costs 0.1-1 s of
// CPU and 40-200 MB before main, which `moesim --help`, `trace stats --help` or a sweep of a
// thousand small scenarios would all pay (issue 21: <= 50 ms CPU, <= 30 MB).
//
// The environment passes unchanged too, but for one tunable: malloc's huge pages for the back end
// (moesim/common/malloc_huge_pages.hpp says why), unless the user set that tunable.
//
// Only a command line that is exactly `moesim [COMMAND...] --help|-h` or `moesim --version` is
// answered here; anything else (help mixed with other arguments included) goes to the back end,
// whose CLI11 parse is the one definition of what a command line means.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "front_table.hpp"
#include "moesim/common/malloc_huge_pages.hpp"

namespace {

constexpr int kExitFailure = 1;  // moesim/common/error.hpp's, without linking common/

bool is_help_flag(std::string_view arg) { return arg == "--help" || arg == "-h"; }

// The table's text for this command line, or nullptr when a back end must answer it.
const char* printed_here(int argc, char** argv) {
  using moesim::front::kHelpTexts;
  if (argc == 2 && std::string_view(argv[1]) == "--version") return moesim::front::kVersionText;
  if (argc < 2 || !is_help_flag(argv[argc - 1])) return nullptr;
  std::string path;
  for (int i = 1; i < argc - 1; ++i) {
    std::string_view word = argv[i];
    if (word.empty() || word.find(' ') != std::string_view::npos) return nullptr;
    if (i > 1) path += ' ';
    path += word;
  }
  for (std::size_t i = 0; i < moesim::front::kHelpTextCount; ++i)
    if (path == kHelpTexts[i].path) return kHelpTexts[i].text;
  return nullptr;
}

const char* back_end_for(int argc, char** argv) {
  if (argc >= 2)
    for (std::size_t i = 0; i < moesim::front::kModelCommandCount; ++i)
      if (std::string_view(argv[1]) == moesim::front::kModelCommands[i]) return "moesim-model";
  return "moesim-core";
}

// `name` in the folder of `path` (an executable's path).
std::string beside(const std::string& path, const char* name) { return path.substr(0, path.rfind('/') + 1) + name; }

// Replaces this process with the back end beside this executable; returns only if that fails. The
// back end is looked up beside the file this process runs (/proc/self/exe: symbolic links resolved),
// then beside argv[0] when that names a path: a user who may not search a folder above the
// executable (a private 0700 folder, entered with `cd` before dropping privileges) can still run
// `cli/moesim` by a relative path, and the back end by the same one.
int exec_back_end(const char* name, char** argv) {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string path;
  if (n > 0) {
    path = beside(std::string(self, static_cast<std::size_t>(n)), name);
    ::execv(path.c_str(), argv);
  }
  int error = n > 0 ? errno : ENOENT;
  if (std::strchr(argv[0], '/') != nullptr) {
    const std::string relative = beside(argv[0], name);
    ::execv(relative.c_str(), argv);
    if (path.empty()) path = relative, error = errno;
  }
  std::fprintf(stderr, "moesim: failed: cannot start %s (%s, beside moesim): %s\n", name,
               path.empty() ? "/proc/self/exe unreadable" : path.c_str(), std::strerror(error));
  return kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* text = printed_here(argc, argv)) {
    std::fputs(text, stdout);
    return std::fflush(stdout) == 0 ? 0 : kExitFailure;
  }
  moesim::request_malloc_huge_pages();  // for the back end: its large arrays on 2 MiB pages
  return exec_back_end(back_end_for(argc, argv), argv);
}
