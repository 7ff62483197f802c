#pragma once
// Scratch files for tests. ctest runs every test case as its own process, several at once, so each
// process writes under a directory of its own (named with its pid), removed when the process exits.
// (A forked child leaves with _exit and so never removes its parent's directory.)
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace moesim::testing {

inline const std::filesystem::path& scratch_dir() {
  static const struct Root {
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("moesim_test_" + std::to_string(::getpid()));
    Root() { std::filesystem::create_directories(path); }
    ~Root() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } root;
  return root.path;
}

// A path in this process's scratch directory; nothing is created there.
inline std::filesystem::path scratch_path(const std::string& name) { return scratch_dir() / name; }

// A file of that name holding exactly `content`, replacing any earlier one.
inline std::filesystem::path scratch_file(const std::string& name, const std::string& content) {
  std::filesystem::path path = scratch_path(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path;
}

// A fresh, empty directory of that name.
inline std::filesystem::path scratch_subdir(const std::string& name) {
  std::filesystem::path path = scratch_path(name);
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path;
}

}  // namespace moesim::testing
